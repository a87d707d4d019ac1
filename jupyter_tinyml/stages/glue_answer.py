"""The application glue in a model's deploy answer, whatever shape the model gave it.

Three shapes are read, in this order, into the skeleton's regions (firmware.REGION_NAMES):
- Python with the `app` dict (the contract, prompts/deploy.md), read with ast, never run: string literals, implicit
  and `+` concatenation, triple quotes, `textwrap.dedent("...")`, and names bound to such strings in the same block;
- a whole Arduino sketch (it defines setup()/loop()), taken apart by firmware.sketch_glue, the skeleton's parts
  dropped and listed;
- fenced C++ parts named by their info string (```cpp app-setup), a comment (`// app-setup`, `// setup`), or a
  heading or label just above the fence ("### app-loop", "**Setup:**").
Anything else is `GlueAnswer.unreadable` with one line saying why, which the deploy reader sends back with the
contract. Pure: the answer's text in, a GlueAnswer out.
"""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field

from ..firmware.sketch_glue import glue_from_sketch, is_sketch

PYTHON = {"python", "py", "python3", "ipython", "ipython3"}
CPP = {"cpp", "c++", "c", "arduino", "ino", "h", "hpp", "cc", "cxx"}
_FENCE = re.compile(r"^[ \t]*(?P<tick>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$", re.MULTILINE)
_WORDS = {"include": "app-includes", "includes": "app-includes", "headers": "app-includes", "header": "app-includes",
          "global": "app-globals", "globals": "app-globals", "declarations": "app-globals",
          "global variables": "app-globals",
          "setup": "app-setup", "loop": "app-loop"}
_REGION_WORD = re.compile(r"\b(?:app[-_ ]?)?(includes?|headers?|globals?|declarations|setup|loop)\b(?:\s*\(\s*\))?",
                          re.IGNORECASE)
_COMMENT_NAME = re.compile(r"^[ \t]*//[ \t\-=#*>]*(?:(?:in|inside|into|add|to|for|the|put)\s+)*(?:tinyml:)?"
                           r"(?:app[-_ ]?)?(includes?|headers?|global variables|globals?|declarations|setup|loop)"
                           r"(?:\s*\(\s*\))?(?:[ \t]+(?:region|section|code|part|function|body))?[ \t\-=*:<.]*$",
                           re.IGNORECASE | re.MULTILINE)
_MARKER_LINE = re.compile(r"^[ \t]*//[ \t]*(>>>|<<<)[ \t]*tinyml:.*$\n?", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """A fenced block: its language (lower case, "" when untagged), the rest of the info string, the code, and the
    prose just above it."""

    language: str
    label: str
    code: str
    before: str


@dataclass
class GlueAnswer:
    """What an answer holds: `app` (region -> C++; None when unreadable), the shape it came in, what was dropped
    from a whole sketch, and why it could not be read (`unreadable`), or that its `app` is not literal."""

    app: dict[str, str] | None
    form: str = ""
    dropped: list[str] = field(default_factory=list)
    unreadable: str = ""
    partial: bool = False  # named parts: regions not named keep what they held
    python: str = ""  # the Python block the app came from (its board/labels may matter)


def blocks(answer: str) -> list[Block]:
    """The fenced blocks of an answer, in order; an unclosed last fence runs to the end (a cut answer)."""
    found = []
    position, prose_start = 0, 0
    while True:
        opening = _FENCE.search(answer, position)
        if opening is None:
            break
        tick = opening["tick"]
        closing = re.compile(rf"^[ \t]*{re.escape(tick[0])}{{{len(tick)},}}[ \t]*$", re.MULTILINE)
        end = closing.search(answer, opening.end())
        code = answer[opening.end() + 1:end.start() if end else len(answer)]
        info = opening["info"].strip().split(None, 1)
        language = info[0].lower() if info else ""
        label = info[1] if len(info) > 1 else ""
        if language and language not in PYTHON | CPP and _REGION_WORD.fullmatch(language):
            language, label = "", info[0]  # ```app-setup
        found.append(Block(language, label, code, answer[prose_start:opening.start()]))
        position = prose_start = end.end() if end else len(answer)
        if end is None:
            break
    return found


def read_glue(answer: str) -> GlueAnswer:
    """The glue of an answer in any of the shapes of the module docstring."""
    found = blocks(answer)
    python = [block for block in found if block.language in PYTHON or (not block.language and _is_python(block.code))]
    for block in reversed(python):
        read = _python_app(block.code)
        if read is not None:
            return read
    cpp = [block for block in found if block not in python and (block.language in CPP or not block.language)]
    if not cpp:
        what = "Python without an `app` dict or a write_project call" if python else "no fenced code"
        return GlueAnswer(None, unreadable=f"the answer held {what}")
    sketches = [block for block in cpp if is_sketch(block.code)]
    if sketches:
        source = sketches[0].code if len(sketches) == 1 and len(cpp) == 1 else "\n".join(
            _without_markers(block.code) for block in cpp)
        taken = glue_from_sketch(source, set_input=set_input_available())
        return GlueAnswer(taken.app, form="a whole Arduino sketch", dropped=taken.dropped)
    app: dict[str, str] = {}
    for block in cpp:
        for name, code in _named_parts(block).items():
            app[name] = (app[name] + "\n" + code) if name in app else code
    if not app:
        return GlueAnswer(None, unreadable="its C++ names no region: neither an info string (```cpp app-setup), "
                                           "a comment (// app-setup) nor a heading says which part is which")
    return GlueAnswer(app, form="named C++ parts", partial=True)


def set_input_available() -> bool:
    """Whether the firmware's helpers include SetInput(i, value) (the whole-sketch rewrite uses it)."""
    from ..firmware.skeleton import template

    return "SetInput(" in template("tinyml_model.h")


def _is_python(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return bool(re.search(r"\bapp\b|\bwrite_project\b", code))


def _without_markers(code: str) -> str:
    return _MARKER_LINE.sub("", code)


def _named_parts(block: Block) -> dict[str, str]:
    """Region -> code of one C++ block: its info string, else comment lines naming parts inside it, else the
    heading or label just above the fence."""
    code = block.code
    named = region_of(block.label) if block.label else None
    if named:
        return {named: _without_markers(code).strip("\n")}
    starts = list(_COMMENT_NAME.finditer(code))
    if starts:
        parts: dict[str, str] = {}
        preamble = code[:starts[0].start()].strip()
        for index, match in enumerate(starts):
            end = starts[index + 1].start() if index + 1 < len(starts) else len(code)
            name = _WORDS[match[1].lower()]
            text = _without_markers(code[match.end():end]).strip("\n")
            parts[name] = (parts[name] + "\n" + text) if name in parts else text
        if preamble and not _MARKER_LINE.fullmatch(preamble + "\n"):
            label = _label_above(block.before)
            if label:
                parts[label] = preamble + ("\n" + parts[label] if label in parts else "")
        return {name: text for name, text in parts.items() if text.strip() or name in parts}
    label = _label_above(block.before)
    return {label: _without_markers(code).strip("\n")} if label else {}


def _label_above(prose: str) -> str | None:
    """The region a heading or label right above a fence names ("### app-loop", "**Setup:**", "In loop():")."""
    lines = [line.strip() for line in prose.strip().splitlines() if line.strip()]
    if not lines or len(lines[-1]) > 80:
        return None
    return region_of(lines[-1])


def region_of(text: str) -> str | None:
    """The one region a short text names, or None (none, or several)."""
    names = {_WORDS[match[1].lower()] for match in _REGION_WORD.finditer(text)}
    return names.pop() if len(names) == 1 else None


# ---- the Python form -----------------------------------------------------------------------------------------
class NotLiteral(Exception):
    """The `app` dict holds something that is not a plain string (a variable, an f-string, a call)."""


def _python_app(code: str) -> GlueAnswer | None:
    """The app of a Python block: `app = {...}` or write_project(..., app={...}); a write_project call without app
    is the serial-driven default ({}); None when the block has neither."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    strings: dict[str, str] = {}
    found: ast.expr | None = None
    calls = False
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "app":
                found = node.value
                continue
            try:
                strings[name] = _string(node.value, strings)
            except NotLiteral:
                pass
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node) == "write_project":
            calls = True
            for keyword in node.keywords:
                if keyword.arg == "app" and not (isinstance(keyword.value, ast.Name) and keyword.value.id == "app"):
                    found = keyword.value
    if found is None:
        return GlueAnswer({}, form="Python, serial-driven default (no app)", python=code) if calls else None
    try:
        return GlueAnswer(_dict(found, strings), form="Python with the app dict", python=code)
    except NotLiteral as reason:
        return GlueAnswer(None, form="Python with the app dict", unreadable=f"its `app` is not literal: {reason}",
                          python=code)


def _called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _dict(node: ast.expr, strings: dict[str, str]) -> dict[str, str]:
    if isinstance(node, ast.Call) and _called(node) == "dict" and not node.args:
        return {str(keyword.arg): _string(keyword.value, strings) for keyword in node.keywords}
    if not isinstance(node, ast.Dict):
        raise NotLiteral("`app` must be a dict literal")
    app = {}
    for key, value in zip(node.keys, node.values):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            raise NotLiteral("its keys must be the region names as strings")
        app[key.value] = _string(value, strings)
    return app


def _string(node: ast.expr, strings: dict[str, str]) -> str:
    """A str from a literal: constants, `+`, textwrap.dedent(...)/dedent(...), .strip(), names bound to literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _string(node.left, strings) + _string(node.right, strings)
    if isinstance(node, ast.Name) and node.id in strings:
        return strings[node.id]
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        if _called(node) == "dedent":
            return textwrap.dedent(_string(node.args[0], strings))
    if isinstance(node, ast.Call) and not node.args and isinstance(node.func, ast.Attribute) and \
            node.func.attr in ("strip", "lstrip", "rstrip"):
        return str(getattr(_string(node.func.value, strings), node.func.attr)())
    raise NotLiteral(f"`{ast.unparse(node)[:60]}` is not a string literal")


__all__ = ["Block", "GlueAnswer", "blocks", "read_glue", "set_input_available"]
