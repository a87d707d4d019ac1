"""The only module that imports litellm: one completion (streamed or not), its usage, cost and finish reason.

litellm is imported on first use, not at ``%load_ext``: it costs seconds, and by default it fetches a price
map from the network at import, so LITELLM_LOCAL_MODEL_COST_MAP is set first unless the user chose otherwise.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..config import TinyML, api_key_from_environment
from ..notebook.cells import clean_text
from ..errors import (
    AnswerTooLongError,
    EmptyAnswerError,
    MissingKeyError,
    ModelError,
    ModelFailedError,
    ModelTimeoutError,
    PromptTooLongError,
    RateLimitedError,
    ServerAnsweredError,
    SpendLimitError,
    StreamCutError,
    UnknownModelError,
    UnreachableModelError,
    UnreadableAnswerError,
)

Message = dict[str, str]

# The longest answer taken (~200 KB of text): a whole stage's code is a few KB; a megabyte is a runaway model
# or a hostile server, and would become one cell the notebook can barely show.
MAX_ANSWER_CHARS = 200_000


@dataclass
class Completion:
    """A model's answer with what it cost.

    `finish_reason` is the provider's: "stop" for a finished answer, "length" when max_tokens cut it off
    (None when the provider does not say).
    """

    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float = 0.0
    finish_reason: str | None = None

    @property
    def cut_off(self) -> bool:
        """The provider stopped the answer at the token limit."""
        return self.finish_reason == "length"

    def usage_line(self) -> str:
        """One line for the cell output: tokens, cost (when litellm knows it), latency."""
        tokens = (
            f"{self.prompt_tokens} in / {self.completion_tokens} out tokens"
            if self.prompt_tokens is not None
            else "tokens unknown"
        )
        cost = f"${self.cost_usd:.4f}" if self.cost_usd is not None else "cost unknown"
        return f"{self.model}: {tokens} · {cost} · {self.latency_s:.1f} s"


def message_tokens(messages: list[Message]) -> int:
    """The prompt's tokens, estimated as the context capture does (one per four characters)."""
    from ..notebook.context import estimate_tokens

    return estimate_tokens("\n".join(str(message.get("content", "")) for message in messages))


@dataclass
class Spending:
    """The tokens (prompt + answer) every completion of this process took, for the `spend_limit` setting.

    Process-wide on purpose: a limit is for everything a session (or an evaluation's kernel) asks, across cells,
    stages and repair rounds. Where the provider reports no usage, the text is counted at four characters a token.
    """

    tokens: int = 0

    def add(self, completion: Completion, messages: list[Message]) -> None:
        prompt = completion.prompt_tokens if completion.prompt_tokens is not None else message_tokens(messages)
        answer = (completion.completion_tokens if completion.completion_tokens is not None
                  else message_tokens([{"content": completion.text}]))
        self.tokens += prompt + answer

    def check(self, messages: list[Message], settings: TinyML) -> None:
        """SpendLimitError when the call could pass the limit: its prompt plus a full answer (max_tokens)."""
        limit = settings.spend_limit
        if not limit:
            return
        needed = message_tokens(messages) + settings.max_tokens
        if self.tokens + needed > limit:
            raise SpendLimitError(self.tokens, limit, needed)


SPENDING = Spending()


def import_litellm() -> Any:
    """Import litellm quietly and without network access at import time."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # providers that reject e.g. temperature still answer
    return litellm


def complete(
    messages: list[Message], settings: TinyML, *, on_text: Callable[[str], None] | None = None
) -> Completion:
    """Ask the settings' model once. Streams text pieces to `on_text` as they arrive; raises a ModelError
    subclass that says what to do. With `spend_limit` set, a call that could pass it is refused before it is sent
    (SpendLimitError)."""
    SPENDING.check(messages, settings)
    litellm = import_litellm()
    model, api_base = settings.model, settings.api_base or None
    arguments: dict[str, Any] = dict(
        model=model,
        messages=messages,
        timeout=settings.timeout,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        num_retries=0,
    )
    api_key = api_key_from_environment()
    if api_base:
        arguments["api_base"] = api_base
    if api_key:
        arguments["api_key"] = api_key
    elif api_base and model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
        # Local OpenAI-compatible servers (llama.cpp, vLLM, LM Studio) ignore the key, but the client insists on one.
        arguments["api_key"] = "no-key-needed"
    if settings.mock_response:
        arguments["mock_response"] = settings.mock_response
    started = time.perf_counter()
    try:
        if settings.stream:
            chunks: list[Any] = []
            answered = False
            for chunk in litellm.completion(stream=True, stream_options={"include_usage": True}, **arguments):
                chunks.append(chunk)
                piece = chunk.choices[0].delta.content if chunk.choices else None
                answered = answered or bool(piece)
                if piece and on_text:
                    on_text(clean_text(piece))
            response = litellm.stream_chunk_builder(chunks, messages=messages) if answered else None
        else:
            response = litellm.completion(**arguments)
            if on_text:
                on_text(clean_text(response.choices[0].message.content or ""))
    except Exception as error:  # litellm's classes, and whatever a provider SDK raises past them: one line each
        raise explain_model_error(error, model, api_base) from None
    latency = time.perf_counter() - started
    if settings.stream and response is None:  # an HTML page or bad JSON with status 200 streams as no text at all
        raise UnreadableAnswerError(model, api_base, "a stream that held no text")
    if response is None or not response.choices:
        raise EmptyAnswerError(model)
    choice = response.choices[0]
    # Cleaned here, once: a lone surrogate would break the repair request, the output and the insert alike.
    text = clean_text(choice.message.content or "")
    usage = getattr(response, "usage", None)
    completion = Completion(
        text=text,
        model=model,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        cost_usd=cost_of(litellm, response, model),
        latency_s=latency,
        finish_reason=getattr(choice, "finish_reason", None),
    )
    SPENDING.add(completion, messages)  # before the length check: a runaway answer was paid for too
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerTooLongError(model, len(text), MAX_ANSWER_CHARS)
    return completion


def joined(first: Completion, more: Completion, text: str) -> Completion:
    """One Completion for an answer that took a continuation: the joined text, both calls' usage summed."""

    def total(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a + b

    tokens = (total(first.prompt_tokens, more.prompt_tokens), total(first.completion_tokens, more.completion_tokens))
    return Completion(
        text=text,
        model=first.model,
        prompt_tokens=None if tokens[0] is None else int(tokens[0]),
        completion_tokens=None if tokens[1] is None else int(tokens[1]),
        cost_usd=total(first.cost_usd, more.cost_usd),
        latency_s=first.latency_s + more.latency_s,
        finish_reason=more.finish_reason,
    )


def cost_of(litellm: Any, response: Any, model: str) -> float | None:
    """Cost in USD where litellm's price map knows the model; None otherwise (local and unknown models)."""
    try:
        cost = litellm.completion_cost(completion_response=response, model=model)
    except Exception:
        return None
    return float(cost) if cost else None


# litellm reports a missing key and an unknown provider through general classes (InternalServerError,
# BadRequestError); only the text tells them apart from a server that is down or a malformed request.
MISSING_KEY = re.compile(r"missing credentials|api_key.*must be set", re.IGNORECASE)
UNKNOWN_PROVIDER = re.compile(r"LLM Provider NOT provided|model_not_found")


def explain_model_error(error: Exception, model: str, api_base: str | None) -> ModelError:
    """litellm's exception (by class) as the ModelError that says what to do next.

    litellm folds a server that answered badly (HTTP 500, invalid JSON, an HTML page) and a connection cut
    mid-answer into the same classes as a server that cannot be reached, so the exceptions it wrapped (httpx's
    response and protocol errors, the JSON and codec errors) are asked what really happened.
    """
    litellm = import_litellm()
    text = str(error)
    if isinstance(error, litellm.AuthenticationError) or MISSING_KEY.search(text):
        return MissingKeyError(model)
    if isinstance(error, litellm.RateLimitError):
        return RateLimitedError(model)
    # Timeout subclasses APIConnectionError, so it is asked first.
    if isinstance(error, litellm.Timeout) or "timed out" in text.lower():
        return ModelTimeoutError(model, api_base)
    if isinstance(error, litellm.NotFoundError) or UNKNOWN_PROVIDER.search(text):
        return UnknownModelError(model)
    if isinstance(error, litellm.ContextWindowExceededError):
        return PromptTooLongError(model)
    chain = causes(error)
    unreadable = unreadable_answer(chain, text)
    if unreadable is not None:
        return UnreadableAnswerError(model, api_base, *unreadable)
    answered = error_status(chain)
    if answered is not None:
        return ServerAnsweredError(model, api_base, *answered)
    if isinstance(error, getattr(litellm, "MidStreamFallbackError", ())) or any(map(was_cut, chain)):
        received = len(getattr(error, "generated_content", "") or "")
        return StreamCutError(model, api_base, received)
    if isinstance(error, (litellm.APIConnectionError, litellm.ServiceUnavailableError, litellm.InternalServerError)):
        return UnreachableModelError(model, api_base)
    name = type(error).__name__
    first_line = text.strip().splitlines()[0] if text.strip() else name
    return ModelFailedError(model, name, first_line)


# litellm's own message for a body that parsed to no completion: "... Received: '<html>...'. Check the ..."
RECEIVED = re.compile(r"Received: ['\"]")
TAG = re.compile(r"<[^<>]{0,400}>")
BODY_CHARS = 4096  # of a server's error body, read for its first line


def causes(error: BaseException, depth: int = 12) -> list[BaseException]:
    """The error and what it wrapped (__cause__, __context__, litellm's original_exception), nearest first."""
    chain: list[BaseException] = []
    waiting: list[BaseException] = [error]
    while waiting and len(chain) < depth:
        current = waiting.pop(0)
        if any(current is seen for seen in chain):
            continue
        chain.append(current)
        for wrapped in (getattr(current, "original_exception", None), current.__cause__, current.__context__):
            if isinstance(wrapped, BaseException):
                waiting.append(wrapped)
    return chain


def unreadable_answer(chain: list[BaseException], text: str) -> tuple[str, str] | None:
    """(what the body was, its first line) when the server answered with something that is not JSON text."""
    for cause in chain:
        if isinstance(cause, UnicodeDecodeError):
            return "invalid UTF-8", f"byte {cause.object[cause.start]:#04x} at position {cause.start}"
        if isinstance(cause, ValueError) and type(cause).__name__ == "JSONDecodeError":
            return "invalid JSON", f"{getattr(cause, 'msg', cause)}: {first_line(str(getattr(cause, 'doc', '')))}"
    received = RECEIVED.search(text)
    if received is not None:
        body = text[received.end() : received.end() + 400].split("'. Check the")[0]
        body = body.replace("\\r", "\n").replace("\\n", "\n")  # the body is quoted as a repr
        kind = "an HTML page" if "<" in body and TAG.search(body) else "a body that is not JSON"
        return kind, first_line(body)
    return None


def error_status(chain: list[BaseException]) -> tuple[int, str] | None:
    """(HTTP status, first line of the body) of an error response the server really sent.

    litellm gives every exception a `response`; the ones it makes up itself carry no headers, while a server's
    answer always has some (Content-Type, Date), which tells a real HTTP 500 from a connection that failed.
    """
    for cause in chain:
        response = getattr(cause, "response", None)
        status = getattr(response, "status_code", None)
        if not isinstance(status, int) or status < 400 or not getattr(response, "headers", None):
            continue
        try:
            body = bytes(response.content[:BODY_CHARS]).decode("utf-8", errors="replace")
        except Exception:  # a streamed response whose body was never read
            body = ""
        return status, error_message(body)
    return None


def error_message(body: str) -> str:
    """The first line of an error body: an OpenAI-style {"error": {"message": ...}} message, else its text."""
    import json

    try:
        payload = json.loads(body)
    except ValueError:
        return first_line(body)
    if isinstance(payload, dict):
        inner = payload.get("error", payload.get("detail", payload.get("message")))
        if isinstance(inner, dict):
            inner = inner.get("message", inner)
        if isinstance(inner, str):
            return first_line(inner)
    return first_line(body)


def first_line(text: str, limit: int = 160) -> str:
    """The first non-empty line of a body, without HTML tags, cut to `limit` characters."""
    for line in TAG.sub(" ", text[:BODY_CHARS]).splitlines():
        words = " ".join(line.split())
        if words:
            return words if len(words) <= limit else words[: limit - 3] + "..."
    return ""


def was_cut(error: BaseException) -> bool:
    """httpx's error for a connection closed before the body ended (incomplete chunked read, no response)."""
    return type(error).__name__ in {"RemoteProtocolError", "IncompleteRead", "ReadError"}
