"""Upload by copying the image onto the board's USB drive: UF2 (RP2040 and other UF2 bootloaders, after a 1200-baud
touch when the drive is not mounted yet) and the ST-LINK's mbed drive on Nucleo boards ("mbed-copy")."""
from __future__ import annotations

import struct
import time
from pathlib import Path

from ...errors import BoardNotAttachedError, UploadError, WrongBoardError
from ..drives import copy_with_progress, find_volume, wait_for_volume
from ..ports import check_port
from ..reset import touch_into_bootloader
from ..results import UploadResult
from ..settings import POLL_S
from .job import UploadJob

UF2_MAGIC_START = (0x0A324655, 0x9E5D5157)
UF2_FLAG_FAMILY = 0x00002000


def uf2_family(data: bytes) -> tuple[int, int | None]:
    """(number of 512-byte blocks, family id or None) of a UF2 image; UploadError if it is not one."""
    if len(data) < 512 or len(data) % 512:
        raise UploadError(f"The image is not a UF2 file ({len(data)} bytes, not a whole number of 512-byte blocks) — "
                          "build again; the .uf2 sits next to the .bin in the build folder")
    magic0, magic1, flags, _, _, _, _, family = struct.unpack_from("<8I", data, 0)
    if (magic0, magic1) != UF2_MAGIC_START:
        raise UploadError("The image is not a UF2 file (no UF2 magic) — pass the .uf2 from the build folder")
    return len(data) // 512, family if flags & UF2_FLAG_FAMILY else None


def upload(job: UploadJob) -> UploadResult:
    board, method = job.board, job.method
    if method == "uf2":
        image = job.need(("uf2",))
        _, family = uf2_family(image.read_bytes())
        if family is not None and board.uf2_family is not None and family != board.uf2_family:
            raise WrongBoardError(f"{image.name} is built for UF2 family {family:#010x}, the {board.name} takes "
                                  f"{board.uf2_family:#010x} — build the project for board={board.id!r}")
    else:
        image = job.need(("bin", "hex"))
    volume = find_volume(board, job.volumes, method=method)
    if volume is None:
        detected = check_port(board, job.port, job.ports, method=method)
        if detected is None:
            raise BoardNotAttachedError(board.name, hint=board.bootloader_hint, drive=board.bootloader_volume)
        after = ""
        if method == "uf2":
            touch_into_bootloader(detected.port, job.reporter)
            after = " after the 1200-baud reset"
        volume = wait_for_volume(board, method, job.volumes, timeout=job.settings.bootloader_timeout, after=after)
        job.step(1, 1, "bootloader")
    job.say(f"Copying {image.name} to {volume}")
    written = copy_with_progress(image, volume / image.name, job.reporter, "copy")
    result = UploadResult(board=board.id, method=method, image=image, bytes=written, seconds=0.0, port=None,
                          upload_port=str(volume), command=["copy", str(image), str(volume)])
    if method == "mbed-copy":
        _check_stlink_result(job, volume, image.name, result)
    return job.come_back(result)


def _check_stlink_result(job: UploadJob, volume: Path, name: str, result: UploadResult) -> None:
    """The ST-LINK programs the chip, then re-mounts its drive without the copied file; a FAIL.TXT on the re-mounted
    drive says why it refused (one left from an earlier attempt does not count: it goes with the re-mount)."""
    timeout = job.settings.return_timeout
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (volume / name).exists():  # programmed (or refused) and re-mounted
            fail = volume / "FAIL.TXT"
            if fail.is_file():
                reason = " ".join(fail.read_text(encoding="utf-8", errors="replace").split())
                raise UploadError(f"The ST-LINK refused {name}: {reason} — build a .bin for the {job.board.name} "
                                  "and upload again (unplug and replug the board first)")
            return
        time.sleep(POLL_S)
    result.warnings.append(f"the {volume.name} drive still shows {name} after {timeout:g} s: the ST-LINK may not have "
                           "programmed it — unplug and replug the board and check the new firmware runs")


__all__ = ["UF2_FLAG_FAMILY", "UF2_MAGIC_START", "uf2_family", "upload"]
