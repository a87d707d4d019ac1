"""Remembers the running cell (kept out of the context; its id says where generated cells go) and the last
cell that failed (for %tinyml_fix)."""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class FailedCell:
    source: str
    error: str  # the traceback as plain text, frames inside IPython left out


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
        self.last = FailedCell(source=result.info.raw_cell if result.info else "", error=format_error(error))


def format_error(error: BaseException) -> str:
    """The traceback a person would read: user frames only, no colours."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if "/IPython/" not in frame.filename and "/ipykernel/" not in frame.filename
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return ANSI.sub("", "Traceback (most recent call last):\n" + "".join(lines)).rstrip()
