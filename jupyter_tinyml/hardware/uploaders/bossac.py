"""Upload with bossac (SAMD boards, Arduino's nRF52840 boards): the 1200-baud touch, then bossac on the bootloader's
port, with its page counter as progress."""
from __future__ import annotations

import glob
import os
import re
import shutil
from pathlib import Path

from .. import programs
from ...boards import Board, DetectedBoard, as_board
from ...errors import BoardNotAttachedError, BootloaderError, ToolNotFoundError, UploadTimeoutError, UploadToolError
from ..ports import check_port, ids_for, wait_for_port
from ..reset import touch_into_bootloader
from ..results import UploadResult
from .job import UploadJob, last_line

_PROGRESS = re.compile(r"(\d+)%\s*\((\d+)/(\d+) pages\)")


def bossac_command(image: str | os.PathLike[str], port: str, board: Board | str, *, bossac: str = "bossac",
                   verify: bool = True) -> list[str]:
    """The bossac line Arduino uses for the board: `--port P -U -i -e -w [-v] [--offset O] image -R`.

    `-e` erases from the offset, so a SAMD51 UF2 bootloader below its 0x4000 offset stays intact.
    """
    board = as_board(board)
    command = [bossac, f"--port={port}", "-U", "-i", "-e", "-w"]
    if verify:
        command.append("-v")
    if board.bossac_offset:
        command.append(f"--offset={board.bossac_offset:#x}")
    return command + [str(image), "-R"]


def bossac_path(explicit: str | os.PathLike[str] | None = None) -> str | None:
    """bossac to use: an explicit one, else the one arduino-cli installed with the board's core (Arduino's fork
    knows the nRF52840 bootloader, upstream BOSSA does not), else bossac on PATH."""
    if explicit is not None:
        return programs.find(explicit)
    home = Path.home()
    bundled = sorted(glob.glob(str(home / ".arduino15/packages/*/tools/bossac/*/bossac")) +
                     glob.glob(str(home / "Library/Arduino15/packages/*/tools/bossac/*/bossac")) +
                     glob.glob(str(home / "AppData/Local/Arduino15/packages/*/tools/bossac/*/bossac.exe")))
    if bundled:
        return bundled[-1]
    return shutil.which("bossac")


def enter_bootloader(job: UploadJob, detected: DetectedBoard | None) -> DetectedBoard:
    """The bootloader port: the given one if the board is already there, else after a 1200-baud touch."""
    board = job.board
    if detected is not None and detected.usb_id is not None and detected.usb_id in ids_for(board, "bootloader"):
        return detected
    if detected is None:
        raise BoardNotAttachedError(board.name, hint=board.bootloader_hint)
    touch_into_bootloader(detected.port, job.reporter)
    timeout = job.settings.bootloader_timeout
    boot = wait_for_port(board, "bootloader", timeout=timeout, ports=job.ports)
    if boot is None:
        raise BootloaderError(f"The {board.name} did not enter its bootloader within {timeout:g} s after the "
                              f"1200-baud reset on {detected.port} — {board.bootloader_hint}, then upload again "
                              "(pass the port it shows then; detect_boards() lists it)")
    job.step(1, 1, "bootloader")
    job.say(f"Bootloader on {boot.port}")
    return boot


def upload(job: UploadJob) -> UploadResult:
    board = job.board
    image = job.need(("bin",))
    program = bossac_path(job.settings.bossac)
    if program is None:
        install = board.arduino_install_hint() or "arduino-cli core install <the board's core>"
        raise ToolNotFoundError(f"bossac not found: run `{install}` (it installs Arduino's bossac) or install "
                                "BOSSA (Debian/Ubuntu: sudo apt install bossa-cli), then upload again")
    detected = check_port(board, job.port, job.ports, method="bossac")
    boot = enter_bootloader(job, detected)
    command = bossac_command(image, boot.port, board, bossac=program)

    def watch(line: str) -> None:
        job.say(line)
        match = _PROGRESS.search(line)
        if match:
            job.step(int(match.group(2)), int(match.group(3)), "write")

    run = programs.run(command, timeout=job.settings.timeout, on_output=watch)
    if run.timed_out:
        raise UploadTimeoutError("bossac", job.settings.timeout, job.recover, port=boot.port,
                                 state="the board is left in its bootloader with a partial sketch", output=run.output)
    if run.returncode != 0:
        raise UploadToolError("bossac", boot.port, f"exit {run.returncode}: {last_line(run.output)}", job.recover,
                              state="the board may hold a partial sketch", output=run.output)
    result = UploadResult(board=board.id, method="bossac", image=image, bytes=image.stat().st_size, seconds=0.0,
                          port=None, upload_port=boot.port, command=command, output=run.output)
    return job.come_back(result)


__all__ = ["bossac_command", "bossac_path", "enter_bootloader", "upload"]
