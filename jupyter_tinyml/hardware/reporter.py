"""Where a long hardware step reports to: progress (done, total, stage) and the tools' output lines.

One object carries both, as esptool's logger does, so an uploader or the virtual board takes one argument and a
caller (the DeployPanel, a test) wires a progress bar and a log in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .programs import OutputCallback

Progress = Callable[[int, int, str], None]
"""progress(done, total, stage): called after each step of a long operation (stage: "check", "write", ...)."""


@dataclass(frozen=True)
class Reporter:
    """progress(done, total, stage) and on_output(line), both optional: a step without a listener reports nothing."""

    progress: Progress | None = None
    on_output: OutputCallback | None = None

    def say(self, line: str) -> None:
        """One line of log (a tool's output, or what we are doing)."""
        if self.on_output is not None:
            self.on_output(line)

    def step(self, done: int, total: int, stage: str) -> None:
        """done of total units of `stage` ("bootloader", "write", "copy", "restart", "check")."""
        if self.progress is not None:
            self.progress(done, total, stage)


__all__ = ["Progress", "Reporter"]
