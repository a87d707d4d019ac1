"""A server that answered says what it answered; a stream cut mid-answer says it was cut.

The loopback server sends what broken servers and proxies send: a plain-text HTTP 500, an HTML error page, a body
that is not JSON or not UTF-8, a stream whose connection closes mid-answer. Each is one line naming what happened,
never "Could not reach ... check the network" and never a chain of litellm's class names.
"""
from __future__ import annotations

import pytest
from openai_server import Reply

HTML_PAGE = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body><h1>502 Bad Gateway</h1></body>\n</html>"


def point_at(shell, server, *, stream: bool) -> None:
    settings = shell.magics_manager.registry["TinyMLMagics"].settings
    settings.model, settings.api_base, settings.stream = "openai/test-coder", server.base_url, stream


def one_error_line(shell, capsys) -> str:
    result = shell.run_cell("%%tinyml_prep\nsplit x and y 80/20\n")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert not result.success and len(lines) == 1, lines
    assert "Could not reach" not in lines[0] and "litellm" not in lines[0] and "OpenAIException" not in lines[0]
    assert shell.rl_next_input is None
    return lines[0]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "reply, says",
    [
        (Reply(body=b"Internal Server Error\nTraceback (most recent call last): ...", status=500,
               content_type="text/plain"), "answered HTTP 500: Internal Server Error"),
        (Reply("model crashed: CUDA out of memory\ndetails", status=500), "answered HTTP 500: model crashed: CUDA out"),
        (Reply(body=HTML_PAGE, status=502, content_type="text/html"), "answered HTTP 502: 502 Bad Gateway"),
        (Reply(body=b"upstream connect error", status=503, content_type="text/plain"),
         "answered HTTP 503: upstream connect error"),
        (Reply(body=b'{"choices": [{"message": {"content": "\xff\xfe"}}]}'), "answered with invalid UTF-8"),
    ],
    ids=["500-text", "500-json", "502-html", "503-text", "invalid-utf8"],
)
def test_a_server_that_answered_with_an_error_says_so(shell, chat_server, capsys, reply, says, stream):
    point_at(shell, chat_server, stream=stream)
    chat_server.replies.append(reply)
    assert says in one_error_line(shell, capsys)


@pytest.mark.parametrize(
    "reply, says",
    [
        (Reply(body=b'{"id": "x", "choices": ['), "answered with invalid JSON"),
        (Reply(body=HTML_PAGE, content_type="text/html"), "answered with an HTML page (502 Bad Gateway)"),
    ],
    ids=["bad-json", "html-200"],
)
def test_a_body_that_is_not_a_chat_completion_is_named(shell, chat_server, capsys, reply, says):
    point_at(shell, chat_server, stream=False)
    chat_server.replies.append(reply)
    line = one_error_line(shell, capsys)
    assert says in line and "OpenAI-compatible address" in line


@pytest.mark.parametrize("body", [b'{"id": "x", "choices": [', HTML_PAGE], ids=["bad-json", "html-200"])
def test_a_streamed_body_that_is_not_a_chat_completion_is_not_an_empty_answer(shell, chat_server, capsys, body):
    """Streamed, such a body yields no chunk at all: said as a server problem, not passed on as an empty answer
    (which would be sent back to the model as "no code")."""
    point_at(shell, chat_server, stream=True)
    chat_server.replies.append(Reply(body=body, content_type="text/html"))
    line = one_error_line(shell, capsys)
    assert "answered with" in line and "OpenAI-compatible address" in line and len(chat_server.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_a_stream_closed_mid_answer_says_it_was_cut(shell, chat_server, capsys, stream):
    point_at(shell, chat_server, stream=stream)
    chat_server.replies.append(Reply("```python\nx_train = x[:80]\n```", cut_after=14))
    line = one_error_line(shell, capsys)
    assert "closed the connection in the middle of its answer" in line and "cut" in line
    if stream:
        assert "after 14 characters" in line
