"""The magics in a real kernel (jupyter_client): insertion arrives as a set_next_input payload, output streams."""
from __future__ import annotations

import os
from typing import Any, Iterator

import pytest
from jupyter_client.manager import start_new_kernel


@pytest.fixture
def kernel(chat_server) -> Iterator[Any]:
    env = {**os.environ, "TINYML_MODEL": "openai/kernel-coder", "TINYML_API_BASE": chat_server.base_url,
           "TINYML_API_KEY": "sk-kernel-test-key-never-in-output-1234"}
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def execute(client, code: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    outputs: list[dict[str, Any]] = []
    reply = client.execute_interactive(code, timeout=120, output_hook=outputs.append)
    return reply, outputs


def streamed_text(outputs: list[dict[str, Any]], name: str = "stdout") -> str:
    return "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream" and m["content"]["name"] == name)


def test_prep_in_a_kernel_inserts_through_the_payload(kernel, chat_server):
    reply, _ = execute(kernel, "%load_ext jupyter_tinyml\nimport numpy as np\nsamples = np.arange(12).reshape(3, 4)")
    assert reply["content"]["status"] == "ok"
    chat_server.answer("Scale it.\n```python\nscaled = samples / 11.0\n```")
    reply, outputs = execute(kernel, "%%tinyml_prep\nscale samples to [0, 1]\n")
    assert reply["content"]["status"] == "ok"
    payloads = [p for p in reply["content"]["payload"] if p["source"] == "set_next_input"]
    assert len(payloads) == 1 and payloads[0]["replace"] is False
    text = payloads[0]["text"]
    assert text.startswith("# tinyml prep · openai/kernel-coder · UNREVIEWED") and "scaled = samples / 11.0" in text
    stdout = streamed_text(outputs)
    assert stdout.count("\n") >= 3 and "scaled = samples" in stdout and "Inserted below" in stdout
    # nothing ran, and the model saw the array's summary, not its values
    reply, outputs = execute(kernel, "print('scaled' in globals())")
    assert streamed_text(outputs).strip() == "False"
    user_prompt = chat_server.requests[-1]["messages"][-1]["content"]
    assert "samples" in user_prompt and "(3, 4)" in user_prompt
    assert "sk-kernel-test-key" not in stdout + text + str(chat_server.requests)


def test_error_in_a_kernel_is_one_line_and_inserts_nothing(kernel, chat_server):
    from openai_server import Reply

    execute(kernel, "%load_ext jupyter_tinyml")
    chat_server.replies.append(Reply("Rate limit reached", status=429))
    reply, outputs = execute(kernel, "%%tinyml_train\nsmall CNN\n")
    assert reply["content"]["status"] == "error"
    assert not [p for p in reply["content"].get("payload", []) if p["source"] == "set_next_input"]
    errors = [m for m in outputs if m["msg_type"] == "error"] + [m for m in outputs if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"]
    assert "rate-limited" in str(errors)
