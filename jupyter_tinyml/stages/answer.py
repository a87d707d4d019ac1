"""A model's answer as it comes: prose and fences in their order, and what a Python stage makes of each.

Models answer with a sentence, a fence, sometimes a second fence, an "Explanation" after the code and an
"expected output" block. `segments` splits any answer (every stage's reader may use it); `python_parts` says
which fences are code for a Python stage; `cells` keeps the order: prose before the code stays before, prose
between fences between, an explanation after; `check_cells` checks each code part on its own and names the
part in what it finds. `is_cut` and `join` serve the one continuation request of a cut answer (base.converse).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace
from typing import Iterable, Literal

from ..errors import NoPythonBlockError
from ..notebook.cells import GeneratedCell
from . import checks

# --- fences and prose -----------------------------------------------------------------------------------------

# CommonMark's fenced code blocks: three or more backticks or tildes, an info string whose first word is the
# language; the closing fence uses the same character, at least as many, and nothing else. Indentation is
# allowed (a fence inside a numbered list) and taken off the body's lines. The info string is taken whole and
# stripped in Python (`_info`): a lazy group before `[ \t]*$` backtracks quadratically on a long run of spaces.
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>`{3,}|~{3,})(?P<info>[^\n]*)$")
_CLOSE = re.compile(r"^[ \t]*(?P<marker>`{3,}|~{3,})[ \t]*$")


@dataclass(frozen=True)
class Fence:
    """One fenced block: its body, the info string after the opening marker, and whether a closing fence came."""

    body: str
    info: str = ""
    closed: bool = True

    @property
    def language(self) -> str:
        """The info string's first word, lower case: ```` ```Python title="x" ```` and ```` ```{python} ```` are python."""
        word = self.info.split()[0] if self.info.split() else ""
        return word.strip("{}.").lower()


@dataclass(frozen=True)
class Segment:
    """A stretch of an answer: prose (fence is None, text is the prose) or a fence (text is its body)."""

    text: str
    fence: Fence | None = None


def segments(answer: str) -> list[Segment]:
    """The answer as prose and fences, in order. A fence still open at the end is kept with closed=False."""
    if "```" not in answer and "~~~" not in answer:
        return _prose([answer.replace("\r\n", "\n")])  # no fence at all: no line needs a look
    found: list[Segment] = []
    prose: list[str] = []
    lines = answer.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        opening = _fence_line(_OPEN, lines[index])
        if opening is None or (opening["marker"][0] == "`" and "`" in _info(opening)):
            prose.append(lines[index])  # a backtick fence's info string holds no backtick: ```x``` is inline code
            index += 1
            continue
        found += _prose(prose)
        prose = []
        fence, index = _fence(lines, index + 1, opening)
        found.append(Segment(fence.body, fence))
    return found + _prose(prose)


def _fence_line(pattern: re.Pattern[str], line: str) -> re.Match[str] | None:
    """pattern.match(line) for lines that can be fences at all: a 1 MB line of blanks is turned away here
    instead of costing the regex a backtrack over every blank."""
    return pattern.match(line) if line.lstrip(" \t").startswith(("```", "~~~")) else None


def _info(opening: re.Match[str]) -> str:
    """A fence opening's info string without the blanks around it."""
    return opening["info"].strip(" \t")


def _prose(lines: list[str]) -> list[Segment]:
    text = "\n".join(lines).strip()
    return [Segment(text)] if text else []


def _fence(lines: list[str], index: int, opening: re.Match[str]) -> tuple[Fence, int]:
    """The fence opened just before lines[index]; returns it and the index after its closing line."""
    marker, indent = opening["marker"], len(opening["indent"].expandtabs(4))
    body: list[str] = []
    while index < len(lines):
        line = lines[index]
        closing = _fence_line(_CLOSE, line)
        if closing and closing["marker"][0] == marker[0] and len(closing["marker"]) >= len(marker):
            return Fence(_body(body), _info(opening), True), index + 1
        if marker[0] == "`" and line.rstrip().endswith(marker) and line.strip() != marker:
            # A closing fence glued to the last code line (`print(x)````): closed, the code kept.
            body.append(_dedent(line.rstrip()[: -len(marker)], indent))
            return Fence(_body(body), _info(opening), True), index + 1
        body.append(_dedent(line, indent))
        index += 1
    return Fence(_body(body), _info(opening), False), index


def _dedent(line: str, indent: int) -> str:
    taken = 0
    while taken < indent and taken < len(line) and line[taken] == " ":
        taken += 1
    return line[taken:]


def _body(lines: list[str]) -> str:
    text = "\n".join(lines).strip("\n")
    return text.rstrip() + "\n" if text.strip() else ""


def is_cut(answer: str) -> bool:
    """True when a fence is still open at the end: the answer stopped in the middle of a block."""
    found = segments(answer)
    return bool(found) and found[-1].fence is not None and not found[-1].fence.closed


# --- joining a continuation -----------------------------------------------------------------------------------

# An overlap this long is a repetition, not a coincidence; a shorter one counts only when it starts a line.
_LEAST_OVERLAP = 12
_OVERLAP_WINDOW = 4000


def join(first: str, more: str) -> str:
    """A cut answer and its continuation as one answer.

    A continuation that reopens the open fence (```` ```python ```` again, perhaps after "Continuing:") loses
    that opening; where it repeats the end of the first text (the cut line, or more) the repetition is dropped;
    one that starts the whole answer over replaces it.
    """
    head = first.strip()[:200]
    if len(head) >= 40 and more.lstrip().startswith(head):
        return more
    if is_cut(first):
        more = _without_reopening(first, more)
        # The open block started over ("Here is the complete code:" and the block again): it replaces the cut one.
        block = segments(first)[-1].text.strip()[:80]
        start = first.rfind(block) if len(block) >= 20 else -1
        if start >= 0 and more.lstrip().startswith(block):
            return first[:start] + more.lstrip()
    return first + more[_overlap(first, more):]


def _without_reopening(first: str, more: str) -> str:
    """`more` without a fence opening that only repeats the one still open in `first`."""
    lines = more.split("\n")
    for index, line in enumerate(lines[:4]):
        opening = _OPEN.match(line)
        if opening is None:
            continue
        before = [text.strip() for text in lines[:index] if text.strip()]
        if len(before) > 1 or (before and not _is_preamble(before[0])):
            return more  # code came first: this fence line closes the block, it reopens nothing
        rest = "\n".join(lines[index + 1 :])
        if _info(opening):
            return rest  # a tagged fence cannot close a block: it reopens
        # A bare fence may close the open block or reopen it: take the reading that leaves no fence open.
        return rest if is_cut(first + more) and not is_cut(first + rest) else more
    return more


def _is_preamble(line: str) -> bool:
    """"Continuing:", "Apologies, it was cut off. Here is the rest:" — a sentence before a reopened fence."""
    return line[:1].isalpha() and " " in line and line.endswith((":", ".", "!")) and not looks_like_code(line)


def _overlap(first: str, more: str) -> int:
    """How many leading characters of `more` repeat the end of `first` (0 when the continuation is exact)."""
    window = first[-_OVERLAP_WINDOW:]
    for size in range(min(len(window), len(more)), 0, -1):
        if not window.endswith(more[:size]):
            continue
        starts_line = size == len(first) or first[-size - 1] == "\n"
        if size >= _LEAST_OVERLAP or starts_line:
            return size
    return 0


# --- Python parts -------------------------------------------------------------------------------------------

PYTHON_TAGS = frozenset({"python", "py", "python3", "py3", "ipython", "ipython3", "jupyter"})
OUTPUT_TAGS = frozenset({"text", "txt", "output", "out", "console", "plaintext", "plain", "log", "stdout", "result"})
SHELL_TAGS = frozenset({"bash", "sh", "shell", "zsh", "fish", "shell-session", "powershell", "ps1", "cmd", "bat"})

PartKind = Literal["code", "prose", "output", "shell", "other"]

# Untagged code that does not parse is still code (with a syntax error to repair) when it begins like Python
# statements no program prints.
# Text longer than this is not handed to ast.parse to find out whether it is code: CPython's parser raises
# MemoryError on a few thousand bare words, and a 1 MB answer is no cell anyway (llm.MAX_ANSWER_CHARS).
MAX_PARSE_CHARS = 100_000
MAX_PARSE_LINES = 3_000

_CODE_START = re.compile(r"^(?:import\s+\w|from\s+[\w.]+\s+import\s|def\s+\w+\s*\(|class\s+\w+|@\w|async\s+def\s)")


@dataclass(frozen=True)
class Part:
    """One piece of an answer for a Python stage: code, prose, or a block kept as a note (output, shell, other)."""

    kind: PartKind
    text: str
    language: str = ""


def python_parts(answer: str) -> list[Part]:
    """The answer's parts in order. Raises NoPythonBlockError when none is Python code.

    Python-tagged fences are code; untagged ones are code when they read as Python statements and output
    otherwise; output and shell tags become notes. An answer without fences is code when it parses as such.
    """
    found = segments(answer)
    if not any(segment.fence for segment in found) and looks_like_python(answer):
        return [Part("code", answer.strip() + "\n")]
    parts = [_part(segment) for segment in found]
    parts = [part for part in parts if part.text.strip()]
    if not any(part.kind == "code" for part in parts):
        raise NoPythonBlockError(sorted({part.language for part in parts if part.kind == "other"}))
    return parts


def _part(segment: Segment) -> Part:
    fence = segment.fence
    if fence is None:
        return Part("prose", segment.text)
    language = fence.language
    if language in PYTHON_TAGS or (not language and looks_like_code(fence.body)):
        return Part("code", fence.body, language or "python")
    if not language or language in OUTPUT_TAGS:
        return Part("output", fence.body, language or "text")
    return Part("shell" if language in SHELL_TAGS else "other", fence.body, language)


def looks_like_python(text: str) -> bool:
    """Whole-answer code without fences: it must parse and contain at least one statement that is not a bare name."""
    if not text.strip() or not _parsable_size(text):
        return False
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return any(not isinstance(node, ast.Expr) or not isinstance(node.value, (ast.Name, ast.Constant))
               for node in tree.body)


def looks_like_code(body: str) -> bool:
    """An untagged block is code when it parses (IPython syntax allowed) to more than bare values — printed
    output such as `(60000, 28, 28)` or `0.98` parses too — or when it begins like Python statements."""
    tree = _parsed(body)
    if tree is None:
        first = next((line.strip() for line in body.splitlines() if line.strip()), "")
        return _CODE_START.match(first) is not None
    return any(not _is_printed(node) for node in tree.body)


def _is_printed(node: ast.stmt) -> bool:
    """A statement that is more likely printed output: a bare value, or `loss: 0.31` (an annotation alone)."""
    if isinstance(node, ast.AnnAssign):
        return node.value is None
    return isinstance(node, ast.Expr) and _is_value(node.value)


def _parsed(code: str) -> ast.Module | None:
    if not _parsable_size(code):
        return None
    try:
        return ast.parse(checks.python_source(code))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def _parsable_size(text: str) -> bool:
    """Small enough to parse for a yes/no (see MAX_PARSE_CHARS)."""
    return len(text) <= MAX_PARSE_CHARS and text.count("\n") < MAX_PARSE_LINES


def _is_value(node: ast.expr) -> bool:
    if isinstance(node, (ast.Name, ast.Constant)):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_value(element) for element in node.elts)
    if isinstance(node, ast.Dict):
        return all(_is_value(element) for element in [*node.values, *(k for k in node.keys if k is not None)])
    return isinstance(node, ast.UnaryOp) and _is_value(node.operand)


# --- cells --------------------------------------------------------------------------------------------------

_NOTE_LABELS = {"output": "Expected output:", "shell": "Shell commands (not run by tinyml):"}


def cells(parts: Iterable[Part]) -> list[GeneratedCell]:
    """Each code part a code cell; the prose and notes between code parts one markdown cell, where they stood."""
    made: list[GeneratedCell] = []
    markdown: list[str] = []
    for part in parts:
        if part.kind == "code":
            if markdown:
                made.append(GeneratedCell("\n\n".join(markdown), "markdown"))
                markdown = []
            made.append(GeneratedCell(part.text))
        elif part.kind == "prose":
            markdown.append(part.text.strip())
        else:
            label = _NOTE_LABELS.get(part.kind, "")
            if markdown and markdown[-1].rstrip().endswith(":"):
                label = ""  # the prose already introduces the block ("You should see:")
            block = f"```{part.language}\n{part.text.rstrip()}\n```"
            markdown.append(f"{label}\n\n{block}" if label else block)
    if markdown:
        made.append(GeneratedCell("\n\n".join(markdown), "markdown"))
    return made


# --- checks, part by part -----------------------------------------------------------------------------------

_LABEL_WIDTH = 40


def part_label(number: int, code: str) -> str:
    """How a message names a code part: its number and first line, e.g. part 2 (`history = model.fit(`)."""
    first = next((line.strip() for line in code.splitlines() if line.strip()), "")
    first = first.replace("`", "'")
    if len(first) > _LABEL_WIDTH:
        first = first[: _LABEL_WIDTH - 1].rstrip() + "…"
    return f"part {number} (`{first}`)"


def check_cells(made: list[GeneratedCell], known_names: Iterable[str]) -> list[checks.Problem]:
    """Check each code cell on its own, in order, and mark each with the blocking problems it still has.

    Names an earlier part binds count as known for the next; a part that does not parse still lends the
    names it plainly assigns, imports or defines, so its one syntax error is not repeated as undefined
    names further down. With two or more code parts every problem names its part.
    """
    known = set(known_names)
    code_cells = [cell for cell in made if cell.cell_type == "code"]
    problems: list[checks.Problem] = []
    for number, cell in enumerate(code_cells, start=1):
        found = checks.check_code(cell.source, known)
        if len(code_cells) > 1:
            label = part_label(number, cell.source)
            found = [replace(problem, part=label) for problem in found]
        cell.blocked_by = [str(problem) for problem in found if problem.blocking]
        problems += found
        known |= checks.likely_defined_names(cell.source)
    return problems


def read_python(answer: str, known_names: Iterable[str]) -> tuple[list[GeneratedCell], list[checks.Problem]]:
    """The cells of a Python stage's answer and what the checks found in them."""
    made = cells(python_parts(answer))
    return made, check_cells(made, known_names)
