"""Static checks of application glue: what compiles and still breaks the board's serial protocol or the model.

The skeleton serves the notebook's requests (PING, INFO, INFER, CLASSIFY) between loop() calls and owns the serial
port, the interpreter and the input tensor, so glue that compiles can still break it: a long delay() in loop, a wait
for a serial monitor, a loop that never ends, a second Serial.begin, a line starting with the protocol's prefix, or
a write into the input tensor that skips the quantization. Pure: the regions' text in, findings out (each names its
region and line and says what to write instead), so the same findings reach the cell header and the model.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .cpp_text import closing, line_of, masked

# PROTOCOL.md: anything the glue prints must not start with this.
RESERVED_PREFIX = "TINYML "
# A wait in loop() this long delays every serial answer by as much (the on-device check sends one line per sample).
MAX_WAIT_MS = 100
SET_INPUT = "SetInput(i, value)"
# Headers the skeleton includes itself; glue that includes them again breaks the build (a second arena, a missing
# TensorFlowLite.h) — the fix is to delete the include, not to install anything.
SKELETON_HEADER = re.compile(
    r"^(TensorFlowLite\.h|Chirale_TensorFlowLite\.h|tensorflow/lite/.*|(?!tinyml_model\.h$)[\w/]*model\w*\.h|"
    r"op_resolver\.h)$", re.IGNORECASE)
_INCLUDE = re.compile(r"^[ \t]*#[ \t]*include[ \t]*[<\"](?P<header>[^>\"]+)[>\"]", re.MULTILINE)


@dataclass(frozen=True)
class GlueFinding:
    """One thing wrong with the glue: its region, the line inside the region (1-based) and what to do."""

    region: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.region} line {self.line}" if self.line else self.region
        return f"{where}: {self.message}"


def check_glue(app: Mapping[str, str], *, input_is_float: bool = False) -> list[GlueFinding]:
    """Every finding about the glue regions `app` (region name -> C++), ordered by region then line.

    `input_is_float`: the model's input tensor is float32, so ModelInput() is nullptr and SetInput is the only way in.
    """
    constants = _constants("\n".join(app.values()))
    found: list[GlueFinding] = []
    for region, text in app.items():
        code = masked(text)  # comments and string contents blanked: patterns never match inside them
        text_code = masked(text, strings=False)  # comments blanked, strings kept: for the printed text

        def add(index: int, message: str, region: str = region, text: str = text) -> None:
            found.append(GlueFinding(region, line_of(text, index), message))

        if region == "app-loop":
            for index, message in _long_waits(code, text, constants):
                add(index, message)
        for match in re.finditer(r"\bwhile\s*\(\s*!\s*Serial\s*\)", code):
            add(match.start(), "`while (!Serial)` waits for a serial monitor and hangs a board running on its own; "
                               "delete it: TinymlBegin() already opened the port (waiting kSerialWaitMs at most)")
        for index, what in _halting_loops(code):
            add(index, f"`{what}` never ends, so loop() never returns and the board stops answering the serial "
                       "protocol; let loop() return (it runs again) and keep state in globals")
        for match in re.finditer(r"\bSerial\s*\.\s*begin\s*\(", code):
            add(match.start(), "a second `Serial.begin`: TinymlBegin() opens the port at kSerialBaud; delete it")
        for match in re.finditer(r"\bSerial\s*\.\s*(print|println|printf|write)\s*\(\s*(F\s*\(\s*)?\"TINYML ",
                                 text_code):
            add(match.start(), f"prints a line starting with \"{RESERVED_PREFIX}\", the prefix the serial protocol "
                               "reserves for its own answers; start it with something else")
        for match in _INCLUDE.finditer(text_code):
            if SKELETON_HEADER.match(match["header"].strip()):
                add(match.start(), f"`#include <{match['header']}>`: delete the include — the skeleton already "
                                   "includes the TFLite Micro library and the model (tinyml_model.h)")
        for index, message in _input_writes(code, text, input_is_float):
            add(index, message)
    order = {name: position for position, name in enumerate(app)}
    return sorted(found, key=lambda finding: (order[finding.region], finding.line or 0))


def _constants(text: str) -> dict[str, float]:
    """Numeric `#define NAME 1000` and `const ... NAME = 1000;` values of the glue, for delays written with a name."""
    code = masked(text, strings=False)
    values = {}
    for match in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+\(?([0-9.]+)[uUlLfF]*\)?[ \t]*$", code, re.M):
        values[match[1]] = float(match[2])
    for match in re.finditer(r"\bconst(?:expr)?\b[^;=(){}]*?\b(\w+)\s*=\s*\(?([0-9.]+)[uUlLfF]*\)?\s*;", code):
        values[match[1]] = float(match[2])
    return values


def _value(argument: str, constants: Mapping[str, float]) -> float | None:
    argument = argument.strip().strip("()").strip()
    number = re.fullmatch(r"([0-9.]+)[uUlLfF]*", argument)
    if number:
        try:
            return float(number[1])
        except ValueError:
            return None
    return constants.get(argument)


def _long_waits(code: str, text: str, constants: Mapping[str, float]) -> list[tuple[int, str]]:
    found = []
    for match in re.finditer(r"\b(delay|delayMicroseconds)\s*\(", code):
        start = match.end() - 1
        argument = text[start + 1:closing(code, start)]
        value = _value(argument, constants)
        if value is None:
            continue
        milliseconds = value if match[1] == "delay" else value / 1000
        if milliseconds >= MAX_WAIT_MS:
            found.append((match.start(), f"`{match[1]}({argument.strip()})` blocks loop() for {milliseconds:g} ms, "
                                         "and the board answers the notebook's serial requests only between loop() "
                                         "calls; time it with millis() instead: `static unsigned long last = 0; if "
                                         "(millis() - last < 1000) return; last = millis();`"))
    return found


def _halting_loops(code: str) -> list[tuple[int, str]]:
    """`while (1);`, `while (true) {...}` and `for (;;) {...}` whose body has no break or return."""
    found = []
    for match in re.finditer(r"\b(while\s*\(\s*(?:1|true)\s*\)|for\s*\(\s*;\s*;\s*\))", code):
        after = match.end()
        rest = code[after:].lstrip()
        body_start = after + (len(code[after:]) - len(rest))
        if rest.startswith("{"):
            body = code[body_start:closing(code, body_start) + 1]
        else:
            end = code.find(";", body_start)
            body = code[body_start:end + 1 if end >= 0 else len(code)]
        if not re.search(r"\b(break|return|goto)\b", body):
            found.append((match.start(), re.sub(r"\s+", " ", match[1]) + (";" if body.strip() == ";" else " {...}")))
    return found


def _input_writes(code: str, text: str, input_is_float: bool) -> list[tuple[int, str]]:
    """Writes into the model's input that bypass SetInput (and its quantization)."""
    found = []
    for match in re.finditer(r"(->|\.)\s*data\s*\.\s*(int8|uint8|int16|int32|f|raw|data)\s*\[[^\]]*\]\s*=(?!=)", code):
        found.append((match.start(), f"writes the tensor's memory directly (`{text[match.start():match.end()]}`): "
                                     f"the skeleton owns the interpreter; use {SET_INPUT}, which quantizes when the "
                                     "input is int8"))
    for match in re.finditer(r"(->|\.)\s*input\s*\(\s*\d*\s*\)", code):
        found.append((match.start(), "reaches the interpreter's input tensor; the skeleton owns the interpreter: "
                                     f"write inputs with {SET_INPUT}"))
    if input_is_float:
        for match in re.finditer(r"\bModelInput\s*\(\s*\)", code):
            found.append((match.start(), "ModelInput() is nullptr for this model: its input is float32 "
                                         f"(kInputIsFloat); write inputs with {SET_INPUT}"))
        return found
    pointers = {match[1] for match in re.finditer(r"\b(\w+)\s*=\s*ModelInput\s*\(\s*\)", code)}
    targets = [r"\bModelInput\s*\(\s*\)"] + [rf"(?<![\w.>]){re.escape(name)}" for name in sorted(pointers)]
    for target in targets:
        for match in re.finditer(target + r"\s*\[[^\]]*\]\s*=(?!=)", code):
            end = code.find(";", match.end())
            value = text[match.end():end if end >= 0 else len(text)]
            if "QuantizeInput" not in value:
                found.append((match.start(), f"writes a value into ModelInput() without QuantizeInput "
                                             f"(`{text[match.start():match.end()].strip()} {value.strip()}`): the "
                                             f"input is int8; use {SET_INPUT} with the real value"))
    return found


__all__ = ["GlueFinding", "MAX_WAIT_MS", "RESERVED_PREFIX", "SKELETON_HEADER", "check_glue"]
