"""Remembers the running cell (kept out of the context; its id says where generated cells go) and the last
cell that failed (for %tinyml_fix), and finds an error's own line in a traceback.

Why the error line needs finding: the last line of a traceback is often not the error. Keras appends
"Arguments received by Dense.call(): • kwargs=..." to the message, exception notes come after it, IPython's
verbose modes add variable lines; a status line or a trimmed prompt showing only the end shows none of the error.
"""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Any terminal escape, not only colours (IPython's themes also move the cursor in some modes).
_ANSI_ANY = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Text a library marked bold inside its message: Keras wraps the original error in \x1b[1m...\x1b[0m.
_BOLD = re.compile(r"\x1b\[1m(.*?)\x1b\[0m", re.DOTALL)
# A frame in a plain traceback ('  File "x.py", line 3, in f') or in IPython's ("Cell In[4], line 2", "File ~/x.py:3").
_FRAME = re.compile(r"^\s*(File [\"~/<]|File \S+:\d+|Cell In\[)")
# The exception's own line: an (optionally dotted) class name at the line start, then ": message" or nothing.
_EXCEPTION = re.compile(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?::\s(.*)|:?\s*)$")
_EXCEPTION_NAME = re.compile(r"(Error|Exception|Warning|Exit|Interrupt|Iteration|Fault|Failure)$")
# Keras' wrapper around the real message: a header line, then the message, then the call's arguments.
_KERAS_HEADER = re.compile(r"^Exception encountered when calling .*\.$")
_KERAS_ARGUMENTS = re.compile(r"^Arguments received by .*:$")
MAX_ERROR_LINE = 200


@dataclass
class FailedCell:
    source: str
    error: str  # the traceback as plain text, frames inside IPython left out
    exception_type: str = ""  # the exception's class name, e.g. "ValueError" ("" when not recorded)
    message: str = ""  # str(exception) as raised, terminal codes included (Keras marks its real message bold)

    @property
    def error_line(self) -> str:
        """The exception's own line ("ValueError: ..."), from the recorded exception when there is one,
        else found in the traceback text."""
        if self.exception_type:
            return exception_line(self.exception_type, self.message)
        return error_line(self.error)


class CellWatcher:
    """Listens to IPython's cell events: the cell running now, and the last one that failed with its traceback."""

    def __init__(self) -> None:
        self.last: FailedCell | None = None
        self.running: str | None = None
        # The notebook cell id of the running cell: JupyterLab sends it in the execute request and IPython 9
        # hands it on (ExecutionInfo.cell_id); None in a terminal or a frontend that does not send one.
        self.running_id: str | None = None

    def register(self, shell: Any) -> None:
        shell.events.register("pre_run_cell", self.pre_run_cell)
        shell.events.register("post_run_cell", self.post_run_cell)

    def unregister(self, shell: Any) -> None:
        shell.events.unregister("pre_run_cell", self.pre_run_cell)
        shell.events.unregister("post_run_cell", self.post_run_cell)

    def pre_run_cell(self, info: Any) -> None:
        # Only a stored cell sits in the history (a nested run from --run comes after the capture).
        self.running = info.raw_cell if info is not None and info.store_history else None
        if info is not None and info.store_history:
            self.running_id = getattr(info, "cell_id", None) or None

    def post_run_cell(self, result: Any) -> None:
        error = result.error_in_exec or result.error_before_exec
        if error is None or type(error).__name__ == "UsageError":
            return  # a magic's usage error is not a cell to repair
        self.last = FailedCell(
            source=result.info.raw_cell if result.info else "",
            error=format_error(error),
            exception_type=type(error).__name__,
            message=_message(error),
        )


def format_error(error: BaseException) -> str:
    """The traceback a person would read: user frames only, no colours."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if "/IPython/" not in frame.filename and "/ipykernel/" not in frame.filename
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return ANSI.sub("", "Traceback (most recent call last):\n" + "".join(lines)).rstrip()


def exception_line(exception_type: str, message: str) -> str:
    """"Type: message" on one line, the message reduced to its main line: the part a library marked bold
    (Keras), else the first line that is not a wrapper's header; clipped to 200 characters."""
    bold = [part for part in _BOLD.findall(message) if _ANSI_ANY.sub("", part).strip()]
    main = _main_line(_ANSI_ANY.sub("", bold[0] if bold else message))
    return _clip(f"{exception_type}: {main}" if main else exception_type)


def error_line(traceback_text: str) -> str:
    """The exception's own line in a traceback as text (plain, IPython's, with or without colours): the first
    line after the last frame that names an exception, its message reduced as in exception_line. The last
    non-empty line when no line names one; "" for an empty text."""
    lines = _ANSI_ANY.sub("", traceback_text).rstrip().splitlines()
    frames = [i for i, line in enumerate(lines) if _FRAME.match(line)]
    start = frames[-1] + 1 if frames else 0
    for i in range(start, len(lines)):
        match = _EXCEPTION.match(lines[i])
        if match and (match.group(2) is not None or _EXCEPTION_NAME.search(match.group(1))):
            rest = "\n".join([match.group(2) or "", *lines[i + 1 :]])
            return exception_line(match.group(1).rsplit(".", 1)[-1], rest)
    tail = [line.strip() for line in lines if line.strip()]
    return _clip(tail[-1]) if tail else ""


def _main_line(message: str) -> str:
    """The first meaningful line of a message: Keras' "Exception encountered when calling ..." header is
    skipped when more follows, and its "Arguments received by ..." section is never the answer."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) > 1 and _KERAS_HEADER.match(lines[0]) and not _KERAS_ARGUMENTS.match(lines[1]):
        lines = lines[1:]
    return lines[0] if lines else ""


def _message(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # a broken __str__ must not break the cell watcher
        return ""


def _clip(line: str) -> str:
    return line if len(line) <= MAX_ERROR_LINE else line[: MAX_ERROR_LINE - 3] + "..."
