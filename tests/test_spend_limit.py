"""The spend_limit setting: every completion's tokens are counted, and a call that could pass the limit is refused
before anything reaches the model (litellm's real client path against the loopback server)."""
from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_tinyml.config import TinyML
from jupyter_tinyml.errors import BadSettingValueError, SettingOutOfRangeError, SpendLimitError
from jupyter_tinyml.eval import criteria, probe
from jupyter_tinyml.stages import llm

ANSWER = "```python\nx = 1\n```"  # 19 characters: the server reports 4 completion tokens
PROMPT = [{"role": "user", "content": "x" * 400}]  # estimated, and reported by the server, as 100 tokens


@pytest.fixture
def spending(monkeypatch: pytest.MonkeyPatch) -> llm.Spending:
    """A fresh process-wide counter for the test (the real one keeps counting across the suite)."""
    fresh = llm.Spending()
    monkeypatch.setattr(llm, "SPENDING", fresh)
    return fresh


def test_a_call_that_could_pass_the_limit_is_refused_before_it_is_sent(chat_server, spending):
    chat_server.answer(ANSWER, ANSWER)
    # The first call may take its prompt (100) and a full answer (max_tokens 100): 200 of 300.
    settings = TinyML(model="openai/test", api_base=chat_server.base_url, stream=False, max_tokens=100,
                      spend_limit=300)
    llm.complete(PROMPT, settings)
    assert spending.tokens == 104  # what the server reported: 100 in, 4 out
    with pytest.raises(SpendLimitError) as refused:
        llm.complete(PROMPT, settings)  # 104 spent + 100 + 100 could reach 304
    assert len(chat_server.requests) == 1
    assert str(refused.value) == (
        "Spend limit reached: 104 tokens spent so far, and the next call may take up to 200 more, past the limit "
        "of 300 — raise it with %tinyml config spend_limit=N (0: no limit), then run the cell again.")
    settings.spend_limit = 0  # no limit: the same call goes out
    llm.complete(PROMPT, settings)
    assert len(chat_server.requests) == 2 and spending.tokens == 208


def test_usage_a_provider_does_not_report_is_counted_from_the_text():
    spending = llm.Spending()
    spending.add(llm.Completion(text="y" * 80, model="m"), PROMPT)
    assert spending.tokens == 100 + 20


def test_a_second_ask_is_refused_once_the_limit_is_reached(shell, chat_server, spending, capsys):
    magics = shell.magics_manager.registry["TinyMLMagics"]
    magics.settings.model, magics.settings.api_base = "openai/test", chat_server.base_url
    chat_server.answer(ANSWER, ANSWER)
    shell.run_cell("%tinyml config spend_limit=1000000")
    assert shell.run_cell("%%tinyml_prep\nsplit\n").success
    assert len(chat_server.requests) == 1 and spending.tokens == magics.asks[-1].prompt_tokens + 4
    capsys.readouterr()

    shell.run_cell(f"%tinyml config spend_limit={spending.tokens}")  # all of it spent
    result = shell.run_cell("%%tinyml_train\nsmall CNN\n")
    assert not result.success and len(chat_server.requests) == 1  # nothing reached the server
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert line.startswith(f"UsageError: tinyml: Spend limit reached: {spending.tokens:,} tokens spent so far")
    refused = magics.asks[-1]
    assert (refused.stage, refused.error_class, refused.prompt_tokens) == ("train", "SpendLimitError", 0)
    judged = probe.judged("train", refused, shell.user_ns, Path.cwd(), criteria.Thresholds())
    assert judged.kind == "fatal" and judged.first_error == refused.error_line  # the evaluation stops here


def test_the_limit_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.setenv("TINYML_SPEND_LIMIT", "250000")
    assert TinyML().spend_limit == 250_000
    monkeypatch.setenv("TINYML_SPEND_LIMIT", "lots")
    with pytest.raises(BadSettingValueError, match="spend_limit needs a int, got 'lots'"):
        TinyML()
    monkeypatch.setenv("TINYML_SPEND_LIMIT", "-1")
    with pytest.raises(SettingOutOfRangeError, match="spend_limit must be a number from 0 to 1,000,000,000"):
        TinyML()
    monkeypatch.delenv("TINYML_SPEND_LIMIT")
    assert TinyML().spend_limit == 0  # the default: no limit
