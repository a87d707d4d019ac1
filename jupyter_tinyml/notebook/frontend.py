"""Which kind of frontend runs the cell: it decides where generated code can go.

Why detect: set_next_input (the fallback writer) is a request a frontend may ignore. JupyterLab, Notebook 7 and
VS Code honour it; headless runners (nbclient, and so nbconvert --execute and papermill) drop it silently, and a
terminal IPython puts the text in its next prompt, not "below". Telling the person "inserted below" there loses
their code. The signs are in the protocol itself, not in configuration:

- no kernel at all: a terminal IPython (TerminalInteractiveShell has no `kernel`);
- a kernel whose current execute request says `allow_stdin: false`: nobody is there to answer input(), which
  is what nbclient sends (it sets `allow_stdin = False` on its client); every interactive frontend sends true.
"""
from __future__ import annotations

import enum
from typing import Any


class Frontend(enum.Enum):
    """Where the code of one magic can go."""

    INTERACTIVE = "interactive"  # a notebook frontend: cells can be inserted below
    HEADLESS = "headless"  # nbclient, nbconvert --execute, papermill: nothing is inserted, outputs are kept
    TERMINAL = "terminal"  # terminal IPython: the next prompt, no cells


def frontend_of(shell: Any) -> Frontend:
    """The kind of frontend running the current cell of `shell`."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return Frontend.TERMINAL
    try:
        request = kernel.get_parent("shell")
    except (AttributeError, TypeError):  # an ipykernel before 6 keeps no parent: assume a person is there
        return Frontend.INTERACTIVE
    content = request.get("content", {}) if isinstance(request, dict) else {}
    if content.get("allow_stdin") is False:
        return Frontend.HEADLESS
    return Frontend.INTERACTIVE
