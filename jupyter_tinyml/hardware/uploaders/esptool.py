"""Upload to an ESP32 with esptool's Python API (esptool 5: progress and log through its logger hook), or its command
line when only esptool 4 is installed."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .. import programs
from ...boards import Board, as_board
from ...errors import BootloaderError, ConfigError, UploadError, UploadTimeoutError, UploadToolError, WrongBoardError
from ..ports import check_port, port_error
from ..reset import ESP_USB_JTAG, esptool_reset_mode
from ..results import UploadResult
from .job import UploadJob, last_line

# The esptool flash layout of an Arduino ESP32 sketch when no merged image exists.
ESP_BOOTLOADER_OFFSET = {"esp32": 0x1000, "esp32s2": 0x1000}  # others (S3, C3, C6, H2): 0x0
ESP_PARTITIONS_OFFSET = 0x8000
ESP_BOOT_APP0_OFFSET = 0xE000
ESP_APP_OFFSET = 0x10000
ROM_BAUD = 115200  # the ROM bootloader's baud rate; the stub then switches to the board's upload_baud
CONNECT_ATTEMPTS = 3


def esptool_images(artifacts: dict[str, Path], board: Board | str) -> list[tuple[int, Path]]:
    """(flash offset, file) pairs for an Arduino/PlatformIO ESP32 build: the merged image at 0 when there is one,
    else bootloader, partition table, boot_app0 and the application at their standard offsets."""
    board = as_board(board)
    if "merged" in artifacts:
        return [(0x0, artifacts["merged"])]
    if "bin" not in artifacts:
        raise ConfigError("No .bin image among the build outputs: build the project first.")
    images = []
    if "bootloader" in artifacts:
        images.append((ESP_BOOTLOADER_OFFSET.get(board.esp_chip, 0x0), artifacts["bootloader"]))
    if "partitions" in artifacts:
        images.append((ESP_PARTITIONS_OFFSET, artifacts["partitions"]))
    if "boot_app0" in artifacts:
        images.append((ESP_BOOT_APP0_OFFSET, artifacts["boot_app0"]))
    images.append((ESP_APP_OFFSET, artifacts["bin"]))
    return images


def esptool_command(images: list[tuple[int, Path]], port: str, board: Board | str, *,
                    baud: int | None = None, before: str = "default-reset") -> list[str]:
    """The esptool command-line arguments equivalent to what `upload()` does through esptool's API (without the
    program name; `esptool.main(args)` takes them as they are). before: "usb-reset" for the chip's own
    USB-Serial/JTAG port, "default-reset" for a USB-serial bridge with the DTR/RTS auto-reset circuit."""
    board = as_board(board)
    chip = board.esp_chip or "auto"
    command = ["--chip", chip, "--port", port, "--baud", str(baud or board.upload_baud),
               "--before", before, "--after", "hard-reset", "write-flash", "-z"]
    for offset, path in images:
        command += [f"{offset:#x}", str(path)]
    return command


class ProgressLogger:
    """Routes esptool 5's logger (its documented hook for embedding) to the job's reporter: no prints."""

    def __init__(self, job: UploadJob, stage: str) -> None:
        self.job, self.stage = job, stage

    def make(self) -> Any:
        """An esptool TemplateLogger that forwards lines and progress (esptool is imported only here)."""
        from esptool.logger import TemplateLogger

        outer = self

        class Sink(TemplateLogger):
            def print(self, *args: Any, **kwargs: Any) -> None:
                text = "".join(str(a) for a in args).strip()
                if text.strip("."):  # esptool prints a dot per connection attempt
                    outer.job.say(text)

            def note(self, message: str) -> None:
                outer.job.say(f"Note: {message}")

            def warning(self, message: str) -> None:
                outer.job.say(f"Warning: {message}")

            def error(self, message: str) -> None:
                outer.job.say(f"Error: {message}")

            def stage(self, finish: bool = False) -> None:
                pass

            def progress_bar(self, cur_iter: int, total_iters: int, prefix: str = "", suffix: str = "",
                             bar_length: int = 30) -> None:
                outer.job.step(int(cur_iter), int(total_iters), outer.stage)

            def set_verbosity(self, verbosity: str) -> None:
                pass

        return Sink()


def upload(job: UploadJob) -> UploadResult:
    board = job.board
    images = esptool_images(job.artifacts, board)
    detected = check_port(board, job.port, job.ports, method="esptool")
    assert detected is not None  # check_port finds a port (or raises) for every method but the drive copies
    port = detected.port
    mode = esptool_reset_mode(detected.usb_id)
    command = esptool_command(images, port, board, before=mode)
    total = sum(path.stat().st_size for _, path in images)
    try:
        from esptool.cmds import attach_flash, detect_chip, reset_chip, run_stub, write_flash
        from esptool.logger import log
        from esptool.util import FatalError
    except ImportError:  # esptool 4: no public API with progress; run its command line
        return _upload_with_command_line(job, images, port, command, total)
    from esp_pylib.logger import EspLog

    previous = EspLog.instance
    log.set_logger(ProgressLogger(job, "write").make())
    import serial

    try:
        with detect_chip(port, ROM_BAUD, connect_mode=mode, connect_attempts=CONNECT_ATTEMPTS) as esp:
            chip = esp.CHIP_NAME.lower().replace("-", "")
            if board.esp_chip and chip != board.esp_chip:
                raise WrongBoardError(f"{port} has an {esp.CHIP_NAME}, not the {board.esp_chip.upper()} of a "
                                      f"{board.name} — pick the right board or port")
            esp = run_stub(esp)
            if board.upload_baud and board.upload_baud != ROM_BAUD and detected.usb_id != ESP_USB_JTAG:
                esp.change_baud(board.upload_baud)
            attach_flash(esp)
            write_flash(esp, [(offset, str(path)) for offset, path in images])
            reset_chip(esp, "hard-reset")
    except FatalError as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "connect" in message.lower() or "no serial data" in message.lower():
            raise BootloaderError(f"esptool could not reach the {board.name}'s bootloader on {port} ({message}) — "
                                  f"{job.recover}") from None
        raise UploadToolError("esptool", port, message, job.recover, state="the flash may be partly written") \
            from None
    except serial.SerialException as error:
        raise port_error(port, error) from None
    except OSError as error:
        raise UploadError(f"esptool lost {port} ({error}) — {job.recover}") from None
    finally:
        EspLog.instance = previous
    result = UploadResult(board=board.id, method="esptool", image=images[-1][1], bytes=total, seconds=0.0, port=None,
                          upload_port=port, command=["esptool", *command])
    return job.come_back(result)


def _upload_with_command_line(job: UploadJob, images: list[tuple[int, Path]], port: str, command: list[str],
                              total: int) -> UploadResult:
    timeout = job.settings.timeout
    run = programs.run([sys.executable, "-m", "esptool", *command], timeout=timeout, on_output=job.say)
    if run.timed_out:
        raise UploadTimeoutError("esptool", timeout, job.recover, output=run.output)
    if run.returncode != 0:
        raise UploadToolError("esptool", port, last_line(run.output), job.recover, output=run.output)
    result = UploadResult(board=job.board.id, method="esptool", image=images[-1][1], bytes=total, seconds=0.0,
                          port=None, upload_port=port, command=["esptool", *command], output=run.output)
    return job.come_back(result)


__all__ = ["ESP_APP_OFFSET", "ESP_BOOTLOADER_OFFSET", "ESP_BOOT_APP0_OFFSET", "ESP_PARTITIONS_OFFSET",
           "ProgressLogger", "esptool_command", "esptool_images", "upload"]
