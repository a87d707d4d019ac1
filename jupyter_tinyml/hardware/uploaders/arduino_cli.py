"""Upload with arduino-cli's own uploader (it knows every board's tool and does the reset itself): the sketch folder
and the images build() wrote, with its percentage as progress."""
from __future__ import annotations

import os
import re

from .. import programs
from ...boards import Board, as_board
from ...errors import ConfigError, ToolNotFoundError, UploadTimeoutError, UploadToolError
from ..build import arduino_cli_missing_message, find_sketch
from ..ports import check_port
from ..results import UploadResult
from .job import UploadJob, last_line

_PERCENT = re.compile(r"(\d{1,3})%")


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


def upload(job: UploadJob) -> UploadResult:
    board = job.board
    cli = programs.find(job.settings.arduino_cli, "arduino-cli")
    if cli is None:
        raise ToolNotFoundError(f"{arduino_cli_missing_message(board)}, then upload again")
    sketch = find_sketch(job.project) if job.project is not None else None
    if sketch is None:
        raise ConfigError(f"arduino-cli uploads a sketch folder with its build: pass the BuildResult or the project "
                          f"folder, not a lone image, for the {board.name}.")
    detected = check_port(board, job.port, job.ports, method="arduino-cli")
    assert detected is not None  # check_port finds a port (or raises) for every method but the drive copies
    input_dir = next(iter(job.artifacts.values())).parent if job.artifacts else None
    command = arduino_cli_upload_command(sketch, board, detected.port, arduino_cli=cli, input_dir=input_dir)

    def watch(line: str) -> None:
        job.say(line)
        match = _PERCENT.search(line)
        if match and int(match.group(1)) <= 100:
            job.step(int(match.group(1)), 100, "write")

    timeout = job.settings.timeout
    run = programs.run(command, timeout=timeout, on_output=watch)
    if run.timed_out:
        raise UploadTimeoutError("arduino-cli upload", timeout, job.recover, output=run.output)
    if run.returncode != 0:
        raise UploadToolError("arduino-cli upload", detected.port, last_line(run.output), job.recover,
                              output=run.output)
    image = job.artifacts.get("bin") or (next(iter(job.artifacts.values())) if job.artifacts else None)
    result = UploadResult(board=board.id, method="arduino-cli", image=image,
                          bytes=image.stat().st_size if image is not None and image.exists() else 0, seconds=0.0,
                          port=None, upload_port=detected.port, command=command, output=run.output)
    return job.come_back(result)


__all__ = ["arduino_cli_upload_command", "upload"]
