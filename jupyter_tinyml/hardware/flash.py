"""Upload a built firmware image to a board over USB.

`upload()` writes the image the way the board's catalogue entry says: arduino-cli's own uploader, esptool's Python
API (ESP32), bossac after a 1200-baud touch (SAMD, Arduino nRF52840), or a copy onto the bootloader's USB drive
(UF2 on RP2040, the ST-LINK drive on Nucleo). Each reports progress through a callback, finds the board again after
it re-enumerates, and fails with one line that says how to recover.

This module is about the board on USB: ports, drives, bootloaders. Compiling lives in build.py; `build()`,
`BuildResult` and the other build names are re-exported here, so `flash.build(...)` works as before.

Tool command lines are built by pure functions (`arduino_cli_upload_command`, `bossac_command`, ...), so they can
be shown to the person and tested without the tools.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import string
import sys
import time
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Callable, Iterable

from . import programs as tools
from ..boards import (
    USB_SERIAL_CHIPS,
    Board,
    DetectedBoard,
    as_board,
    boards_with_usb_id,
    detect_boards,
    find_ports,
    format_usb_id,
)
from .build import (
    ARDUINO_CLI_INSTALL_URL,
    BUILD_TIMEOUT_S,
    PLATFORMIO_INSTALL,
    BuildResult,
    Diagnostic,
    arduino_cli_compile_command,
    build,
    build_artifacts,
    build_hint,
    find_sketch,
    missing_tools_message,
    parse_diagnostics,
    platformio_command,
    platformio_environment,
)
from ..errors import (
    BoardNotFoundError,
    BootloaderError,
    BuildError,
    ConfigError,
    ToolNotFoundError,
    UploadError,
    UploadTimeoutError,
    WrongBoardError,
)
from .serial_link import Progress, open_port, port_error
from .programs import OutputCallback

PortLister = Callable[[], Iterable[Any]]

UPLOAD_TIMEOUT_S = 180.0
BOOTLOADER_TIMEOUT_S = 10.0  # after a 1200-baud touch a bootloader port or drive appears within 1-3 s
RETURN_TIMEOUT_S = 15.0  # after the upload the sketch's serial port comes back within a few seconds
POLL_S = 0.1

# The esptool flash layout of an Arduino ESP32 sketch when no merged image exists.
ESP_BOOTLOADER_OFFSET = {"esp32": 0x1000, "esp32s2": 0x1000}  # others (S3, C3, C6, H2): 0x0
ESP_PARTITIONS_OFFSET = 0x8000
ESP_BOOT_APP0_OFFSET = 0xE000
ESP_APP_OFFSET = 0x10000
ESP_USB_JTAG = (0x303A, 0x1001)  # the chip's own USB port: baud rate means nothing, reset goes through USB
UF2_MAGIC_START = (0x0A324655, 0x9E5D5157)
UF2_FLAG_FAMILY = 0x00002000


# ------------------------------------------------------------------------------------------- results


@dataclass
class UploadResult:
    """What `upload()` did. `port` is where the board answers now (after re-enumeration), None when it did not
    come back as a serial port in time (then `warnings` says what to do)."""

    board: str
    method: str
    image: Path | None
    bytes: int
    seconds: float
    port: str | None
    upload_port: str | None = None
    command: list[str] = field(default_factory=list)
    output: str = ""
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        where = f"now on {self.port}" if self.port else "not seen again as a serial port"
        text = (f"Uploaded {self.bytes:,} bytes to the {self.board} with {self.method} in {self.seconds:.1f} s; "
                f"{where}")
        return "\n".join([text, *(f"  note: {warning}" for warning in self.warnings)])

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{escape(w)}</li>" for w in self.warnings)
        return f"<div><b>{escape(repr(self).splitlines()[0])}</b>{'<ul>' + notes + '</ul>' if notes else ''}</div>"


# ---------------------------------------------------------------------------------- pure functions


def arduino_cli_upload_command(sketch_dir: str | os.PathLike[str], board: Board | str, port: str, *,
                               arduino_cli: str = "arduino-cli",
                               input_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """`arduino-cli upload --fqbn <fqbn> --port <port> [--input-dir D] <sketch>` (arduino-cli does the touch)."""
    board = as_board(board)
    if not board.fqbn:
        raise ConfigError(f"The {board.name} has no arduino-cli FQBN in the catalogue: upload it with PlatformIO.")
    command = [arduino_cli, "upload", "--fqbn", board.fqbn, "--port", port]
    if input_dir is not None:
        command += ["--input-dir", str(input_dir)]
    return command + [str(sketch_dir)]


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


def uf2_family(data: bytes) -> tuple[int, int | None]:
    """(number of 512-byte blocks, family id or None) of a UF2 image; UploadError if it is not one."""
    import struct

    if len(data) < 512 or len(data) % 512:
        raise UploadError(f"The image is not a UF2 file ({len(data)} bytes, not a whole number of 512-byte blocks) — "
                          "build again; the .uf2 sits next to the .bin in the build folder")
    magic0, magic1, flags, _, _, _, _, family = struct.unpack_from("<8I", data, 0)
    if (magic0, magic1) != UF2_MAGIC_START:
        raise UploadError("The image is not a UF2 file (no UF2 magic) — pass the .uf2 from the build folder")
    return len(data) // 512, family if flags & UF2_FLAG_FAMILY else None


# ------------------------------------------------------------------------------------------ processes


def bossac_path(explicit: str | os.PathLike[str] | None = None) -> str | None:
    """bossac to use: an explicit one, else the one arduino-cli installed with the board's core (Arduino's fork
    knows the nRF52840 bootloader, upstream BOSSA does not), else bossac on PATH."""
    if explicit is not None:
        return tools.find(explicit)
    home = Path.home()
    bundled = sorted(glob.glob(str(home / ".arduino15/packages/*/tools/bossac/*/bossac")) +
                     glob.glob(str(home / "Library/Arduino15/packages/*/tools/bossac/*/bossac")) +
                     glob.glob(str(home / "AppData/Local/Arduino15/packages/*/tools/bossac/*/bossac.exe")))
    if bundled:
        return bundled[-1]
    return shutil.which("bossac")


# ------------------------------------------------------------------------------------ ports and drives


def _lister(ports: PortLister | Iterable[Any] | None) -> PortLister:
    if ports is None:
        from serial.tools import list_ports

        return lambda: list(list_ports.comports())
    if callable(ports):
        return ports
    fixed = list(ports)
    return lambda: fixed


def _same_port(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b) or os.path.basename(a) == b or a == os.path.basename(b)


def touch_1200(port: str) -> None:
    """The 1200-baud touch: open the port at 1200 baud with DTR low and close it. Arduino's USB stacks (SAMD,
    nRF52840 mbed, RP2040) take it as "reset into the bootloader"."""
    link = open_port(port, 1200, timeout=0.1, dtr=False)
    try:
        try:
            link.dtr = False
        except OSError:
            pass  # a pseudo-terminal has no modem lines; a real CDC port does
    finally:
        try:
            link.close()
        except Exception:  # the board may vanish the moment it sees the touch
            pass


def _ids_for(board: Board, mode: str) -> tuple[tuple[int, int], ...]:
    """USB ids that mean `mode`. A bootloader is recognised only by ids no sketch shows (else the sketch's own port
    would pass for it); a sketch by any of its ids (an ESP32-S3 sketch on the chip's USB-Serial/JTAG shows the same
    id as the ROM bootloader)."""
    if mode == "bootloader":
        only = tuple(i for i in board.usb_bootloader if i not in board.usb_app)
        return only or board.usb_bootloader
    return board.usb_app


def wait_for_port(board: Board | str, mode: str, *, timeout: float, ports: PortLister | Iterable[Any] | None = None,
                  poll: float = POLL_S) -> DetectedBoard | None:
    """The first port where `board` shows up in `mode` ("application" or "bootloader") within timeout, found by
    USB VID/PID (the port's name may change when the board re-enumerates); None if it does not appear."""
    board = as_board(board)
    lister = _lister(ports)
    wanted = _ids_for(board, mode)
    deadline = time.monotonic() + timeout
    while True:
        for detected in find_ports(board, lister()):
            if detected.usb_id in wanted:
                return detected
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


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


def find_volume(board: Board | str, roots: Iterable[str | os.PathLike[str]] | None = None, *,
                method: str | None = None) -> Path | None:
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


def copy_with_progress(source: Path, target: Path, progress: Progress | None, stage: str = "copy",
                       chunk: int = 64 * 1024) -> int:
    """Copy a file in chunks, reporting progress(done, total, stage), and force it to the device (fsync)."""
    data = source.read_bytes()
    total = len(data)
    with open(target, "wb") as out:
        for start in range(0, total, chunk):
            out.write(data[start:start + chunk])
            if progress is not None:
                progress(min(start + chunk, total), total, stage)
        out.flush()
        os.fsync(out.fileno())
    return total


# ----------------------------------------------------------------------------------------------- upload


def _resolve_image(image_or_project: Any, board: Board) -> tuple[dict[str, Path], Path | None]:
    """(artifacts, project dir) from a BuildResult, an image file or a project folder."""
    if isinstance(image_or_project, BuildResult):
        if not image_or_project.ok:
            raise BuildError(f"Nothing to upload: {image_or_project._headline()}", image_or_project.output)
        return dict(image_or_project.artifacts), image_or_project.project_dir
    path = Path(image_or_project)
    if path.is_file():
        kinds = {".uf2": "uf2", ".hex": "hex", ".elf": "elf", ".bin": "bin"}
        kind = "merged" if path.name.endswith(".merged.bin") else kinds.get(path.suffix.lower())
        if kind is None:
            raise ConfigError(f"{path.name} is not a firmware image (.bin, .uf2, .hex): pass the build's image.")
        return {kind: path}, None
    if path.is_dir():
        return build_artifacts(path, board), path
    raise ConfigError(f"No firmware image or project at {path}: build the project first.")


def _need(artifacts: dict[str, Path], kinds: tuple[str, ...], board: Board, method: str) -> Path:
    for kind in kinds:
        if kind in artifacts:
            return artifacts[kind]
    wanted = " or ".join(f".{kind}" for kind in kinds)
    raise ConfigError(f"Uploading to the {board.name} with {method} needs a {wanted} image; none among "
                      f"{sorted(artifacts) or 'the build outputs'} — build the project for this board first.")


def check_port(board: Board | str, port: str | None, ports: PortLister | Iterable[Any] | None = None, *,
               method: str | None = None) -> DetectedBoard | None:
    """The attached board to upload to: the given port checked against the board's USB ids, or the one attached
    board of that kind. BoardNotFoundError / WrongBoardError / ConfigError (several) with what to do.

    Returns None when no port is needed (a UF2 or ST-LINK drive can be written without one)."""
    board = as_board(board)
    method = method or board.upload
    listing = list(_lister(ports)())
    hint = board.bootloader_hint
    if port is None:
        found = find_ports(board, listing)
        if not found:
            if method in ("uf2", "mbed-copy"):
                return None  # maybe the drive is mounted already; the caller looks for it
            raise BoardNotFoundError(f"No {board.name} attached — plug it in with a data USB cable (charge-only "
                                     f"cables show nothing), or {hint} and retry")
        if len({entry.port for entry in found}) > 1:
            names = ", ".join(entry.port for entry in found)
            raise ConfigError(f"Several ports could be the {board.name} ({names}): pass port= to pick one.")
        return found[0]
    entry = next((info for info in listing if _same_port(info.device, port)), None)
    if entry is None:
        raise BoardNotFoundError(f"No serial port {port} — plug the {board.name} in (a data USB cable), or pick a "
                                 "port that detect_boards() lists")
    detected = detect_boards([entry])
    if not detected or detected[0].usb_id is None:
        return DetectedBoard(port=entry.device, vid=None, pid=None)  # a virtual port: nothing to check
    found_here = detected[0]
    usb_id = found_here.usb_id
    assert usb_id is not None
    if usb_id in board.usb_ids or usb_id in board.usb_serial_chips:
        return found_here
    others = boards_with_usb_id(usb_id)
    if others:
        other = others[0]
        raise WrongBoardError(f"{port} is {_a(other.name)} ({format_usb_id(usb_id)}), not {_a(board.name)} — pass "
                              f"board={other.id!r}, or the port of the {board.name}")
    if usb_id in USB_SERIAL_CHIPS and method != "esptool":
        raise WrongBoardError(f"{port} is a {USB_SERIAL_CHIPS[usb_id]} USB-serial chip, which {_a(board.name)} does "
                              "not have — pick the board's own port (detect_boards() lists them)")
    return found_here  # an id we do not know (a sketch may set its own): esptool/bossac will tell


def _a(name: str) -> str:
    return f"{'an' if name[:1].upper() in 'AEIOU' else 'a'} {name}"


def upload(image_or_project: Any, board: Board | str, port: str | None = None, *, progress: Progress | None = None,
           on_output: OutputCallback | None = None, method: str | None = None, timeout: float = UPLOAD_TIMEOUT_S,
           bootloader_timeout: float = BOOTLOADER_TIMEOUT_S, return_timeout: float = RETURN_TIMEOUT_S,
           ports: PortLister | Iterable[Any] | None = None,
           volumes: Iterable[str | os.PathLike[str]] | None = None, arduino_cli: str | None = None,
           bossac: str | None = None) -> UploadResult:
    """Write a firmware image to the board and find it again afterwards.

    image_or_project: a BuildResult, an image file (.bin/.uf2/.hex), or the project folder build() wrote into.
    port: the board's serial port (None: the one attached board of this kind). method: override the catalogue's
    upload method ("bossac", "uf2", "esptool", "mbed-copy", "arduino-cli", "qemu": the virtual board).
    progress(done, total, stage) reports bytes or pages written; on_output(line) sees tools' output.
    timeout bounds the tool; bootloader_timeout the wait for the bootloader port or drive after the 1200-baud
    touch; return_timeout the wait for the sketch's port afterwards. ports (a callable returning pyserial
    ListPortInfo objects) and volumes (folders to look for drives in) replace the system's for tests.
    """
    board = as_board(board)
    method = method or board.upload
    if method == "qemu":  # the virtual board: start QEMU; the result's port is its UART's pty
        from .virtual import board as virtual_board

        return virtual_board.upload(image_or_project, board, progress=progress)
    artifacts, project = _resolve_image(image_or_project, board)
    lister = _lister(ports)
    steps = {"bossac": _upload_bossac, "uf2": _upload_drive, "mbed-copy": _upload_drive, "esptool": _upload_esptool,
             "arduino-cli": _upload_arduino_cli}
    if method not in steps:
        raise ConfigError(f"Unknown upload method {method!r}: use one of {', '.join(steps)}.")
    job = _Upload(board=board, method=method, artifacts=artifacts, project=project, port=port, progress=progress,
                  on_output=on_output, timeout=timeout, bootloader_timeout=bootloader_timeout,
                  return_timeout=return_timeout, ports=lister, volumes=volumes, arduino_cli=arduino_cli,
                  bossac=bossac)
    start = time.monotonic()
    result = steps[method](job)
    result.seconds = time.monotonic() - start
    return result


@dataclass
class _Upload:
    board: Board
    method: str
    artifacts: dict[str, Path]
    project: Path | None
    port: str | None
    progress: Progress | None
    on_output: OutputCallback | None
    timeout: float
    bootloader_timeout: float
    return_timeout: float
    ports: PortLister
    volumes: Iterable[str | os.PathLike[str]] | None
    arduino_cli: str | None
    bossac: str | None

    def say(self, line: str) -> None:
        if self.on_output is not None:
            self.on_output(line)

    def step(self, done: int, total: int, stage: str) -> None:
        if self.progress is not None:
            self.progress(done, total, stage)

    @property
    def recover(self) -> str:
        return f"{self.board.bootloader_hint}, then upload again"

    def come_back(self, result: UploadResult) -> UploadResult:
        """Wait for the sketch's serial port; a board that does not come back is said, not hidden."""
        self.step(0, 1, "restart")
        found = wait_for_port(self.board, "application", timeout=self.return_timeout, ports=self.ports)
        if found is None:
            result.port = None
            result.warnings.append(f"the {self.board.name} did not come back as a serial port within "
                                   f"{self.return_timeout:g} s — press its reset button once; if it still does not "
                                   f"appear the firmware may crash at start: {self.recover}")
        else:
            result.port = found.port
            self.step(1, 1, "restart")
        return result


def _enter_bootloader(job: _Upload, detected: DetectedBoard | None) -> DetectedBoard:
    """The bootloader port: the given one if the board is already there, else after a 1200-baud touch."""
    board = job.board
    if detected is not None and detected.usb_id is not None and detected.usb_id in _ids_for(board, "bootloader"):
        return detected
    if detected is None:
        raise BoardNotFoundError(f"No {board.name} attached — plug it in with a data USB cable, or "
                                 f"{board.bootloader_hint}")
    job.say(f"Resetting {detected.port} into the bootloader (1200-baud touch)")
    job.step(0, 1, "bootloader")
    touch_1200(detected.port)
    boot = wait_for_port(board, "bootloader", timeout=job.bootloader_timeout, ports=job.ports)
    if boot is None:
        raise BootloaderError(f"The {board.name} did not enter its bootloader within {job.bootloader_timeout:g} s "
                              f"after the 1200-baud reset on {detected.port} — {board.bootloader_hint}, then upload "
                              "again (pass the port it shows then; detect_boards() lists it)")
    job.step(1, 1, "bootloader")
    job.say(f"Bootloader on {boot.port}")
    return boot


_BOSSAC_PROGRESS = re.compile(r"(\d+)%\s*\((\d+)/(\d+) pages\)")


def _upload_bossac(job: _Upload) -> UploadResult:
    board = job.board
    image = _need(job.artifacts, ("bin",), board, "bossac")
    program = bossac_path(job.bossac)
    if program is None:
        install = board.arduino_install_hint() or "arduino-cli core install <the board's core>"
        raise ToolNotFoundError(f"bossac not found: run `{install}` (it installs Arduino's bossac) or install "
                                "BOSSA (Debian/Ubuntu: sudo apt install bossa-cli), then upload again")
    detected = check_port(board, job.port, job.ports, method="bossac")
    boot = _enter_bootloader(job, detected)
    command = bossac_command(image, boot.port, board, bossac=program)

    def watch(line: str) -> None:
        job.say(line)
        match = _BOSSAC_PROGRESS.search(line)
        if match:
            job.step(int(match.group(2)), int(match.group(3)), "write")

    run = tools.run(command, timeout=job.timeout, on_output=watch)
    if run.timed_out:
        raise UploadTimeoutError(f"bossac did not finish within {job.timeout:g} s on {boot.port}; the board is left "
                                 f"in its bootloader with a partial sketch — {job.recover}", run.output)
    if run.returncode != 0:
        last = _last_line(run.output)
        raise UploadError(f"bossac failed on {boot.port} (exit {run.returncode}: {last}); the board may hold a "
                          f"partial sketch — {job.recover}", run.output)
    result = UploadResult(board=board.id, method="bossac", image=image, bytes=image.stat().st_size, seconds=0.0,
                          port=None, upload_port=boot.port, command=command, output=run.output)
    return job.come_back(result)


def _last_line(output: str) -> str:
    lines = [line.strip() for line in re.split(r"[\r\n]+", output) if line.strip()]
    return lines[-1][:160] if lines else "no output"


def _upload_drive(job: _Upload) -> UploadResult:
    """UF2 (RP2040 and other UF2 bootloaders) and ST-LINK (mbed-copy): copy the image onto the board's USB drive."""
    board, method = job.board, job.method
    if method == "uf2":
        image = _need(job.artifacts, ("uf2",), board, method)
        blocks, family = uf2_family(image.read_bytes())
        if family is not None and board.uf2_family is not None and family != board.uf2_family:
            raise WrongBoardError(f"{image.name} is built for UF2 family {family:#010x}, the {board.name} takes "
                                  f"{board.uf2_family:#010x} — build the project for board={board.id!r}")
    else:
        image = _need(job.artifacts, ("bin", "hex"), board, method)
    volume = find_volume(board, job.volumes, method=method)
    detected = None
    if volume is None:
        detected = check_port(board, job.port, job.ports, method=method)
        if detected is None:
            raise BoardNotFoundError(f"No {board.name} attached and no {board.bootloader_volume} drive mounted — "
                                     f"plug it in (a data USB cable), or {board.bootloader_hint}")
        if method == "uf2":
            job.say(f"Resetting {detected.port} into the bootloader (1200-baud touch)")
            job.step(0, 1, "bootloader")
            touch_1200(detected.port)
        volume = _wait_for_volume(job)
        job.step(1, 1, "bootloader")
    job.say(f"Copying {image.name} to {volume}")
    written = copy_with_progress(image, volume / image.name, job.progress, "copy")
    result = UploadResult(board=board.id, method=method, image=image, bytes=written, seconds=0.0, port=None,
                          upload_port=str(volume), command=["copy", str(image), str(volume)])
    if method == "mbed-copy":
        _check_stlink_result(job, volume, image.name, result)
    return job.come_back(result)


def _wait_for_volume(job: _Upload) -> Path:
    board = job.board
    deadline = time.monotonic() + job.bootloader_timeout
    while True:
        volume = find_volume(board, job.volumes, method=job.method)
        if volume is not None:
            return volume
        if time.monotonic() >= deadline:
            what = " after the 1200-baud reset" if job.method == "uf2" else ""
            raise BootloaderError(f"No {board.bootloader_volume} drive appeared within {job.bootloader_timeout:g} s"
                                  f"{what} — {board.bootloader_hint}; if the drive shows but is not mounted, mount "
                                  "it (most desktops do on their own), then upload again")
        time.sleep(POLL_S)


def _check_stlink_result(job: _Upload, volume: Path, name: str, result: UploadResult) -> None:
    """The ST-LINK programs the chip, then re-mounts its drive without the copied file; a FAIL.TXT on the re-mounted
    drive says why it refused (one left from an earlier attempt does not count: it goes with the re-mount)."""
    deadline = time.monotonic() + job.return_timeout
    while time.monotonic() < deadline:
        if not (volume / name).exists():  # programmed (or refused) and re-mounted
            fail = volume / "FAIL.TXT"
            if fail.is_file():
                reason = " ".join(fail.read_text(encoding="utf-8", errors="replace").split())
                raise UploadError(f"The ST-LINK refused {name}: {reason} — build a .bin for the {job.board.name} "
                                  "and upload again (unplug and replug the board first)")
            return
        time.sleep(POLL_S)
    result.warnings.append(f"the {volume.name} drive still shows {name} after {job.return_timeout:g} s: the ST-LINK "
                           "may not have programmed it — unplug and replug the board and check the new firmware runs")


class _ProgressLogger:
    """Routes esptool 5's logger (its documented hook for embedding) to our callbacks: no prints."""

    def __init__(self, job: _Upload, stage: str) -> None:
        self.job, self.stage = job, stage

    def make(self) -> Any:
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


def _upload_esptool(job: _Upload) -> UploadResult:
    board = job.board
    images = esptool_images(job.artifacts, board)
    detected = check_port(board, job.port, job.ports, method="esptool")
    if detected is None:
        raise BoardNotFoundError(f"No {board.name} attached — plug it in with a data USB cable")
    port = detected.port
    mode = "usb-reset" if detected.usb_id == ESP_USB_JTAG else "default-reset"
    command = esptool_command(images, port, board, before=mode)
    total = sum(path.stat().st_size for _, path in images)
    try:
        from esptool.cmds import attach_flash, detect_chip, reset_chip, run_stub, write_flash
        from esptool.logger import log
        from esptool.util import FatalError
    except ImportError:  # esptool 4: no public API with progress; run its command line
        return _upload_esptool_cli(job, images, port, command, total)
    from esp_pylib.logger import EspLog

    previous = EspLog.instance
    log.set_logger(_ProgressLogger(job, "write").make())
    import serial

    try:
        with detect_chip(port, 115200, connect_mode=mode, connect_attempts=3) as esp:
            chip = esp.CHIP_NAME.lower().replace("-", "")
            if board.esp_chip and chip != board.esp_chip:
                raise WrongBoardError(f"{port} has an {esp.CHIP_NAME}, not the {board.esp_chip.upper()} of a "
                                      f"{board.name} — pick the right board or port")
            esp = run_stub(esp)
            if board.upload_baud and board.upload_baud != 115200 and detected.usb_id != ESP_USB_JTAG:
                esp.change_baud(board.upload_baud)
            attach_flash(esp)
            write_flash(esp, [(offset, str(path)) for offset, path in images])
            reset_chip(esp, "hard-reset")
    except FatalError as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "connect" in message.lower() or "no serial data" in message.lower():
            raise BootloaderError(f"esptool could not reach the {board.name}'s bootloader on {port} ({message}) — "
                                  f"{job.recover}") from None
        raise UploadError(f"esptool failed on {port}: {message}; the flash may be partly written — {job.recover}") \
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


def _upload_esptool_cli(job: _Upload, images: list[tuple[int, Path]], port: str, command: list[str],
                        total: int) -> UploadResult:
    run = tools.run([sys.executable, "-m", "esptool", *command], timeout=job.timeout, on_output=job.say)
    if run.timed_out:
        raise UploadTimeoutError(f"esptool did not finish within {job.timeout:g} s — {job.recover}", run.output)
    if run.returncode != 0:
        raise UploadError(f"esptool failed on {port} ({_last_line(run.output)}) — {job.recover}", run.output)
    result = UploadResult(board=job.board.id, method="esptool", image=images[-1][1], bytes=total, seconds=0.0,
                          port=None, upload_port=port, command=["esptool", *command], output=run.output)
    return job.come_back(result)


_PERCENT = re.compile(r"(\d{1,3})%")


def _upload_arduino_cli(job: _Upload) -> UploadResult:
    board = job.board
    cli = tools.find(job.arduino_cli, "arduino-cli")
    if cli is None:
        raise ToolNotFoundError(f"arduino-cli not found: install it ({ARDUINO_CLI_INSTALL_URL}) and run "
                                f"`{board.arduino_install_hint()}`, then upload again")
    sketch = find_sketch(job.project) if job.project is not None else None
    if sketch is None:
        raise ConfigError(f"arduino-cli uploads a sketch folder with its build: pass the BuildResult or the project "
                          f"folder, not a lone image, for the {board.name}.")
    detected = check_port(board, job.port, job.ports, method="arduino-cli")
    if detected is None:
        raise BoardNotFoundError(f"No {board.name} attached — plug it in with a data USB cable")
    input_dir = next(iter(job.artifacts.values())).parent if job.artifacts else None
    command = arduino_cli_upload_command(sketch, board, detected.port, arduino_cli=cli, input_dir=input_dir)

    def watch(line: str) -> None:
        job.say(line)
        match = _PERCENT.search(line)
        if match and int(match.group(1)) <= 100:
            job.step(int(match.group(1)), 100, "write")

    run = tools.run(command, timeout=job.timeout, on_output=watch)
    if run.timed_out:
        raise UploadTimeoutError(f"arduino-cli upload did not finish within {job.timeout:g} s — {job.recover}",
                                 run.output)
    if run.returncode != 0:
        raise UploadError(f"arduino-cli upload failed on {detected.port} ({_last_line(run.output)}) — {job.recover}",
                          run.output)
    image = job.artifacts.get("bin") or (next(iter(job.artifacts.values())) if job.artifacts else None)
    result = UploadResult(board=board.id, method="arduino-cli", image=image,
                          bytes=image.stat().st_size if image is not None and image.exists() else 0, seconds=0.0,
                          port=None, upload_port=detected.port, command=command, output=run.output)
    return job.come_back(result)


__all__ = [
    # uploading
    "UploadResult", "arduino_cli_upload_command", "bossac_command", "check_port", "copy_with_progress",
    "esptool_command", "esptool_images", "find_volume", "touch_1200", "upload", "wait_for_port",
    # building, re-exported from build.py so `flash.build(...)` and `from .flash import BuildResult` keep working
    "ARDUINO_CLI_INSTALL_URL", "BUILD_TIMEOUT_S", "PLATFORMIO_INSTALL", "BuildResult", "Diagnostic",
    "arduino_cli_compile_command", "build", "build_artifacts", "build_hint", "find_sketch", "missing_tools_message",
    "parse_diagnostics", "platformio_command", "platformio_environment",
]
