"""Upload a built firmware image to a board: pick the uploader the board's catalogue entry names, run it, time it.

The uploaders (uploaders/: bossac, drive copies for UF2 and ST-LINK, esptool, arduino-cli; virtual/qemu.py for the
virtual board) each report progress through one Reporter, find the board again after it re-enumerates, and fail
with one line that says how to recover. Compiling is build.py's; this module takes what it made.

    built = build(project.root, "nano33ble")
    upload(built, "nano33ble", reporter=Reporter(progress=print), settings=UploadSettings(timeout=300))
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from ..boards import Board, as_board
from ..errors import BuildError, ConfigError
from .build import build_artifacts
from .drives import Volumes
from .ports import Ports, port_lister
from .reporter import Reporter
from .results import BuildResult, UploadResult
from .settings import UploadSettings
from .uploaders import arduino_cli, bossac, drive, esptool
from .uploaders.job import UploadJob
from .virtual import qemu

Image = BuildResult | str | os.PathLike[str]
"""What `upload()` takes: a BuildResult, an image file (.bin/.uf2/.hex/.elf), or the project folder build() wrote."""

UPLOADERS: dict[str, Callable[[UploadJob], UploadResult]] = {
    "bossac": bossac.upload,
    "uf2": drive.upload,
    "mbed-copy": drive.upload,
    "esptool": esptool.upload,
    "arduino-cli": arduino_cli.upload,
}

_IMAGE_KINDS = {".uf2": "uf2", ".hex": "hex", ".elf": "elf", ".bin": "bin"}


def resolve_image(image_or_project: Image, board: Board) -> tuple[dict[str, Path], Path | None]:
    """(artifacts, project dir) from a BuildResult, an image file or a project folder."""
    if isinstance(image_or_project, BuildResult):
        if not image_or_project.ok:
            raise BuildError(f"Nothing to upload: {image_or_project.headline()}", image_or_project.output)
        return dict(image_or_project.artifacts), image_or_project.project_dir
    path = Path(image_or_project)
    if path.is_file():
        kind = "merged" if path.name.endswith(".merged.bin") else _IMAGE_KINDS.get(path.suffix.lower())
        if kind is None:
            raise ConfigError(f"{path.name} is not a firmware image (.bin, .uf2, .hex): pass the build's image.")
        return {kind: path}, None
    if path.is_dir():
        return build_artifacts(path, board), path
    raise ConfigError(f"No firmware image or project at {path}: build the project first.")


def upload(image_or_project: Image, board: Board | str, port: str | None = None, *, method: str | None = None,
           settings: UploadSettings | None = None, reporter: Reporter | None = None, ports: Ports = None,
           volumes: Volumes = None) -> UploadResult:
    """Write a firmware image to the board and find it again afterwards.

    image_or_project: a BuildResult, an image file (.bin/.uf2/.hex), or the project folder build() wrote into.
    port: the board's serial port (None: the one attached board of this kind). method: override the catalogue's
    upload method ("bossac", "uf2", "esptool", "mbed-copy", "arduino-cli", "qemu": the virtual board).
    settings: timeouts and uploading programs (UploadSettings). reporter: receives progress (bytes or pages
    written) and the tools' output. ports (pyserial ListPortInfo objects, or a callable returning them) and
    volumes (folders to look for drives in) replace the system's, for tests.
    """
    board = as_board(board)
    method = method or board.upload
    reporter = reporter or Reporter()
    if method == "qemu":  # the virtual board: start QEMU; the result's port is its UART's pty
        return qemu.upload(image_or_project, board, reporter=reporter)
    artifacts, project = resolve_image(image_or_project, board)
    if method not in UPLOADERS:
        raise ConfigError(f"Unknown upload method {method!r}: use one of {', '.join(UPLOADERS)}.")
    job = UploadJob(board=board, method=method, artifacts=artifacts, project=project, port=port,
                    settings=settings or UploadSettings(), reporter=reporter, ports=port_lister(ports),
                    volumes=volumes)
    start = time.monotonic()
    result = UPLOADERS[method](job)
    result.seconds = time.monotonic() - start
    return result


__all__ = ["Image", "UPLOADERS", "resolve_image", "upload"]
