"""Find and run the external programs that build and upload firmware (arduino-cli, PlatformIO, bossac, esptool).

Building (build.py) and uploading (flash.py) both start programs the same way: looked up on PATH or given by path,
output streamed line by line to a callback, killed at a timeout, and a missing program raised as
ProgramNotFoundError (a ToolNotFoundError) saying what to do. Keeping that here gives every tool one behaviour.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import ProgramNotFoundError
from .settings import OUTPUT_DRAIN_S

OutputCallback = Callable[[str], None]
"""on_output(line): one line a program printed (or a line of log about what we are doing)."""


def find(explicit: str | os.PathLike[str] | None, *names: str) -> str | None:
    """The program to run: an explicit path or name (None if it does not exist), else the first name on PATH."""
    if explicit is not None:
        found = shutil.which(str(explicit))
        if found is None:
            raise ProgramNotFoundError(str(explicit))
        return found
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Run:
    """How a program ended: its exit code (None when killed at the timeout) and its whole output."""

    returncode: int | None
    output: str
    timed_out: bool
    seconds: float


def run(command: list[str], *, timeout: float, cwd: str | os.PathLike[str] | None = None,
        on_output: OutputCallback | None = None) -> Run:
    """Run a program, streaming its output line by line (a \\r-redrawn progress bar counts as lines too), and
    kill it at the timeout."""
    start = time.monotonic()
    try:
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ProgramNotFoundError(command[0]) from None
    except PermissionError:
        raise ProgramNotFoundError(command[0], executable=True) from None
    chunks: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        pending = ""
        while True:
            data = process.stdout.read1(4096) if hasattr(process.stdout, "read1") else process.stdout.read(4096)
            if not data:
                break
            text = data.decode("utf-8", errors="replace")
            chunks.append(text)
            pending += text
            *complete, pending = re.split(r"\r\n|\r|\n", pending)
            for line in complete:
                if on_output is not None and line.strip():
                    on_output(line)
        if pending.strip() and on_output is not None:
            on_output(pending)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        process.kill()
        process.wait()
    reader.join(OUTPUT_DRAIN_S)
    return Run(None if timed_out else process.returncode, "".join(chunks), timed_out, time.monotonic() - start)


__all__ = ["OutputCallback", "Run", "find", "run"]
