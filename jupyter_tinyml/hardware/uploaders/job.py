"""What every uploader gets: one `UploadJob` (the board, the images, where to look, the settings and the reporter),
and what they share: picking the image kind they need, and finding the board again after the upload.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ...boards import Board
from ...errors import ConfigError
from ..drives import Volumes
from ..ports import PortLister, port_lister, wait_for_port
from ..reporter import Reporter
from ..results import UploadResult
from ..settings import UploadSettings


@dataclass
class UploadJob:
    """One upload: `artifacts` maps an image kind ("bin", "uf2", "merged", ...) to its file; `project` is the
    project folder when known (arduino-cli uploads a sketch folder); `port` the port the caller named, if any.
    ports and volumes replace the system's port list and mount points (tests)."""

    board: Board
    method: str
    artifacts: dict[str, Path]
    project: Path | None = None
    port: str | None = None
    settings: UploadSettings = field(default_factory=UploadSettings)
    reporter: Reporter = field(default_factory=Reporter)
    ports: PortLister = field(default_factory=lambda: port_lister(None))
    volumes: Volumes = None

    def say(self, line: str) -> None:
        self.reporter.say(line)

    def step(self, done: int, total: int, stage: str) -> None:
        self.reporter.step(done, total, stage)

    @property
    def recover(self) -> str:
        """What to do when an upload failed half-way: the board's way into its bootloader, then again."""
        return f"{self.board.bootloader_hint}, then upload again"

    def need(self, kinds: tuple[str, ...]) -> Path:
        """The first image of these kinds among the build's outputs; ConfigError when there is none."""
        for kind in kinds:
            if kind in self.artifacts:
                return self.artifacts[kind]
        wanted = " or ".join(f".{kind}" for kind in kinds)
        found = sorted(self.artifacts) or "the build outputs"
        raise ConfigError(f"Uploading to the {self.board.name} with {self.method} needs a {wanted} image; none among "
                          f"{found} — build the project for this board first.")

    def come_back(self, result: UploadResult) -> UploadResult:
        """Wait for the sketch's serial port; a board that does not come back is said, not hidden."""
        timeout = self.settings.return_timeout
        self.step(0, 1, "restart")
        found = wait_for_port(self.board, "application", timeout=timeout, ports=self.ports)
        if found is None:
            result.port = None
            result.warnings.append(f"the {self.board.name} did not come back as a serial port within {timeout:g} s — "
                                   "press its reset button once; if it still does not appear the firmware may crash "
                                   f"at start: {self.recover}")
        else:
            result.port = found.port
            self.step(1, 1, "restart")
        return result


def last_line(output: str) -> str:
    """A tool's last words, for a one-line message (its whole output goes with the exception)."""
    lines = [line.strip() for line in re.split(r"[\r\n]+", output) if line.strip()]
    return lines[-1][:160] if lines else "no output"


__all__ = ["UploadJob", "last_line"]
