"""The lab extension's side of the comm, played by a jupyter_client against a real kernel, and the comm schema.

The client sends what JupyterLab sends (execute requests carrying metadata.cellId, comm messages on the shell
channel) and reads what the extension would receive on iopub. Every message read from the comm can be checked
against jupyter_tinyml/notebook/messages.schema.json, the one definition both sides are tested against.
"""
from __future__ import annotations

import contextlib
import json
import os
from importlib.resources import files
from pathlib import Path
from typing import Any, Iterator

from jsonschema import Draft202012Validator
from jupyter_client.manager import start_new_kernel
from referencing import Registry, Resource

API_KEY = "sk-lab-comm-test-key-never-in-a-message-42"
# How long one request may keep the kernel busy (a regenerate runs a whole stage against the chat server).
REPLY_TIMEOUT_S = 60
# The messages the extension sends, as its builders make them (labextension/test/protocol.test.ts checks that).
FRONTEND_FIXTURES = Path(__file__).resolve().parents[1] / "labextension" / "test" / "messages.json"


def messages_schema() -> dict[str, Any]:
    """The schema as the installed package ships it."""
    return json.loads((files("jupyter_tinyml.notebook") / "messages.schema.json").read_text(encoding="utf-8"))


def validator(direction: str) -> Draft202012Validator:
    """A checker for one direction: "kernelMessage" or "frontendMessage" (the schema's $defs)."""
    schema = messages_schema()
    registry = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    return Draft202012Validator({"$ref": f"{schema['$id']}#/$defs/{direction}"}, registry=registry)


KERNEL_MESSAGES = validator("kernelMessage")


def frontend_fixtures() -> dict[str, dict[str, Any]]:
    """The extension's messages by op."""
    return json.loads(FRONTEND_FIXTURES.read_text(encoding="utf-8"))["frontend"]


@contextlib.contextmanager
def kernel_client(chat_server: Any) -> Iterator[Any]:
    """A real kernel whose model is the loopback chat server; yields its client."""
    env = {**os.environ, "TINYML_MODEL": "openai/test-coder", "TINYML_API_BASE": chat_server.base_url,
           "TINYML_API_KEY": API_KEY}
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def collect(client: Any, msg_id: str, timeout: float = REPLY_TIMEOUT_S) -> list[dict[str, Any]]:
    """Iopub messages caused by one request, until the kernel is idle again."""
    messages = []
    while True:
        message = client.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(message)
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return messages


def execute(client: Any, code: str, cell_id: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run a cell as JupyterLab does: the execute request's metadata names the cell, and stdin is allowed (a
    person is there; the kernel takes `allow_stdin: false` for a headless runner such as nbclient)."""
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": True}
    message = client.session.msg("execute_request", content, metadata={"cellId": cell_id} if cell_id else {})
    client.shell_channel.send(message)
    iopub = collect(client, message["header"]["msg_id"])
    while True:
        reply = client.get_shell_msg(timeout=REPLY_TIMEOUT_S)
        if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
            return reply, iopub


def send_comm(client: Any, comm_id: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Send a comm message as the extension does; return what the kernel published while handling it."""
    message = client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    client.shell_channel.send(message)
    return collect(client, message["header"]["msg_id"])


def comm_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The data of every comm open and comm message among `messages`, each checked against the schema."""
    found = [m["content"]["data"] for m in messages if m["msg_type"] in ("comm_open", "comm_msg")]
    for data in found:
        KERNEL_MESSAGES.validate(data)
    return found


def comm_data(messages: list[dict[str, Any]], op: str) -> list[dict[str, Any]]:
    """The comm messages with this op (each checked against the schema)."""
    return [data for data in comm_messages(messages) if data.get("op") == op]


def next_input(reply: dict[str, Any]) -> list[str]:
    return [p["text"] for p in reply["content"].get("payload", []) if p["source"] == "set_next_input"]


def open_comm(client: Any) -> tuple[str, dict[str, Any]]:
    """%load_ext opens the comm; return its id and its open data (checked against the schema)."""
    reply, iopub = execute(client, "%load_ext jupyter_tinyml\nimport numpy as np\nsamples = np.arange(12).reshape(3, 4)")
    assert reply["content"]["status"] == "ok"
    opened = [m["content"] for m in iopub if m["msg_type"] == "comm_open"]
    assert len(opened) == 1 and opened[0]["target_name"] == "jupyter_tinyml"
    assert opened[0]["data"]["op"] == "open"
    [data] = comm_messages(iopub)
    return opened[0]["comm_id"], data


def load(client: Any) -> str:
    """%load_ext opens the comm; return its id."""
    return open_comm(client)[0]
