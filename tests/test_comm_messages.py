"""The comm messages against their one definition, jupyter_tinyml/notebook/messages.schema.json.

A real kernel sends every kind of message it has (open, insert with and without the fallback copy, status,
error) to a client playing the lab extension, and the client sends it the extension's own messages (the
fixtures labextension/test/protocol.test.ts proves its builders make). Everything that passes is checked
against the schema the package ships; the TypeScript unit tests check their side against the same file.
"""
from __future__ import annotations

import copy
from typing import Any, Iterator

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from jupyter_tinyml.notebook.cells import GeneratedCell, Provenance
from jupyter_tinyml.notebook.writers import insert_message
from lab_frontend import (
    comm_messages,
    execute,
    frontend_fixtures,
    kernel_client,
    messages_schema,
    next_input,
    open_comm,
    send_comm,
    validator,
)

KERNEL = validator("kernelMessage")
FRONTEND = validator("frontendMessage")


def ops(direction: str) -> set[str]:
    """The op of every message the schema lists for one direction."""
    schema = messages_schema()
    names = [ref["$ref"].removeprefix("#/$defs/") for ref in schema["$defs"][direction]["oneOf"]]
    return {schema["$defs"][name]["properties"]["op"]["const"] for name in names}


@pytest.fixture
def kernel(chat_server) -> Iterator[Any]:
    with kernel_client(chat_server) as client:
        yield client


def test_the_schema_is_a_valid_json_schema_shipped_in_the_package():
    schema = messages_schema()  # read through importlib.resources: it is package data
    Draft202012Validator.check_schema(schema)
    assert ops("kernelMessage") == {"open", "insert", "status", "error"}
    assert ops("frontendMessage") == {"hello", "regenerate", "accept", "discard", "ran_unreviewed"}


def test_the_extensions_messages_are_valid():
    fixtures = frontend_fixtures()
    assert set(fixtures) == ops("frontendMessage")
    for op, message in fixtures.items():
        assert message["op"] == op
        FRONTEND.validate(message)


def test_every_message_the_kernel_sends_is_valid(kernel, chat_server):
    """One session that makes the kernel send each kind of message; the extension's own messages drive it."""
    fixtures = frontend_fixtures()
    regenerate = fixtures["regenerate"]
    magic_cell = regenerate["source_cell"]
    sent: list[dict[str, Any]] = []

    comm_id, opened = open_comm(kernel)
    sent.append(opened)
    chat_server.answer(
        "Scale it.\n```python\nscaled = samples / 11.0\n```",  # before hello: insert with its fallback copy
        "Scale it, then check.\n```python\nscaled = samples / 11.0\n```",  # after hello
        "```python\nscaled = samples / samples.max()\n```",  # regenerate with the note
    )
    reply, iopub = execute(kernel, f"%%tinyml_prep\n{regenerate['request']}", cell_id=magic_cell)
    sent += comm_messages(iopub)
    assert [m["fallback_text"] for m in sent if m["op"] == "insert"] == next_input(reply)

    sent += comm_messages(send_comm(kernel, comm_id, fixtures["hello"]))
    _, iopub = execute(kernel, f"%%tinyml_prep\n{regenerate['request']}", cell_id=magic_cell)
    sent += comm_messages(iopub)
    regenerated = comm_messages(send_comm(kernel, comm_id, regenerate))
    assert [cell["metadata"]["jupyter_tinyml"]["note"] for m in regenerated for cell in m["cells"]] == [
        regenerate["note"]
    ]
    sent += regenerated
    for op in ("accept", "discard", "ran_unreviewed"):  # the mark lives in the notebook: the kernel answers nothing
        assert comm_messages(send_comm(kernel, comm_id, fixtures[op])) == []
    send_comm(kernel, comm_id, fixtures["accept"])  # the same cells again count once
    # ...but the kernel counts them, for %tinyml status
    _, iopub = execute(kernel, "%tinyml status")
    printed = "".join(m["content"].get("text", "") for m in iopub if m["msg_type"] == "stream")
    assert "reviews: 2 accepted, 1 discarded, 1 ran unreviewed" in printed.splitlines()
    _, iopub = execute(kernel, "%tinyml config board=nano33ble")
    sent += comm_messages(iopub)
    # a cell this kernel never ran, whose provenance names no stage: the kernel answers with an error
    unknown = {**regenerate, "source_cell": "a-cell-nobody-ran", "stage": "", "request": ""}
    FRONTEND.validate(unknown)
    sent += comm_messages(send_comm(kernel, comm_id, unknown))

    assert {message["op"] for message in sent} == ops("kernelMessage")
    assert [m["op"] for m in sent].count("insert") == 3 and [m["op"] for m in sent].count("status") == 2
    assert "fallback_text" in sent[1] and "fallback_text" not in sent[3]


def test_the_checker_refuses_an_unknown_or_missing_field():
    """additionalProperties is false and required fields are required, down to a cell's provenance."""
    provenance = Provenance(
        stage="prep", model="openai/test-coder", request="scale samples\n", source_cell="magic-cell-1"
    )
    insert = insert_message([GeneratedCell("scaled = samples / 11.0")], provenance)  # the kernel's own builder
    KERNEL.validate(insert)

    def refused(message: dict[str, Any], checker: Draft202012Validator = KERNEL) -> bool:
        return not checker.is_valid(message)

    assert refused({**insert, "cell": "magic-cell-1"})
    assert refused({key: value for key, value in insert.items() if key != "after"})
    broken = copy.deepcopy(insert)
    broken["cells"][0]["metadata"]["jupyter_tinyml"]["api_key"] = "sk-never"
    assert refused(broken)
    broken = copy.deepcopy(insert)
    del broken["cells"][0]["metadata"]["jupyter_tinyml"]["status"]
    assert refused(broken)
    assert refused({"op": "launch"})
    regenerate = frontend_fixtures()["regenerate"]
    assert refused({key: value for key, value in regenerate.items() if key != "stage"}, FRONTEND)
    assert refused({**regenerate, "cells": ["x"]}, FRONTEND)
    accept = frontend_fixtures()["accept"]
    assert refused({**accept, "cell_ids": []}, FRONTEND)
    assert refused({"op": "discard", "cells": ["x"], "source_cell": None}, FRONTEND)  # the old shape
    assert refused(regenerate)  # a frontend message is not a kernel message
    with pytest.raises(jsonschema.ValidationError, match="Additional properties|is not valid"):
        KERNEL.validate({**insert, "cell": "magic-cell-1"})
