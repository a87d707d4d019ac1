"""The serial protocol's lines (firmware/PROTOCOL.md), read and named: pure functions of one line of text.

The board speaks first (`TINYML READY ...`), then answers one request at a time: PONG, INFO, RESULT, CLASS or
ERROR. A line that does not parse is a MalformedLineError quoting it; what to do about a `TINYML ERROR` the board
sent is `device_hint`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import MalformedLineError, ProtocolError

PREFIX = "TINYML "
# A link reads at most this much of one line and drops the rest with a note (cut_line): the host only reads the
# board's answers, which are short (the longest, RESULT, is 2 * output bytes + ~30; line_limit), so a board that
# streams megabytes without a line end cannot fill the kernel's memory.
MAX_LINE = 64 * 1024
# A board's `TINYML ERROR` message is cut to this many characters in an exception's one line.
MAX_MESSAGE = 300
CUT_MARK = " ... ["
CUT_END = " more bytes cut]"


@dataclass(frozen=True)
class ReadyLine:
    """The board's `TINYML READY v1 model=... in=... out=... arena=... board=...` line."""

    version: str
    model: str
    n_in: int
    n_out: int
    arena: int
    board: str
    raw: str


@dataclass(frozen=True)
class DeviceInfo:
    """The answer to INFO: the model the board runs and its quantization parameters."""

    model: str
    n_in: int
    n_out: int
    in_scale: float
    in_zero: int
    out_scale: float
    out_zero: int
    arena: int
    ops: tuple[str, ...]
    raw: str


class Inference(NamedTuple):
    """One INFER answer: the output tensor's raw bytes and the time the board measured."""

    output: bytes
    us: int


class Classification(NamedTuple):
    """One CLASSIFY answer."""

    index: int
    label: str
    score: float


def answer_kind(line: str) -> str | None:
    """The word after `TINYML ` ("READY", "RESULT", ...), or None for a line that is not the protocol's."""
    if not line.startswith(PREFIX):
        return None
    return line[len(PREFIX):].split(" ", 1)[0]


def line_limit(n_out: int | None = None) -> int:
    """The longest line a link reads whole: MAX_LINE, or more when the model's RESULT line needs it."""
    return max(MAX_LINE, 2 * n_out + 256) if n_out else MAX_LINE


def cut_line(head: str, dropped: int) -> str:
    """A line the link kept only the head of, with a note of how many bytes it dropped."""
    return f"{head}{CUT_MARK}{dropped}{CUT_END}"


def sent_length(text: str) -> int:
    """How long `text` was as the board sent it: its own length, plus what cut_line noted as dropped."""
    head, mark, note = text.rpartition(CUT_MARK)
    if mark and note.endswith(CUT_END) and note[: -len(CUT_END)].isdigit():
        return len(head) + int(note[: -len(CUT_END)])
    return len(text)


def error_text(line: str) -> str:
    """The board's message in a `TINYML ERROR <message>` line, cut to MAX_MESSAGE characters with a note."""
    message = line[len(PREFIX + "ERROR"):].strip()
    if len(message) <= MAX_MESSAGE:
        return message
    return f"{message[:MAX_MESSAGE]} ... [cut: the board's message is {sent_length(message):,} characters]"


def _fields(text: str, line: str) -> dict[str, str]:
    values = {}
    for token in text.split():
        key, equals, value = token.partition("=")
        if not equals:
            raise MalformedLineError(line, f"expected key=value, found {token!r}")
        values[key] = value
    return values


def _int(values: dict[str, str], key: str, line: str) -> int:
    if key not in values:
        raise MalformedLineError(line, f"no {key}=")
    try:
        return int(values[key])
    except ValueError:
        raise MalformedLineError(line, f"{key}={values[key]!r} is not a number") from None


def _float(values: dict[str, str], key: str, line: str) -> float:
    if key not in values:
        raise MalformedLineError(line, f"no {key}=")
    try:
        value = float(values[key])
    except ValueError:
        raise MalformedLineError(line, f"{key}={values[key]!r} is not a number") from None
    if not math.isfinite(value):
        raise MalformedLineError(line, f"{key} is {value}", todo="")
    return value


def parse_ready(line: str) -> ReadyLine:
    """`TINYML READY v1 model=... in=... out=... arena=... board=...` -> ReadyLine (ProtocolError if malformed)."""
    rest = line[len(PREFIX + "READY"):].strip()
    version, _, text = rest.partition(" ")
    if not version.startswith("v"):
        text, version = rest, "v?"
    values = _fields(text, line)
    arena = _int(values, "arena", line) if "arena" in values else 0
    return ReadyLine(version, values.get("model", ""), _int(values, "in", line), _int(values, "out", line), arena,
                     values.get("board", ""), line)


def parse_info(line: str) -> DeviceInfo:
    """The INFO answer -> DeviceInfo (ProtocolError if malformed)."""
    values = _fields(line[len(PREFIX + "INFO"):], line)
    ops = tuple(op for op in values.get("ops", "").split(",") if op)
    return DeviceInfo(values.get("model", ""), _int(values, "in", line), _int(values, "out", line),
                      _float(values, "in_scale", line), _int(values, "in_zero", line),
                      _float(values, "out_scale", line), _int(values, "out_zero", line),
                      _int(values, "arena", line), ops, line)


def parse_result(line: str, n_out: int | None = None) -> tuple[bytes, int, int | None]:
    """`TINYML RESULT <hex> us=<n> [cycles=<n>]` -> (output bytes, microseconds, cycles or None)."""
    parts = line[len(PREFIX + "RESULT"):].split(None, 1)
    if not parts:
        raise MalformedLineError(line, "RESULT without output bytes")
    hex_text, rest = parts[0], parts[1] if len(parts) > 1 else ""
    try:
        if len(hex_text) % 2:
            raise ValueError
        output = bytes.fromhex(hex_text)
    except ValueError:
        raise MalformedLineError(line, "the output is not hex bytes", todo="the serial line may be noisy (check the "
                                 "baud rate) or the firmware does not follow PROTOCOL.md") from None
    if n_out is not None and len(output) != n_out:
        raise ProtocolError(f"The board answered {len(output)} output bytes, the model has {n_out} — the board runs "
                            "another model: flash the firmware built from this one")
    values = _fields(rest, line)
    us = _int(values, "us", line)
    cycles = _int(values, "cycles", line) if "cycles" in values else None
    if us < 0:
        raise MalformedLineError(line, "negative time", todo="")
    return output, us, cycles


def parse_class(line: str) -> Classification:
    """`TINYML CLASS <index> <label> <score>` -> Classification (the label may contain spaces)."""
    parts = line[len(PREFIX + "CLASS"):].split()
    try:
        return Classification(int(parts[0]), " ".join(parts[1:-1]), float(parts[-1]))
    except (IndexError, ValueError):
        raise MalformedLineError(line, "expected CLASS <index> <label> <score>", todo="") from None


def device_hint(message: str) -> str:
    """What to do about a `TINYML ERROR <message>` the board sent."""
    lowered = message.lower()
    if "arena" in lowered or "allocatetensors" in lowered:
        return ("rebuild the firmware with a larger tensor arena (tflite_model.inspect() measures it) or a smaller "
                "model, and flash it again")
    if lowered.startswith("unknown command"):
        return "the firmware is older or newer than this host code: build and flash it again from this version"
    if lowered.startswith("expected"):
        return "the board runs another model than the one given: flash the firmware built from this model"
    return "fix what the board reports, then build and flash the firmware again"


__all__ = ["Classification", "DeviceInfo", "Inference", "MAX_LINE", "MAX_MESSAGE", "PREFIX", "ReadyLine",
           "answer_kind", "cut_line", "device_hint", "error_text", "line_limit", "parse_class", "parse_info",
           "parse_ready", "parse_result", "sent_length"]
