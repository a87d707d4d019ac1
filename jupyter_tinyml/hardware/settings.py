"""Every timeout of the hardware room, and the settings one upload may change, in one place.

A timeout is how long we wait for something outside Python: a compiler, an uploader, a board re-enumerating on USB,
a board answering on serial, QEMU starting. Each is named here with why it is as long as it is, so a slow machine or
a slow board is fixed by changing one number, and the messages that quote a timeout quote the one that applied.
"""
from __future__ import annotations

from dataclasses import dataclass

# Building
BUILD_TIMEOUT_S = 900.0  # a first TFLite Micro build compiles the whole library: minutes on a laptop
VIRTUAL_BUILD_TIMEOUT_S = 300.0  # the C target for the virtual board: one gcc call, seconds
# A TFLite Micro sketch for the virtual board: its own files compile in seconds, but the first build on a machine
# also compiles the library into the cache (about 4 minutes on 2 cores, more on a busy machine).
TFLM_SKETCH_TIMEOUT_S = 300.0  # the sketch's own files and the link, once the library is cached
TFLM_SOURCE_TIMEOUT_S = 300.0  # one library source (the largest, flatbuffer_conversions.cpp, takes ~10 s)
TFLM_LOCK_TIMEOUT_S = 1800.0  # another process building the same library archive: wait for it this long
OUTPUT_DRAIN_S = 5.0  # after a program ended (or was killed), the time its last output may take to be read

# Uploading
UPLOAD_TIMEOUT_S = 180.0  # the uploading tool itself (bossac, esptool, arduino-cli)
BOOTLOADER_TIMEOUT_S = 10.0  # after a 1200-baud touch a bootloader port or drive appears within 1-3 s
RETURN_TIMEOUT_S = 15.0  # after the upload the sketch's serial port comes back within a few seconds
POLL_S = 0.1  # how often the port list and the mount points are looked at while waiting
TOUCH_READ_TIMEOUT_S = 0.1  # the 1200-baud touch opens and closes the port: nothing is read

# Serial link
READY_TIMEOUT_S = 5.0  # a board that resets when the port opens boots in well under a second
REQUEST_TIMEOUT_S = 5.0  # one inference of a microcontroller-sized model takes milliseconds to a second
WRITE_TIMEOUT_S = 5.0  # a board that stopped reading its serial input blocks our writes
READ_SLICE_S = 0.05  # one serial read waits at most this long, so deadlines are kept to within it
PORT_READ_TIMEOUT_S = 0.1  # open_port's default read timeout, for callers that read on their own
PROBE_INTERVAL_S = 1.0  # a board that printed READY before we listened is asked with PING this often (at most)
DRAIN_WAIT_S = 0.001  # lines already received are read without waiting for more
MONITOR_SLICE_S = 0.2  # the serial monitor wakes this often to see whether its time is up

# Virtual board (QEMU)
BOOT_TIMEOUT_S = 10.0  # QEMU starts and the firmware prints READY within a second or two
QEMU_STOP_TIMEOUT_S = 5.0  # QEMU quits at once when asked; after this it is killed
QMP_TIMEOUT_S = 5.0  # one answer on QEMU's control socket
QEMU_START_POLL_S = 0.01  # QEMU's control socket appears within milliseconds of its start


@dataclass(frozen=True)
class UploadSettings:
    """What a caller may change for one upload: how long to wait, and which uploading programs to run.

    timeout bounds the uploading tool; bootloader_timeout the wait for the bootloader port or drive after the
    1200-baud touch; return_timeout the wait for the sketch's serial port afterwards. arduino_cli and bossac: a
    path or name of the program (None: the one arduino-cli installed, else the one on PATH).
    """

    timeout: float = UPLOAD_TIMEOUT_S
    bootloader_timeout: float = BOOTLOADER_TIMEOUT_S
    return_timeout: float = RETURN_TIMEOUT_S
    arduino_cli: str | None = None
    bossac: str | None = None


__all__ = [
    "BOOTLOADER_TIMEOUT_S", "BOOT_TIMEOUT_S", "BUILD_TIMEOUT_S", "DRAIN_WAIT_S", "MONITOR_SLICE_S", "OUTPUT_DRAIN_S",
    "POLL_S", "PORT_READ_TIMEOUT_S", "PROBE_INTERVAL_S", "QEMU_START_POLL_S", "QEMU_STOP_TIMEOUT_S", "QMP_TIMEOUT_S",
    "READ_SLICE_S", "READY_TIMEOUT_S", "REQUEST_TIMEOUT_S", "RETURN_TIMEOUT_S", "TFLM_LOCK_TIMEOUT_S",
    "TFLM_SKETCH_TIMEOUT_S", "TFLM_SOURCE_TIMEOUT_S", "TOUCH_READ_TIMEOUT_S",
    "UPLOAD_TIMEOUT_S", "UploadSettings", "VIRTUAL_BUILD_TIMEOUT_S", "WRITE_TIMEOUT_S",
]
