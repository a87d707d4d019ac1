"""The kernel side of the lab extension's comm, in a real kernel; this test's client plays the frontend.

The client (lab_frontend.py) sends what JupyterLab sends (execute requests carrying metadata.cellId, comm
messages on the shell channel) and reads what the extension would receive on iopub; every comm message read
is checked against the comm schema on the way.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from lab_frontend import API_KEY, collect, comm_data, execute, kernel_client, load, next_input, send_comm


@pytest.fixture
def kernel(chat_server) -> Iterator[Any]:
    with kernel_client(chat_server) as client:
        yield client


def test_hello_makes_the_comm_the_writer(kernel, chat_server):
    comm_id = load(kernel)
    published = send_comm(kernel, comm_id, {"op": "hello", "version": 1})
    assert comm_data(published, "status") == [{"op": "status", "model": "openai/test-coder", "board": ""}]

    chat_server.answer("Scale it, then check.\n```python\nscaled = samples / 11.0\n```\n```python\nprint(scaled.max())\n```")
    reply, iopub = execute(kernel, "%%tinyml_prep\nscale samples to [0, 1]\n", cell_id="magic-cell-1")
    assert reply["content"]["status"] == "ok"
    assert next_input(reply) == []  # nothing through the fallback once the extension said hello
    [insert] = comm_data(iopub, "insert")
    assert insert["after"] == "magic-cell-1" and insert["source_cell"] == "magic-cell-1"
    assert "fallback_text" not in insert
    assert [c["cell_type"] for c in insert["cells"]] == ["markdown", "code", "code"]
    assert insert["cells"][1]["source"] == "scaled = samples / 11.0"
    for cell in insert["cells"]:
        provenance = cell["metadata"]["jupyter_tinyml"]
        assert provenance["stage"] == "prep" and provenance["model"] == "openai/test-coder"
        assert provenance["request"] == "scale samples to [0, 1]\n" and provenance["status"] == "unreviewed"
        assert provenance["source_cell"] == "magic-cell-1" and provenance["checks"] == [] and provenance["created"]
        assert cell["metadata"]["tags"] == ["tinyml-generated"]
    assert "Inserted 3 cells below" in "".join(m["content"].get("text", "") for m in iopub if m["msg_type"] == "stream")
    assert API_KEY not in json.dumps(iopub, default=str) + json.dumps(chat_server.requests)


def test_regenerate_reruns_the_stage_with_the_note(kernel, chat_server):
    comm_id = load(kernel)
    send_comm(kernel, comm_id, {"op": "hello", "version": 1})
    chat_server.answer("```python\nscaled = samples / 11.0\n```", "```python\nscaled = samples / samples.max()\n```")
    execute(kernel, "%%tinyml_prep\nscale samples to [0, 1]\n", cell_id="magic-cell-2")

    published = send_comm(kernel, comm_id, {"op": "regenerate", "source_cell": "magic-cell-2", "note": "divide by the max",
                                            "stage": "prep", "request": "ignored: the kernel remembers the run"})
    [insert] = comm_data(published, "insert")
    assert insert["source_cell"] == "magic-cell-2"
    assert [c["source"] for c in insert["cells"]] == ["scaled = samples / samples.max()"]
    provenance = insert["cells"][0]["metadata"]["jupyter_tinyml"]
    assert provenance["note"] == "divide by the max" and provenance["request"] == "scale samples to [0, 1]\n"
    prompt = chat_server.requests[-1]["messages"][-1]["content"]
    assert "scale samples to [0, 1]" in prompt and "divide by the max" in prompt
    # nothing streamed into a cell: regenerating happens outside any cell
    assert not [m for m in published if m["msg_type"] == "stream" and "scaled" in m["content"]["text"]]


def test_regenerate_after_a_restart_uses_the_provenance_and_reports_errors(kernel, chat_server):
    from openai_server import Reply

    comm_id = load(kernel)
    send_comm(kernel, comm_id, {"op": "hello", "version": 1})
    chat_server.answer("```python\nscaled = samples * 2\n```")
    published = send_comm(kernel, comm_id, {"op": "regenerate", "source_cell": "from-a-saved-notebook", "note": "",
                                            "stage": "prep", "request": "double the samples"})
    [insert] = comm_data(published, "insert")
    assert insert["cells"][0]["source"] == "scaled = samples * 2"

    chat_server.replies.append(Reply("Rate limit reached", status=429))
    published = send_comm(kernel, comm_id, {"op": "regenerate", "source_cell": "from-a-saved-notebook", "note": ""})
    [error] = comm_data(published, "error")
    assert error["source_cell"] == "from-a-saved-notebook" and "rate-limited" in error["message"]
    published = send_comm(kernel, comm_id, {"op": "regenerate", "source_cell": "unknown", "note": ""})
    assert "run the magic cell again" in comm_data(published, "error")[0]["message"]


def test_status_follows_tinyml_config(kernel):
    comm_id = load(kernel)
    send_comm(kernel, comm_id, {"op": "hello", "version": 1})
    _, iopub = execute(kernel, "%tinyml config model=offline board=nano33ble")
    [status] = comm_data(iopub, "status")
    assert status["model"] == "" and status["board"] == "nano33ble"


def test_before_hello_cells_go_both_ways(kernel, chat_server):
    """A "Run All" runs the magic before the hello is read: the fallback goes too, and the extension removes it."""
    load(kernel)
    chat_server.answer("```python\nscaled = samples / 11.0\n```")
    reply, iopub = execute(kernel, "%%tinyml_prep\nscale samples\n", cell_id="magic-cell-3")
    [text] = next_input(reply)
    [insert] = comm_data(iopub, "insert")
    assert insert["fallback_text"] == text and "scaled = samples / 11.0" in text


def test_a_frontend_without_the_extension_closes_the_comm_and_gets_set_next_input(kernel, chat_server):
    comm_id = load(kernel)
    message = kernel.session.msg("comm_close", {"comm_id": comm_id, "data": {}})
    kernel.shell_channel.send(message)
    collect(kernel, message["header"]["msg_id"])
    chat_server.answer("```python\nscaled = samples / 11.0\n```")
    reply, iopub = execute(kernel, "%%tinyml_prep\nscale samples\n", cell_id="magic-cell-4")
    [text] = next_input(reply)
    assert text.startswith("# tinyml prep · openai/test-coder · UNREVIEWED")
    assert comm_data(iopub, "insert") == []
