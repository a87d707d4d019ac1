"""The virtual board: the portable C target on an emulated Cortex-M4 (QEMU's `mps2-an386`), so the whole deploy
loop — build, flash, serial check — runs without hardware (a workshop without enough boards, CI).

`build()` compiles the generated C model (firmware/c_target: `generate_c`) with this project's board support
(firmware/c_target/board: startup, linker script, CMSDK UART driver and the serial protocol in main.c) using
gcc-arm-none-eabi and newlib, and reports the flash and RAM the image uses. `flash()` starts QEMU with the image
and its UART on a pseudo-terminal; the returned `VirtualBoard` has a `.port` that `serial_link.BoardLink` (and the
DeployPanel) drive like any USB serial port — there is no special path in the check.

    built = virtual_board.build(generate_c(tflite))        # or a folder holding model_c.h/model_c.c
    with virtual_board.flash(built) as board, BoardLink(board.port, board="virtual-cortex-m4") as link:
        result = link.check(tflite, x_test[:20])           # result.cycles: emulated instructions per inference

Timing: QEMU runs with `-icount shift=0`, so one emulated instruction takes 1 ns of virtual time; the firmware
measures each inference with SysTick in that virtual time and reports `us=` (virtual microseconds) and
`cycles=` (emulated instructions — not the cycles a real Cortex-M4 would take, which depend on its memory and
pipeline).
"""
from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

from ...boards import Board, as_board
from ..build import BuildResult, parse_diagnostics
from ...errors import BoardError, BuildError, ConfigError, NoAnswerError, ToolNotFoundError
from ..flash import UploadResult

OutputCallback = Callable[[str], None]

BOARD_ID = "virtual-cortex-m4"
MACHINE = "mps2-an386"
INSTALL = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
ICOUNT_SHIFT = 0  # 2^0 ns of virtual time per emulated instruction
BUILD_TIMEOUT_S = 300.0
BOOT_TIMEOUT_S = 10.0
MODEL_FILES = ("model_c.h", "model_c.c", "tinyml_kernels.h", "tinyml_kernels.c")
# The Cortex-M4 with its single-precision FPU (QEMU's cortex-m4 has one); newlib-nano for memcpy and libm's expf.
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
          "-mfpu=fpv4-sp-d16", "-O2", "-ffunction-sections", "-fdata-sections"]
LDFLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"]
FLASH_SECTIONS = (".text", ".ARM.extab", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss", ".stack")
_READY = re.compile(r"char device redirected to (\S+) \(label serial0\)")


def board_sources() -> Path:
    """The folder of board-support C sources and the linker script (firmware/c_target/board)."""
    return Path(str(resources.files("jupyter_tinyml").joinpath("firmware", "c_target", "board")))


TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")


def missing_tools(*names: str) -> list[str]:
    """Which of the programs `names` (default: all the virtual board needs) are not on PATH; newlib counts as
    "newlib" (the cross compiler comes without its C library in Debian)."""
    wanted = names or TOOLS
    missing = [name for name in wanted if shutil.which(name) is None]
    if "arm-none-eabi-gcc" in wanted and "arm-none-eabi-gcc" not in missing:
        found = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=libc_nano.a"], capture_output=True,
                               text=True).stdout.strip()
        if not os.path.isabs(found):  # gcc echoes the bare name when it has no such library
            missing.append("newlib")
    return missing


def _require(*names: str) -> None:
    missing = missing_tools(*names)
    if missing:
        raise ToolNotFoundError(f"{', '.join(missing)} not found — the virtual board needs the Arm cross compiler, "
                                f"newlib and QEMU: {INSTALL} (Debian/Ubuntu, as root)")


# ----------------------------------------------------------------------------------------------- build


@dataclass(repr=False)
class VirtualBuild(BuildResult):
    """A BuildResult for the virtual board, with the image's sizes: flash = code + constants + .data's initial
    values, RAM = .data + .bss (the model's arena) + the reserved stack. `sections` holds every allocated section's
    size (arm-none-eabi-size -A)."""

    elf: Path | None = None
    flash_bytes: int = 0
    ram_bytes: int = 0
    stack_bytes: int = 0
    sections: dict[str, int] = field(default_factory=dict)

    def _headline(self) -> str:
        if self.ok:
            return (f"Built for the virtual board ({MACHINE}) in {self.seconds:.1f} s: flash {self.flash_bytes:,} "
                    f"bytes, RAM {self.ram_bytes:,} bytes (stack {self.stack_bytes:,})")
        return super()._headline()


def image_sizes(sections: dict[str, int]) -> tuple[int, int]:
    """(flash bytes, RAM bytes) from section sizes."""
    flash = sum(sections.get(name, 0) for name in FLASH_SECTIONS)
    ram = sum(sections.get(name, 0) for name in RAM_SECTIONS)
    return flash, ram


def parse_size_output(text: str) -> dict[str, int]:
    """`arm-none-eabi-size -A` output -> {section: bytes} (sections with an address only)."""
    sizes = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def labels_c(labels: Iterable[str] | None) -> str:
    """The C source of the class names CLASSIFY prints (tinyml_labels.c)."""
    names = [str(label) for label in (labels or [])]
    for name in names:
        if not name or any(c.isspace() for c in name) or not name.isprintable() or not name.isascii():
            raise ConfigError(f"Label {name!r} cannot be sent over the serial protocol: use printable ASCII "
                              "without spaces.")
    # A C string literal; json's escaping of " and \\ is C's for printable ASCII.
    items = ", ".join(json.dumps(name) for name in names) or "0"
    return ("/* Class names for CLASSIFY, written by jupyter_tinyml.hardware.virtual.board.build. */\n#include <stdint.h>\n"
            f"const char *const tinyml_labels[] = {{{items}}};\n"
            f"const uint32_t tinyml_label_count = {len(names)}u;\n")


def _model_files(source: Any) -> dict[str, str]:
    """The generated C files from a CModel, a folder holding them, or a .tflite (bytes or path)."""
    files = getattr(source, "files", None)
    if isinstance(files, dict):
        return {name: text if isinstance(text, str) else bytes(text).decode() for name, text in files.items()}
    if isinstance(source, (bytes, bytearray)) or (isinstance(source, (str, os.PathLike))
                                                  and str(source).endswith(".tflite")):
        from ...firmware.c_target import generate_c

        return _model_files(generate_c(bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source)))
    folder = Path(source)
    if folder.is_dir():
        for candidate in (folder, *sorted(path.parent for path in folder.glob("*/model_c.h"))):
            if (candidate / "model_c.h").is_file():
                return {path.name: path.read_text(encoding="utf-8") for path in sorted(candidate.iterdir())
                        if path.suffix in (".c", ".h") and path.is_file()}
        raise ConfigError(f"{folder} holds no model_c.h: pass the folder write_project(target='c') wrote, or the "
                          "CModel generate_c returned.")
    raise ConfigError(f"Cannot build the virtual board from {type(source).__name__}: pass a CModel (generate_c), "
                      "a folder with model_c.h/model_c.c, or a .tflite.")


def build(source: Any, board: Board | str = BOARD_ID, *, output_dir: str | os.PathLike[str] | None = None,
          labels: Iterable[str] | None = None, on_output: OutputCallback | None = None,
          stack_bytes: int = 16 * 1024, timeout: float = BUILD_TIMEOUT_S) -> VirtualBuild:
    """Compile the generated C model and the board support into an ELF image for QEMU's mps2-an386.

    source: a CModel (firmware.c_target.generate_c), a folder holding model_c.h/model_c.c (default output
    <folder>/build/<board id>), or a .tflite path or bytes. labels: class names CLASSIFY prints. The image goes to
    output_dir/app.elf (with app.map); a compile error is returned (ok=False, diagnostics), not raised; missing tools
    raise ToolNotFoundError saying what to install.
    """
    board = as_board(board)
    _require("arm-none-eabi-gcc", "arm-none-eabi-size")
    files = _model_files(source)
    missing = [name for name in ("model_c.h", "model_c.c") if name not in files]
    if missing:
        raise ConfigError(f"The generated C lacks {', '.join(missing)}: generate it again with generate_c.")
    if output_dir is not None:
        out = Path(output_dir)
    elif isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        out = Path(source) / "build" / board.id
    else:
        out = Path(tempfile.mkdtemp(prefix="tinyml-virtual-"))
    out = out.resolve()  # the compiler runs with cwd=out: every path it gets must be absolute
    src = out / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    if labels is not None or "tinyml_labels.c" not in files:  # write_project(target="c") wrote them already
        (src / "tinyml_labels.c").write_text(labels_c(labels), encoding="utf-8")
    support = board_sources()
    elf, map_file = out / "app.elf", out / "app.map"
    sources = sorted(str(path) for path in support.glob("*.c")) + sorted(str(path) for path in src.glob("*.c"))
    command = ["arm-none-eabi-gcc", *CFLAGS, f"-DTINYML_BOARD_ID=\"{board.id}\"",
               f"-DTINYML_ICOUNT_SHIFT={ICOUNT_SHIFT}", f"-I{src}", f"-I{support}", *sources,
               "-T", str(support / "mps2_an386.ld"), f"-Wl,--defsym=STACK_SIZE={int(stack_bytes)}", *LDFLAGS,
               f"-Wl,-Map={map_file}", "-lm", "-o", str(elf)]
    if elf.exists():
        elf.unlink()
    start = time.monotonic()
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=out)
        output, returncode = run.stdout + run.stderr, run.returncode
    except subprocess.TimeoutExpired:
        output, returncode = f"arm-none-eabi-gcc did not finish within {timeout:g} s", None
    if on_output is not None:
        for line in output.splitlines():
            on_output(line)
    ok = returncode == 0 and elf.is_file()
    hint = ""
    if not ok and ("nano.specs" in output or "stdint.h: No such file" in output):
        hint = f"newlib for arm-none-eabi is missing: {INSTALL}"
    result = VirtualBuild(ok=ok, tool="arm-none-eabi-gcc", board=board.id, command=command, output=output,
                          returncode=returncode, project_dir=src, output_dir=out,
                          artifacts={"elf": elf, "map": map_file} if ok else {},
                          diagnostics=parse_diagnostics(output), seconds=time.monotonic() - start, hint=hint,
                          elf=elf if ok else None, stack_bytes=int(stack_bytes))
    if ok:
        sizes = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True)
        result.sections = parse_size_output(sizes.stdout)
        result.flash_bytes, result.ram_bytes = image_sizes(result.sections)
    return result


# ----------------------------------------------------------------------------------------------- flash


class VirtualBoard:
    """A running QEMU with the image; `.port` is its UART's pseudo-terminal. Stop it with .stop() or `with`."""

    def __init__(self, process: subprocess.Popen, port: str, elf: Path, qmp_path: Path, workdir: Path,
                 icount_shift: int) -> None:
        self.process = process
        self.port = port
        self.elf = elf
        self.icount_shift = icount_shift
        self.board = BOARD_ID
        self.ready_line = ""
        self.log: list[str] = []  # QEMU's own messages
        self._qmp_path = qmp_path
        self._workdir = workdir
        self._qmp: socket.socket | None = None

    def __enter__(self) -> "VirtualBoard":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def __repr__(self) -> str:
        state = f"running on {self.port}" if self.running else "stopped"
        return f"<VirtualBoard {MACHINE} {self.elf.name} {state}>"

    def _qmp_command(self, name: str) -> None:
        if self._qmp is None:
            self._qmp = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._qmp.settimeout(5.0)
            self._qmp.connect(str(self._qmp_path))
            self._qmp_read()  # the greeting
            self._qmp_send("qmp_capabilities")
        self._qmp_send(name)

    def _qmp_send(self, name: str) -> None:
        assert self._qmp is not None
        self._qmp.sendall(json.dumps({"execute": name}).encode() + b"\n")
        if name != "quit":
            self._qmp_read()

    def _qmp_read(self) -> dict[str, Any]:
        assert self._qmp is not None
        data = b""
        while True:
            while b"\n" not in data:
                chunk = self._qmp.recv(4096)
                if not chunk:
                    raise BoardError("QEMU closed its control socket — the virtual board stopped; flash it again")
                data += chunk
            line, data = data.split(b"\n", 1)
            message = json.loads(line)
            if "event" not in message:  # events (RESUME, ...) come between the answers
                return message

    def stop(self, timeout: float = 5.0) -> None:
        """Power off: ask QEMU to quit, kill it if it does not (idempotent)."""
        _RUNNING.discard(self)
        if self.running:
            try:
                self._qmp_command("quit")
                self.process.wait(timeout)
            except (OSError, BoardError, ValueError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout)
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        shutil.rmtree(self._workdir, ignore_errors=True)


_RUNNING: set[VirtualBoard] = set()


@atexit.register
def _stop_all() -> None:
    for board in list(_RUNNING):
        board.stop()


def running() -> list[VirtualBoard]:
    """The virtual boards this process started and has not stopped."""
    return [board for board in _RUNNING if board.running]


def _elf_of(image: Any) -> Path:
    if isinstance(image, BuildResult):
        if not image.ok:
            raise BuildError(f"Nothing to flash: {image._headline()}", image.output)
        elf = image.artifacts.get("elf")
        if elf is None:
            raise ConfigError(f"The build for {image.board} made no .elf: build for the virtual board "
                              f"({BOARD_ID}).")
        return Path(elf)
    path = Path(image)
    if path.is_dir():
        for candidate in (path / "app.elf", path / "build" / BOARD_ID / "app.elf"):
            if candidate.is_file():
                return candidate
        raise ConfigError(f"No app.elf in {path}: build it for the virtual board first (virtual_board.build).")
    if path.is_file():
        return path
    raise ConfigError(f"No image at {path}: build it for the virtual board first (virtual_board.build).")


def qemu_command(elf: str | os.PathLike[str], *, qmp: str | os.PathLike[str] | None = None,
                 icount_shift: int | None = ICOUNT_SHIFT, machine: str = MACHINE) -> list[str]:
    """The QEMU command line: the machine, no display, UART0 on a new pseudo-terminal, -icount (one instruction
    per 2^shift ns of virtual time; None: as fast as the host runs); with qmp, -S (start paused) and a QMP socket
    so the boot banner waits until someone listens."""
    command = ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "pty",
               "-kernel", str(elf)]
    if icount_shift is not None:
        command += ["-icount", f"shift={int(icount_shift)}"]
    if qmp is not None:
        command += ["-S", "-qmp", f"unix:{qmp},server=on,wait=off"]
    return command


def flash(image: Any, *, timeout: float = BOOT_TIMEOUT_S, machine: str = MACHINE) -> VirtualBoard:
    """Start QEMU with the image (a VirtualBuild/BuildResult, an .elf, or the folder build() wrote), wait for the
    firmware's READY line on its UART, and return the running VirtualBoard (`.port` is the pty to open).

    QEMU counts instructions (-icount shift=0, what the firmware was built for), so us= and cycles= in its answers
    are virtual time and emulated instructions, the same on every host.
    """
    _require("qemu-system-arm")
    elf = _elf_of(image)
    workdir = Path(tempfile.mkdtemp(prefix="tinyml-qemu-"))
    qmp_path = workdir / "qmp.sock"
    process = subprocess.Popen(qemu_command(elf, qmp=qmp_path, machine=machine),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    found: list[str] = []
    log: list[str] = []
    seen = threading.Event()

    # QEMU's messages (stdout in QEMU 7, stderr in others): the pty's name first, then whatever it reports.
    def read_messages() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line.rstrip())
            match = _READY.search(line)
            if match and not found:
                found.append(match.group(1))
                seen.set()
        seen.set()

    threading.Thread(target=read_messages, daemon=True).start()
    board = VirtualBoard(process, "", elf, qmp_path, workdir, ICOUNT_SHIFT)
    board.log = log
    _RUNNING.add(board)
    try:
        if not seen.wait(timeout) or not found:
            detail = "; ".join(log[-3:]) or "no message"
            raise BoardError(f"QEMU did not start the virtual board ({detail}) — check that `qemu-system-arm -M "
                             f"{machine}` works (QEMU 6.0 or later has {MACHINE})")
        board.port = found[0]
        deadline = time.monotonic() + timeout
        while not qmp_path.exists():  # the socket appears as QEMU finishes starting
            if time.monotonic() > deadline or not board.running:
                raise BoardError("QEMU did not open its control socket — flash the virtual board again")
            time.sleep(0.01)
        board.ready_line = _boot(board, deadline)
    except BaseException:
        board.stop()
        raise
    return board


def _boot(board: VirtualBoard, deadline: float) -> str:
    """Open the pty, let the paused CPU run, and read the firmware's first protocol line (READY or ERROR).

    QEMU drops UART output while no program has the pty open, so the banner is only seen by one that is listening
    when the CPU starts; later programs find the board with PING, as for a board that booted before the port was
    opened (PROTOCOL.md)."""
    from ..serial_link import PREFIX, open_port

    link = open_port(board.port, timeout=0.05, exclusive=False)
    try:
        board._qmp_command("cont")
        buffer = b""
        while time.monotonic() < deadline:
            buffer += link.read(max(1, link.in_waiting))
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                line = raw.rstrip(b"\r").decode("ascii", errors="replace")
                if line.startswith(PREFIX):
                    return line
        raise NoAnswerError(f"The virtual board on {board.port} printed no READY line within the boot timeout — "
                            "the image may not be a jupyter-tinyml firmware for the mps2-an386 (build it with "
                            "virtual_board.build)")
    finally:
        link.close()


def upload(image: Any, board: Board | str = BOARD_ID, *, progress: Callable[[int, int, str], None] | None = None,
           **options: Any) -> UploadResult:
    """flash.upload() for the virtual board: stop the virtual boards this process started (one board, flashed
    again), start QEMU with the image; the result's port is the pty. running() holds the board to stop it."""
    board = as_board(board)
    for previous in running():
        previous.stop()
    start = time.monotonic()
    started = flash(image, **options)
    size = started.elf.stat().st_size
    if progress is not None:
        progress(size, size, "write")
    return UploadResult(board=board.name, method="qemu", image=started.elf, bytes=size,
                        seconds=time.monotonic() - start, port=started.port, upload_port=started.port,
                        command=qemu_command(started.elf),
                        output="\n".join(started.log), warnings=[])
