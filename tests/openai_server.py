"""A real OpenAI-compatible chat server on 127.0.0.1 for tests: scripted answers, streaming, error codes.

litellm talks to it through its real client path (``openai/<name>`` + api_base), so tests see what a
provider would receive — the request bodies are kept for the secret-filter tests.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: text, or an HTTP error status with an OpenAI-style error body, after a delay.

    `finish_reason` is what the choice reports: "length" plays an answer cut off at max_tokens.
    `body` sends these exact bytes with `status` and `content_type` instead of any JSON (a proxy's HTML page,
    invalid JSON, invalid UTF-8). `cut_after` streams that many characters of `text`, then closes the
    connection without finishing the stream (a server that died mid-answer).
    """

    text: str = ""
    status: int = 200
    delay_s: float = 0.0
    finish_reason: str = "stop"
    body: bytes | None = None
    content_type: str = "application/json"
    cut_after: int | None = None


@dataclass
class ChatServer:
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    raw_bodies: list[bytes] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def answer(self, *texts: str) -> None:
        self.replies.extend(Reply(text) for text in texts)

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if self.replies else Reply("```python\nprint('no scripted reply')\n```")

    def start(self) -> "ChatServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.raw_bodies.append(body)
                request = json.loads(body or b"{}")
                owner.requests.append(request)
                reply = owner.next_reply()
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                    return  # the client gave up (the timeout tests): answering would only hit a closed socket
                if reply.body is not None:
                    self.send_raw(reply.status, reply.body, reply.content_type)
                elif reply.cut_after is not None:
                    self.stream_cut(request, reply.text[: reply.cut_after])
                elif reply.status != 200:
                    self.send_json(reply.status, {"error": {"message": reply.text or "error", "type": "test", "code": reply.status}})
                elif request.get("stream"):
                    self.stream(request, reply.text, reply.finish_reason)
                else:
                    self.send_json(200, completion(request, reply.text, reply.finish_reason))

            def send_json(self, status: int, payload: dict[str, Any]) -> None:
                self.send_raw(status, json.dumps(payload).encode(), "application/json")

            def send_raw(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def stream_cut(self, request: dict[str, Any], text: str) -> None:
                """A stream that starts, sends `text` (streamed or not, as asked) and then the connection closes
                mid-answer: chunked encoding without its last chunk, so the client sees a broken stream."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream" if request.get("stream") else "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if request.get("stream"):
                    data = b"data: " + json.dumps(chunk(request, {"content": text}, None)).encode() + b"\n\n"
                else:
                    data = json.dumps(completion(request, text)).encode()[: len(text) // 2 + 20]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def stream(self, request: dict[str, Any], text: str, finish_reason: str = "stop") -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
                for piece in pieces:
                    self.event(chunk(request, {"content": piece}, None))
                self.event(chunk(request, {}, finish_reason))
                if (request.get("stream_options") or {}).get("include_usage"):
                    self.event({**chunk(request, {}, None), "choices": [], "usage": usage(request, text)})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def usage(request: dict[str, Any], text: str) -> dict[str, int]:
    prompt = sum(len(str(message.get("content", ""))) for message in request.get("messages", [])) // 4
    completion_tokens = max(1, len(text) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens, "total_tokens": prompt + completion_tokens}


def chunk(request: dict[str, Any], delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.get("model", "test"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def completion(request: dict[str, Any], text: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "test"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": usage(request, text),
    }


if __name__ == "__main__":  # a server for trying the magics by hand: python tests/openai_server.py
    server = ChatServer().start()
    print(server.base_url, flush=True)
    threading.Event().wait()
