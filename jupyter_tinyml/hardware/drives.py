"""USB drives a bootloader shows: the UF2 drive (RP2040, SAMD51, nRF52840 with Adafruit's bootloader) and the
ST-LINK's mbed drive (Nucleo). Found by what is on them (INFO_UF2.TXT naming the board, DETAILS.TXT), written with
progress and forced to the device.
"""
from __future__ import annotations

import os
import string
import sys
import time
from pathlib import Path
from typing import Iterable

from ..boards import Board, as_board
from ..errors import BootloaderError
from .reporter import Reporter
from .settings import POLL_S

Volumes = Iterable[str | os.PathLike[str]] | None
"""What `volumes=` takes: folders to look for drives in (None: the system's mount points)."""

COPY_CHUNK_BYTES = 64 * 1024


def mount_points() -> list[Path]:
    """Folders where USB drives get mounted on this system (Linux, macOS, Windows)."""
    roots: list[Path] = []
    if sys.platform == "win32":
        return [Path(f"{letter}:\\") for letter in string.ascii_uppercase[3:] if os.path.exists(f"{letter}:\\")]
    if sys.platform == "darwin":
        roots.append(Path("/Volumes"))
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    roots += [Path("/media") / user, Path("/run/media") / user, Path("/media"), Path("/mnt")]
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) > 2 and parts[2] in ("vfat", "msdos", "exfat", "fuseblk"):
                    roots.append(Path(parts[1].replace("\\040", " ")))
    except OSError:
        pass
    return list(dict.fromkeys(roots))


def _drive_matches(path: Path, board: Board, method: str) -> bool:
    try:
        if not path.is_dir():
            return False
        if method == "uf2":
            info = path / "INFO_UF2.TXT"
            if not info.is_file():
                return False
            text = info.read_text(encoding="utf-8", errors="replace")
            return path.name == board.bootloader_volume or f"Board-ID: {board.bootloader_volume}" in text
        return path.name == board.bootloader_volume and (
            (path / "DETAILS.TXT").is_file() or (path / "MBED.HTM").is_file())
    except OSError:
        return False


def find_volume(board: Board | str, roots: Volumes = None, *, method: str | None = None) -> Path | None:
    """The board's bootloader drive (UF2: a folder with INFO_UF2.TXT naming the board; ST-LINK: the NODE_... drive
    with DETAILS.TXT), looked for in each root and its sub-folders (default: the system's mount points)."""
    board = as_board(board)
    method = method or board.upload
    for root in (mount_points() if roots is None else [Path(r) for r in roots]):
        candidates = [root]
        try:
            candidates += sorted(child for child in root.iterdir() if child.is_dir())
        except OSError:
            pass
        for candidate in candidates:
            if _drive_matches(candidate, board, method):
                return candidate
    return None


def wait_for_volume(board: Board, method: str, volumes: Volumes, *, timeout: float, after: str = "") -> Path:
    """The bootloader drive once it is mounted; BootloaderError when it does not appear within timeout.
    after: what made it appear, for the message (" after the 1200-baud reset")."""
    deadline = time.monotonic() + timeout
    while True:
        volume = find_volume(board, volumes, method=method)
        if volume is not None:
            return volume
        if time.monotonic() >= deadline:
            raise BootloaderError(f"No {board.bootloader_volume} drive appeared within {timeout:g} s{after} — "
                                  f"{board.bootloader_hint}; if the drive shows but is not mounted, mount it (most "
                                  "desktops do on their own), then upload again")
        time.sleep(POLL_S)


def copy_with_progress(source: Path, target: Path, reporter: Reporter | None = None, stage: str = "copy",
                       chunk: int = COPY_CHUNK_BYTES) -> int:
    """Copy a file in chunks, reporting step(done, total, stage), and force it to the device (fsync)."""
    data = source.read_bytes()
    total = len(data)
    with open(target, "wb") as out:
        for start in range(0, total, chunk):
            out.write(data[start:start + chunk])
            if reporter is not None:
                reporter.step(min(start + chunk, total), total, stage)
        out.flush()
        os.fsync(out.fileno())
    return total


__all__ = ["COPY_CHUNK_BYTES", "Volumes", "copy_with_progress", "find_volume", "mount_points", "wait_for_volume"]
