"""NotebookContext: what the notebook holds, summarised for a prompt.

Why summaries and not data: a prompt must stay small (a token budget, default ~2,000) and capture must cost
the same whether the namespace holds 2 MB or 2 GB, so nothing here copies or scans a whole object.
Secrets never enter: names or values that look like keys, tokens or passwords are dropped, and os.environ is
never read; recent cells and the last error are redacted (redaction.py), and the stages redact the whole
rendered prompt once more before it is sent.

Heavy libraries are recognised by the module their classes live in (``pandas.core.frame``, ``keras.src...``),
never imported here: a notebook that only holds numpy arrays must not pay for importing TensorFlow.

The summaries themselves live in summaries.py and the secret filter in redaction.py; both are re-exported
here, so `from jupyter_tinyml.notebook.context import summarize, is_secret, ...` keeps working.
"""
from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .failures import error_line
from .redaction import REDACTED, SECRET_SCAN_CHARS, is_secret, redact
from .summaries import (
    MAX_LINE_CHARS,
    SAMPLE_COLUMNS,
    SAMPLE_ELEMENTS,
    SAMPLE_ROWS,
    VariableSummary,
    clip_line,
    summarize,
)

__all__ = [
    "MAX_CELLS",
    "MAX_CELL_LINES",
    "MAX_ERROR_LINES",
    "MAX_LINE_CHARS",
    "RECENT_CELL_BONUS",
    "REDACTED",
    "REQUEST_BONUS",
    "SAMPLE_COLUMNS",
    "SAMPLE_ELEMENTS",
    "SAMPLE_ROWS",
    "NotebookContext",
    "VariableSummary",
    "capture",
    "capture_shell",
    "code_of",
    "estimate_tokens",
    "is_secret",
    "raw_inputs",
    "redact",
    "summarize",
]

MAX_CELLS = 5
MAX_CELL_LINES = 20
MAX_ERROR_LINES = 25
ERROR_REDACT_LINES = 100  # see _trim_error
# Names the IPython shell puts into the user namespace itself.
_SHELL_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
REQUEST_BONUS = 10.0
RECENT_CELL_BONUS = 0.5
CAPTURE_SECONDS = 3.0


@dataclass
class NotebookContext:
    """Everything a stage may tell the model, already filtered for secrets.

    `variables` holds every summary (recipes use them all); `render()` is what a prompt gets, cut to the budget.
    `recent_cells` are oldest first, trimmed and redacted; `dropped` is filled by `render()`.
    """

    variables: dict[str, VariableSummary] = field(default_factory=dict)
    recent_cells: list[str] = field(default_factory=list)
    last_error: str | None = None
    board: dict[str, Any] | None = None
    budget_tokens: int = 2000
    dropped: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The prompt text, cut to `budget_tokens`.

        Least relevant items go first: variables by relevance and cells by age, interleaved (an old cell
        weighs less than a data variable, the newest cell about as much); the last error is trimmed only when
        nothing else is left to drop. `dropped` records what was left out, least relevant first: variable
        names, cells as "cell -N" (N-th from the end), and "last_error: first N lines".
        """
        items = self._drop_order()
        board = _board_text(self.board)
        error_lines = (self.last_error or "").splitlines()
        # A trimmed error still shows the exception's own line: its last lines may be Keras' argument list.
        keep = error_line(self.last_error or "")

        def compose(n_dropped: int, n_error_lines: int) -> str:
            gone = items[:n_dropped]
            return self._compose({item.label for item in gone}, gone, (error_lines, n_error_lines, keep), board)

        def fits(text: str) -> bool:
            return estimate_tokens(text) <= self.budget_tokens

        n_dropped = _fewest(lambda k: fits(compose(k, len(error_lines))), len(items))
        n_lines = len(error_lines)
        while n_lines > (0 if keep else 1) and not fits(compose(n_dropped, n_lines)):
            n_lines -= 1
        self.dropped = [item.label for item in items[:n_dropped]]
        if n_lines < len(error_lines):
            self.dropped.append(f"last_error: first {len(error_lines) - n_lines} lines")
        return compose(n_dropped, n_lines)

    @property
    def token_count(self) -> int:
        """Estimated tokens of `render()` (see `estimate_tokens`)."""
        return estimate_tokens(self.render())

    def _drop_order(self) -> list[_Item]:
        """Every droppable block, least relevant first."""
        items = [_Item(s.relevance, s.name, _variable_block(s), "variable") for s in self.variables.values()]
        n = len(self.recent_cells)
        for age, source in enumerate(self.recent_cells):  # oldest first
            label = _cell_label(n - age)
            # 1.5 + up to 2: the oldest cell goes before scalars, the newest with the data variables.
            items.append(_Item(1.5 + 2.0 * (age + 1) / n, label, f"# {label}\n{source}", "cell"))
        return sorted(items, key=lambda item: item.score)  # stable: older cells before newer at equal scores

    def _compose(
        self, gone: set[str], gone_items: list[_Item], error: tuple[list[str], int, str], board: str
    ) -> str:
        error_lines, n_error_lines, keep = error
        variables = [_variable_block(s) for s in self.variables.values() if s.name not in gone]
        n = len(self.recent_cells)
        cells = [
            f"# {_cell_label(n - age)}\n{source}"
            for age, source in enumerate(self.recent_cells)
            if _cell_label(n - age) not in gone
        ]
        sections = []
        if variables:
            sections.append("## Variables (most relevant first)\n" + "\n".join(variables))
        if cells:
            sections.append("## Recent cells (oldest first)\n" + "\n\n".join(cells))
        if error_lines:
            sections.append("## Last error\n" + _tail(error_lines, n_error_lines, keep))
        if board:
            sections.append("## Target board\n" + board)
        note = _left_out_note(gone_items, len(error_lines) - n_error_lines)
        if note:
            sections.append(note)
        return "\n\n".join(sections)


@dataclass(frozen=True)
class _Item:
    """A block render() may drop: a variable or a recent cell."""

    score: float
    label: str
    block: str
    kind: str


def estimate_tokens(text: str) -> int:
    """Tokens `text` will cost, estimated as one per 4 characters (rounded up).

    Why a heuristic: the real count depends on the model's tokenizer, and loading one (tiktoken, litellm)
    costs more than the whole capture. English prose and Python code both average 3.5–4.5 characters per
    token with current BPE tokenizers, so 4 is close; budgets leave room for the error either way.
    """
    return math.ceil(len(text) / 4)


# --- capture -------------------------------------------------------------------------------------------------


def capture(
    namespace: Mapping[str, Any],
    *,
    recent_cells: Sequence[str] = (),
    last_error: str | None = None,
    board: dict | None = None,
    budget_tokens: int = 2000,
    request: str = "",
    max_cells: int = MAX_CELLS,
) -> NotebookContext:
    """Summarise a namespace (plus recent cells, the last error and the board) for a prompt.

    Skips private names (`_x`), IPython's own (In, Out, exit, quit, get_ipython), modules, os.environ and
    secrets. Relevance: data (arrays, frames, models, TFLite, paths) over scalars over the rest; a name the
    request mentions rises far above everything; one the recent cells use rises a little; bigger arrays a
    little. Cells keep their last `max_cells` holding code, each cut to 20 lines after the header of a generated
    cell and the one-cell fallback's `# %%` markers are taken out, with secret literals redacted; the error
    keeps its final 25 lines.
    """
    cells = _last_cells(recent_cells, max_cells)
    in_request, in_cells = _identifiers(request), _identifiers("\n".join(cells))
    summaries = []
    # Each summary is bounded (summaries.SUMMARY_SECONDS); the whole capture too: past CAPTURE_SECONDS the
    # rest of a namespace full of slow objects is left out rather than held up.
    give_up = time.monotonic() + CAPTURE_SECONDS
    for name, value in list(namespace.items()):
        if not isinstance(name, str) or name.startswith("_") or name in _SHELL_NAMES:
            continue
        if time.monotonic() > give_up:
            break
        summary = summarize(name, value)
        if summary is None:
            continue
        summary.relevance += REQUEST_BONUS * (name in in_request) + RECENT_CELL_BONUS * (name in in_cells)
        summaries.append(summary)
    summaries.sort(key=lambda s: (-s.relevance, s.name))
    return NotebookContext(
        variables={s.name: s for s in summaries},
        recent_cells=cells,
        last_error=_trim_error(last_error) if last_error else None,
        board=board,
        budget_tokens=budget_tokens,
    )


def capture_shell(
    shell: Any,
    *,
    last_error: str | None = None,
    board: dict | None = None,
    budget_tokens: int = 2000,
    request: str = "",
    n_cells: int = 5,
    running_cell: str | None = None,
) -> NotebookContext:
    """capture() over an IPython shell: its user namespace without the names IPython put there itself
    (`user_ns_hidden`, unless the user rebound them), and the last `n_cells` inputs holding code before the
    cell that is running now (`running_cell`, as IPython's pre_run_cell event saw it)."""
    hidden = getattr(shell, "user_ns_hidden", None) or {}
    missing = object()
    namespace = {k: v for k, v in list(shell.user_ns.items()) if hidden.get(k, missing) is not v}
    history = list(raw_inputs(shell))
    if history and running_cell is not None and history[-1].rstrip() == running_cell.rstrip():
        history.pop()  # the running cell (the magic itself) is the request, not context
    return capture(
        namespace,
        recent_cells=history,
        last_error=last_error,
        board=board,
        budget_tokens=budget_tokens,
        request=request,
        max_cells=n_cells,
    )


def raw_inputs(shell: Any) -> Sequence[str]:
    """The cells as the person typed them (magics as magics, not `get_ipython().run_cell_magic(...)`).

    Entry i is cell i; the running cell, when stored, sits at shell.execution_count.
    """
    manager = getattr(shell, "history_manager", None)
    raw = getattr(manager, "input_hist_raw", None)
    return raw if raw else shell.user_ns.get("In") or []


def _identifiers(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def _last_cells(sources: Sequence[str], n: int) -> list[str]:
    """The last n cells that hold code once generated headers are out, oldest first, each trimmed.
    Walks back from the end: a long history costs no more than its last few cells."""
    cells: list[str] = []
    for source in reversed(sources):
        if len(cells) >= n:
            break
        code = code_of(source) if isinstance(source, str) else ""
        if code.strip():
            cells.append(_trim_cell(code))
    return cells[::-1]


# The first line of a generated cell (cells.Provenance.header): "# tinyml prep · openai/gpt-4o · UNREVIEWED...".
_GENERATED_HEADER = re.compile(r"^# tinyml \S+ · .* · UNREVIEWED")
_PERCENT_MARKER = re.compile(r"^# %%(?:\s.*)?$")


def code_of(source: str) -> str:
    """A cell's code without what generation added around it: the header of a generated cell (its first line
    and the comment lines under it: check findings, dropped parts) and the one-cell fallback's `# %%` markers
    with its markdown parts (comments, not code), also once a reviewer deleted the header. Cells without
    either come back unchanged.

    Why: the recent-cells window is counted in lines, and those lines would fill it with no code in it."""
    body = source.strip("\n").splitlines()
    if body and _GENERATED_HEADER.match(body[0]):
        body.pop(0)
        while body and body[0].startswith("#") and not _PERCENT_MARKER.match(body[0]):
            body.pop(0)
    elif not any(_PERCENT_MARKER.match(line) for line in body):
        return source
    kept: list[str] = []
    in_markdown = False
    for line in body:
        if marker := _PERCENT_MARKER.match(line):
            in_markdown = "[markdown]" in marker.group(0)
            if kept and kept[-1].strip():
                kept.append("")  # the parts stay apart
            continue
        if not in_markdown:
            kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n")


def _trim_cell(source: str) -> str:
    """The first 20 lines, redacted, each line clipped (a pasted blob must not eat the budget)."""
    lines = source.strip("\n").splitlines()
    kept = _clean(lines[:MAX_CELL_LINES])
    if len(lines) > MAX_CELL_LINES:
        kept.append(f"# ... {len(lines) - MAX_CELL_LINES} more lines")
    return "\n".join(kept)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _trim_error(error: str) -> str:
    """The final 25 lines (where the exception usually is, and its own line ahead of them when a long message
    pushed it out), without terminal colours, redacted and clipped.

    Redaction reads the last ERROR_REDACT_LINES lines as one text before the tail is cut from them: a traceback
    quotes the failing cell, and a secret literal that opens above the kept tail (a triple-quoted string, a
    `password = (` spanning lines) is only recognised from its opening line."""
    lines = _ANSI.sub("", error).rstrip().splitlines()
    window = lines[-ERROR_REDACT_LINES:]
    cleaned = [""] * (len(lines) - len(window)) + _clean(window)  # the blanks keep the count of cut lines
    keep = "\n".join(_clean([error_line(error)]))
    return _tail(cleaned, MAX_ERROR_LINES, keep)


def _clean(lines: list[str]) -> list[str]:
    """Lines redacted, then clipped to MAX_LINE_CHARS. Redaction runs on lines pre-clipped to 4 KB, which keeps
    it cheap on a pasted megabyte-long line while any secret reaching the shown part is still whole."""
    redacted = redact("\n".join(clip_line(line, SECRET_SCAN_CHARS) for line in lines))
    return [clip_line(line) for line in redacted.splitlines()]


# --- rendering -----------------------------------------------------------------------------------------------


def _variable_block(summary: VariableSummary) -> str:
    lines = summary.text.splitlines() or [summary.name]
    return "\n".join(["- " + lines[0]] + ["  " + line.lstrip() for line in lines[1:]])


def _cell_label(from_end: int) -> str:
    return f"cell -{from_end}"


def _tail(lines: list[str], n: int, keep: str = "") -> str:
    """The last n lines, saying how many earlier ones were cut; `keep` (the exception's own line) first when
    it is not among them, so a cut error still says what it was."""
    if len(lines) <= n:
        return "\n".join(lines)
    kept = lines[len(lines) - n :]
    head = [keep] if keep and keep not in (line.strip() for line in kept) else []
    return "\n".join([*head, f"... ({len(lines) - n} earlier lines cut)", *kept])


def _board_text(board: dict[str, Any] | None) -> str:
    if not board:
        return ""
    return "\n".join(clip_line(f"{k}: {v}") for k, v in board.items())


def _left_out_note(gone: list[_Item], n_error_lines_cut: int) -> str:
    """One line saying what render() left out; dropped variables most relevant first, at most 10 names."""
    names = [item.label for item in reversed(gone) if item.kind == "variable"]
    n_cells = sum(item.kind == "cell" for item in gone)
    parts = []
    if names:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        parts.append(f"{len(names)} variable{'s' * (len(names) != 1)}: {shown}")
    if n_cells:
        parts.append(f"{n_cells} older cell{'s' * (n_cells != 1)}")
    if n_error_lines_cut:
        parts.append(f"{n_error_lines_cut} earlier lines of the error")
    return f"(left out for the token budget: {'; '.join(parts)})" if parts else ""


def _fewest(fits: Callable[[int], bool], n: int) -> int:
    """The smallest k in 0..n with fits(k), assuming fits is monotone (dropping more never grows the text);
    n when none fits. Binary search: a few renders instead of one per dropped item."""
    if fits(0):
        return 0
    low, high = 0, n  # fits(low) is False; fits(high) is assumed True (or nothing better exists)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle
    return high
