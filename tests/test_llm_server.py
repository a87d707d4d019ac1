"""litellm's real client path against an OpenAI-compatible server on 127.0.0.1: streaming, repair, secrets, errors."""
from __future__ import annotations

import pytest
from openai_server import Reply

from jupyter_tinyml.config import TinyML
from jupyter_tinyml.errors import MalformedAnswerError, ModelError
from jupyter_tinyml.stages import answer, llm


def point_at(shell, server, model: str = "openai/test-coder") -> object:
    settings = shell.magics_manager.registry["TinyMLMagics"].settings
    settings.model, settings.api_base = model, server.base_url
    return settings


def settings_for(server, model: str, **changes: object) -> TinyML:
    """Settings pointing at the test server, as `%tinyml config` would leave them."""
    return TinyML(model=model, api_base=server.base_url, **changes)


def test_streamed_answer_arrives_in_pieces(chat_server, monkeypatch):
    monkeypatch.setenv("TINYML_API_KEY", "test-key")
    chat_server.answer("```python\nimport numpy as np\nx = np.zeros(3)\n```")
    pieces: list[str] = []
    completion = llm.complete(
        [{"role": "user", "content": "zeros"}], settings_for(chat_server, "openai/test-coder"), on_text=pieces.append
    )
    assert len(pieces) > 3 and "".join(pieces) == completion.text
    assert chat_server.requests[0]["stream"] is True
    assert completion.prompt_tokens and completion.completion_tokens
    assert "in /" in completion.usage_line()


def test_non_streamed_answer(chat_server, monkeypatch):
    monkeypatch.setenv("TINYML_API_KEY", "k")
    chat_server.answer("```python\ny = 2\n```")
    completion = llm.complete([{"role": "user", "content": "y"}], settings_for(chat_server, "openai/x", stream=False))
    assert completion.text == "```python\ny = 2\n```" and completion.finish_reason == "stop"


def test_prep_through_the_server_inserts_and_shows_usage(shell, chat_server, capsys):
    point_at(shell, chat_server)
    chat_server.answer("```python\nimport numpy as np\nfeatures = np.arange(4)\n```")
    shell.run_cell("%%tinyml_prep\nmake features\n")
    assert "features = np.arange(4)" in shell.rl_next_input
    assert "openai/test-coder: " in capsys.readouterr().out
    messages = chat_server.requests[0]["messages"]
    assert messages[0]["role"] == "system" and "make features" in messages[-1]["content"]


def test_check_problems_go_back_to_the_model(shell, chat_server):
    point_at(shell, chat_server)
    shell.user_ns["x_train"] = [1, 2]
    chat_server.answer("```python\nn = len(x_trian)\n```", "```python\nn = len(x_train)\n```")
    shell.run_cell("%%tinyml_prep\ncount samples\n")
    assert len(chat_server.requests) == 2
    repair = chat_server.requests[1]["messages"][-1]["content"]
    assert "x_trian" in repair and "not defined" in repair
    assert "n = len(x_train)" in shell.rl_next_input and "# check:" not in shell.rl_next_input


def test_problems_left_after_the_last_round_are_shown(shell, chat_server):
    settings = point_at(shell, chat_server)
    settings.max_repairs = 1
    chat_server.answer("```python\nn = len(x_trian)\n```", "```python\nn = len(x_trian)\n```")
    shell.run_cell("%%tinyml_prep\ncount samples\n")
    assert len(chat_server.requests) == 2
    assert "# check: line 1: name 'x_trian' is not defined" in shell.rl_next_input


def test_secret_never_reaches_the_model(shell, chat_server, monkeypatch):
    point_at(shell, chat_server)
    monkeypatch.setenv("TINYML_API_KEY", "sk-env-key-that-must-stay-home-123456")
    shell.user_ns.update(
        OPENAI_API_KEY="sk-proj-planted0123456789abcdefABCDEF",
        github_token="ghp_planted0123456789abcdefABCDEFabcd",
        settings_dict={"db_password": "hunter2-planted"},
        samples=[1, 2, 3],
    )
    shell.run_cell('hf = "hf_plantedInACellSource0123456789abcd"\n')
    chat_server.answer("```python\nprint(len(samples))\n```")
    shell.run_cell("%%tinyml_prep\nuse samples\n")
    body = b"".join(chat_server.raw_bodies).decode()
    for planted in ("planted", "OPENAI_API_KEY", "github_token", "hunter2", "sk-env-key"):
        assert planted not in body
    assert "samples" in body
    assert "sk-env-key" not in shell.rl_next_input


@pytest.mark.parametrize(
    "reply, message",
    [
        (Reply("Incorrect API key provided", status=401), "No valid API key"),
        (Reply("Rate limit reached", status=429), "rate-limited"),
        (Reply("The model `nope` does not exist", status=404), "Unknown model"),
    ],
)
def test_provider_errors_are_one_clear_line(shell, chat_server, capsys, reply, message):
    point_at(shell, chat_server)
    chat_server.replies.append(reply)
    result = shell.run_cell("%%tinyml_prep\nsplit\n")
    err = capsys.readouterr().err
    assert not result.success and message in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert shell.rl_next_input is None


def test_timeout_is_reported(shell, chat_server, capsys):
    settings = point_at(shell, chat_server)
    settings.timeout = 1.0
    chat_server.replies.append(Reply("```python\nx = 1\n```", delay_s=4))
    shell.run_cell("%%tinyml_prep\nsplit\n")
    assert "did not answer in time" in capsys.readouterr().err
    assert shell.rl_next_input is None


def test_unreachable_server_is_reported(shell, capsys):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = shell.magics_manager.registry["TinyMLMagics"].settings
    settings.model, settings.api_base = "openai/test-coder", f"http://127.0.0.1:{port}/v1"
    shell.run_cell("%%tinyml_prep\nsplit\n")
    assert "Could not reach" in capsys.readouterr().err
    assert shell.rl_next_input is None


def test_missing_key_and_unknown_provider(shell, capsys):
    settings = shell.magics_manager.registry["TinyMLMagics"].settings
    settings.model = "openai/gpt-4o-mini"  # no OPENAI_API_KEY in the test environment
    shell.run_cell("%%tinyml_prep\nsplit\n")
    assert "No valid API key" in capsys.readouterr().err
    settings.model = "nosuchprovider/some-model"
    shell.run_cell("%%tinyml_prep\nsplit\n")
    assert "Unknown model" in capsys.readouterr().err


def test_python_parts_rules():
    parts = answer.python_parts("Intro\n```python\na = 1\n```\n```py\nb = 2\n```\n```bash\nls\n```")
    assert [(part.kind, part.text) for part in parts] == [
        ("prose", "Intro"), ("code", "a = 1\n"), ("code", "b = 2\n"), ("shell", "ls\n")
    ]
    assert [part.text for part in answer.python_parts("import os\nprint(os.sep)")] == ["import os\nprint(os.sep)\n"]
    with pytest.raises(MalformedAnswerError):
        answer.python_parts("Sure")
    with pytest.raises(ModelError):
        raise llm.explain_model_error(RuntimeError("boom"), "m", None)


def test_recent_cells_arrive_as_typed_without_the_magic_itself(shell, chat_server):
    point_at(shell, chat_server)
    shell.run_cell("import numpy as np\nreadings = np.zeros((10, 3))", store_history=True)
    shell.run_cell("%%capture\nprint('hidden')", store_history=True)
    chat_server.answer("```python\nprint(readings.shape)\n```")
    shell.run_cell("%%tinyml_prep\nnormalise readings per channel\n", store_history=True)
    prompt = chat_server.requests[-1]["messages"][-1]["content"]
    context_part = prompt.split("Request:")[0]
    assert "readings = np.zeros((10, 3))" in context_part and "%%capture" in context_part
    assert "normalise readings per channel" not in context_part and "run_cell_magic" not in context_part


def test_litellm_errors_are_told_apart_by_class():
    """Timeout subclasses APIConnectionError in litellm: it must still read as a timeout, not as unreachable."""
    import litellm

    from jupyter_tinyml import errors

    cases = [
        (litellm.Timeout("slow", model="m", llm_provider="openai"), errors.ModelTimeoutError, "did not answer in time"),
        (litellm.APIConnectionError("refused", llm_provider="openai", model="m"), errors.UnreachableModelError,
         "Could not reach m at http://h"),
        (litellm.ContextWindowExceededError("too long", model="m", llm_provider="openai"), errors.PromptTooLongError,
         "too long for m"),
    ]
    for error, kind, text in cases:
        explained = llm.explain_model_error(error, "m", "http://h")
        assert type(explained) is kind and text in str(explained)
