"""Run a virtual board: QEMU's `mps2-an386` (an emulated Cortex-M4) with an image built by image.py, its UART on a
pseudo-terminal, so the whole deploy loop — build, flash, serial check — runs without hardware (a workshop without
enough boards, CI).

`flash()` starts QEMU and returns a `VirtualBoard` whose `.port` serial_link.BoardLink (and the DeployPanel) drive
like any USB serial port — there is no special path in the check. `running()` lists the boards this process
started; stop one with `.stop()` (or `with`), and every one is stopped when Python exits.

Timing: QEMU runs with `-icount shift=0`, so one emulated instruction takes 1 ns of virtual time: `us=` and
`cycles=` in the firmware's answers are virtual time and emulated instructions, the same on every host.
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
from pathlib import Path
from typing import Any

from ...boards import Board, as_board
from ...errors import BoardError, BuildError, ConfigError, NoAnswerError
from ..ports import open_port
from ..protocol import PREFIX
from ..reporter import Reporter
from ..results import BuildResult, UploadResult
from ..settings import BOOT_TIMEOUT_S, QEMU_START_POLL_S, QEMU_STOP_TIMEOUT_S, QMP_TIMEOUT_S, READ_SLICE_S
from .toolchain import BOARD_ID, ICOUNT_SHIFT, MACHINE, require_tools

_READY = re.compile(r"char device redirected to (\S+) \(label serial0\)")


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
            self._qmp.settimeout(QMP_TIMEOUT_S)
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

    def stop(self, timeout: float = QEMU_STOP_TIMEOUT_S) -> None:
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


def boot_line(port: str | None = None) -> str:
    """The line the firmware printed when the running virtual board on `port` (or the only one running) booted:
    its READY (or ERROR) line, which QEMU shows only to a program listening at boot (flash() is). "" if none."""
    boards = [board for board in running() if port is None or board.port == port]
    return boards[0].ready_line if len(boards) == 1 else ""


def running_port() -> str | None:
    """The pseudo-terminal of the one virtual board this process runs, None when none (or several) runs."""
    boards = running()
    return boards[0].port if len(boards) == 1 else None


def _elf_of(image: Any) -> Path:
    if isinstance(image, BuildResult):
        if not image.ok:
            raise BuildError(f"Nothing to flash: {image.headline()}", image.output)
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
        raise ConfigError(f"No app.elf in {path}: build it for the virtual board first (image.build).")
    if path.is_file():
        return path
    raise ConfigError(f"No image at {path}: build it for the virtual board first (image.build).")


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
    require_tools("qemu-system-arm")
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
            time.sleep(QEMU_START_POLL_S)
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
    link = open_port(board.port, timeout=READ_SLICE_S, exclusive=False)
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
                            "hardware.virtual.image.build)")
    finally:
        link.close()


def upload(image: Any, board: Board | str = BOARD_ID, *, reporter: Reporter | None = None,
           timeout: float = BOOT_TIMEOUT_S) -> UploadResult:
    """flash.upload() for the virtual board: stop the virtual boards this process started (one board, flashed
    again), start QEMU with the image; the result's port is the pty. running() holds the board to stop it."""
    board = as_board(board)
    reporter = reporter or Reporter()
    for previous in running():
        previous.stop()
    start = time.monotonic()
    started = flash(image, timeout=timeout)
    size = started.elf.stat().st_size
    reporter.step(size, size, "write")
    return UploadResult(board=board.name, method="qemu", image=started.elf, bytes=size,
                        seconds=time.monotonic() - start, port=started.port, upload_port=started.port,
                        command=qemu_command(started.elf),
                        output="\n".join(started.log), warnings=[])
