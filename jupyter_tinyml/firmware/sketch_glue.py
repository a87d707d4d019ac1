"""A whole Arduino sketch (what a model most often answers for firmware) taken apart into the skeleton's regions.

The glue — sensor includes, globals and helper functions, the bodies of setup() and loop() — goes into app-includes,
app-globals, app-setup and app-loop. What the skeleton owns is dropped, each drop said in one line: the TFLite
Micro includes and the model header, the model array, the tensor arena, the op resolver, the interpreter, its
error reporter and the code that builds it (GetModel, AllocateTensors, the schema check), Serial.begin (TinymlBegin
opens the port) and `while (!Serial)`.

Where the sketch's loop uses the interpreter in a way the skeleton's helpers say exactly, it is rewritten:
`interpreter->Invoke()` -> `RunModel()` (a `!= kTfLiteOk` test -> `!RunModel()`), `output->data.f[i]` ->
`DequantizeOutput(i)` and, when the firmware has SetInput, `input->data.f[i] = v;` -> `SetInput(i, v);`. Anything
else that still touches the interpreter (int8 arithmetic on the tensors) is kept as written: the compile check then
names it, and the model rewrites it with the helpers. Pure: text in, SketchGlue out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .cpp_text import Item, closing, items, masked
from .glue_checks import SKELETON_HEADER

_INCLUDE = re.compile(r"^#\s*include\s*[<\"](?P<header>[^>\"]+)[>\"]")
_FUNCTION = re.compile(r"^(?:template\s*<[^>]*>\s*)?(?P<type>[\w:*&<>,\s]+?)\b(?P<name>[A-Za-z_]\w*)\s*\("
                       r"(?P<args>[^{;]*)\)\s*(?:const\s*)?(?:noexcept\s*)?\{")
# What only the skeleton's own code touches (tinyml_model.cpp builds the interpreter from the model's exact parts).
_OWNED = re.compile(r"\btflite::|\bMicro(?:Interpreter|MutableOpResolver|ErrorReporter|Profiler)\b|\bAllOpsResolver\b|"
                    r"\bErrorReporter\b|\bGetModel\s*\(|\bAllocateTensors\b|\bTfLiteTensor\b|\bTfLiteStatus\b|"
                    r"\bTFLITE_SCHEMA_VERSION\b|\b(?:tensor_arena|kTensorArenaSize|TENSOR_ARENA_SIZE|kArenaSize|"
                    r"g_model|g_model_len|model_data|model_data_len|static_interpreter|static_resolver|"
                    r"micro_op_resolver|error_reporter|interpreter|tflInterpreter|tflModel|tflInputTensor|"
                    r"tflOutputTensor)\b")
_SERIAL_BEGIN = re.compile(r"^\s*Serial\s*\.\s*begin\s*\(")
_WAIT_SERIAL = re.compile(r"^\s*while\s*\(\s*!\s*Serial\s*\)")


@dataclass
class SketchGlue:
    """The regions taken from a sketch, and one line per thing dropped because the skeleton owns it."""

    app: dict[str, str]
    dropped: list[str] = field(default_factory=list)


def is_sketch(code: str) -> bool:
    """A whole Arduino sketch: it defines setup() or loop() itself."""
    return bool(re.search(r"\bvoid\s+(setup|loop)\s*\(\s*(void)?\s*\)\s*\{", masked(code)))


def glue_from_sketch(text: str, *, set_input: bool = True) -> SketchGlue:
    """Take a whole sketch apart into the four regions (see the module docstring).

    `set_input`: the firmware has SetInput(i, value), so float writes into the input tensor can be rewritten to it.
    """
    result = SketchGlue({"app-includes": "", "app-globals": "", "app-setup": "", "app-loop": ""})
    owned_names: set[str] = set()
    dropped_functions: set[str] = set()
    includes: list[str] = []
    globals_: list[str] = []
    bodies: dict[str, str] = {}
    for item in _flattened(items(text)):
        code = item.code
        include = _INCLUDE.match(code)
        function = _FUNCTION.match(masked(code, strings=True))
        if include:
            header = include["header"].strip()
            if SKELETON_HEADER.match(header):
                result.dropped.append(f"`#include <{header}>`: the skeleton includes TFLite Micro and the model")
            else:
                includes.append(code)
        elif function and function["name"] in ("setup", "loop") and "void" in function["type"]:
            body_start = masked(item.text).index("{", masked(item.text).find(function["name"]))
            bodies[function["name"]] = item.text[body_start + 1:closing(masked(item.text), body_start)]
        elif _OWNED.search(code) or _names_used(code, owned_names):
            if function:
                rewritten = _rewritten(item.text, owned_names, set_input)
                if not _OWNED.search(masked(rewritten, strings=True)):
                    globals_.append(rewritten.strip("\n"))
                    continue
                dropped_functions.add(function["name"])
                result.dropped.append(f"the function `{function['name']}()`: it sets up or runs the interpreter, "
                                      "which the skeleton owns")
                continue
            owned_names |= _declared_names(code)
            result.dropped.append(_why(code))
        else:
            globals_.append(item.text.strip("\n"))
    result.app["app-includes"] = "\n".join(includes)
    result.app["app-globals"] = "\n".join(globals_)
    for name in ("setup", "loop"):
        kept = []
        for statement in items(bodies.get(name, "")):
            code = statement.code
            if _SERIAL_BEGIN.match(code):
                result.dropped.append(f"`{_short(code)}`: TinymlBegin() opens the serial port")
                continue
            if _WAIT_SERIAL.match(code):
                result.dropped.append(f"`{_short(code)}`: it hangs a board without a serial monitor")
                continue
            calls = {match[1] for match in re.finditer(r"\b(\w+)\s*\(", code)}
            if calls & dropped_functions and re.fullmatch(r"\w+\s*\([^;]*\)\s*;", code):
                result.dropped.append(f"`{_short(code)}`: it called a dropped function")
                continue
            statement_text = _rewritten(statement.text, owned_names, set_input) if name == "loop" else statement.text
            if name == "setup" and (_OWNED.search(code) or _names_used(code, owned_names)):
                result.dropped.append(_why(code))
                continue
            kept.append(statement_text.strip("\n"))
        result.app[f"app-{name}"] = "\n".join(kept)
    return result


# Namespaces nested deeper than this stay whole: real sketches nest one or two, and each level is parsed again.
_NAMESPACE_DEPTH = 3


def _flattened(found: list[Item], depth: int = 0) -> list[Item]:
    """Top-level items, with the contents of a `namespace { ... }` block (the TFLite Micro examples' globals)
    taken out of it."""
    flat: list[Item] = []
    for item in found:
        code = masked(item.text)
        match = re.match(r"\s*namespace\s*\w*\s*\{", code) if depth < _NAMESPACE_DEPTH else None
        if match:
            start = match.end() - 1
            inner = item.text[start + 1:closing(code, start)]
            flat += _flattened(items(inner), depth + 1)
        else:
            flat.append(item)
    return flat


def _declared_names(code: str) -> set[str]:
    """Names a dropped declaration introduces (`TfLiteTensor* input = nullptr;` -> input), so later uses drop too."""
    head = re.split(r"[=({\[;]", masked(code, strings=True), maxsplit=1)[0]
    names = re.findall(r"\b([A-Za-z_]\w*)\s*$", head)
    return {name for name in names if name not in {"const", "static", "int", "float"}}


def _names_used(code: str, names: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(name)}\b", masked(code, strings=True)) for name in names)


def _why(code: str) -> str:
    """One line on a dropped piece: what it is, and that the skeleton has its own."""
    if re.search(r"(unsigned\s+char|uint8_t)\s+\w*\s*\[[^\]]*\]\s*(PROGMEM\s*)?=", code) and "0x" in code:
        what = "the model array: write_project writes the model"
    elif re.search(r"Resolver", code):
        what = "the op resolver: the skeleton registers the model's ops"
    elif re.search(r"ErrorReporter|error_reporter", code):
        what = "the error reporter: the skeleton reports on the serial line"
    elif re.search(r"MicroInterpreter", code):
        what = "the interpreter: the skeleton builds it (call RunModel())"
    elif re.search(r"arena|kTensorArenaSize", code, re.IGNORECASE):
        what = "the tensor arena: write_project measures it"
    else:
        what = "interpreter code: the skeleton runs the interpreter"
    return f"`{_short(code)}`: {what}"


def _short(code: str) -> str:
    flat = re.sub(r"\s+", " ", code).strip()
    if re.search(r"=\s*\{", flat):
        flat = flat[:flat.index("{")] + "{...};"
    return flat if len(flat) <= 70 else flat[:67] + "..."


def _rewritten(text: str, owned_names: set[str], set_input: bool) -> str:
    """The exact rewrites to the skeleton's helpers (module docstring); everything else as written."""
    interpreters = r"(?:\w*[iI]nterpreter|" + "|".join(map(re.escape, sorted(owned_names) or ["interpreter"])) + ")"
    invoke = rf"{interpreters}\s*(?:->|\.)\s*Invoke\s*\(\s*\)"
    text = re.sub(rf"{invoke}\s*!=\s*kTfLiteOk|kTfLiteOk\s*!=\s*{invoke}", "!RunModel()", text)
    text = re.sub(rf"{invoke}\s*==\s*kTfLiteOk|kTfLiteOk\s*==\s*{invoke}", "RunModel()", text)
    text = re.sub(invoke, "RunModel()", text)
    tensor_names = sorted(owned_names | {"input", "output"})
    tensors = "(?:" + "|".join(map(re.escape, tensor_names)) + rf"|{interpreters}\s*->\s*(?:input|output)\(\s*0\s*\))"
    text = re.sub(rf"\b{tensors}\s*->\s*data\s*\.\s*f\s*\[(?P<index>[^\]]+)\](?!\s*=[^=])",
                  lambda match: f"DequantizeOutput({match['index'].strip()})" if _is_output(match[0]) else match[0],
                  text)
    if set_input:
        text = re.sub(rf"\b{tensors}\s*->\s*data\s*\.\s*f\s*\[(?P<index>[^\]]+)\]\s*=(?!=)\s*(?P<value>[^;]+);",
                      lambda match: (f"SetInput({match['index'].strip()}, {match['value'].strip()});"
                                     if not _is_output(match[0]) else match[0]), text)
    return text


def _is_output(access: str) -> bool:
    return bool(re.match(r"\s*\w*(output|Output)\w*\b|.*->\s*output\(", access))


__all__ = ["SketchGlue", "glue_from_sketch", "is_sketch"]
