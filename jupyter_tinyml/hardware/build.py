"""Compile a firmware project for a board.

`build()` compiles with arduino-cli when it is installed (else PlatformIO; for the virtual board, the Arm cross
compiler through virtual/image.py), and returns a `BuildResult` (results.py) that holds the tool's whole output and
the compiler's diagnostics (diagnostics.py), so a failed build can go to a repair round. Building needs no board
attached; uploading is flash.py's.

Tool command lines (`arduino_cli_compile_command`, `platformio_command`) are pure functions, so they can be shown
to the person and tested without the tools.
"""
from __future__ import annotations

import configparser
import os
from pathlib import Path

from . import programs
from ..boards import Board, as_board
from ..errors import ConfigError, ToolNotFoundError
from .diagnostics import build_hint, parse_diagnostics
from .programs import OutputCallback
from .results import BuildResult
from .settings import BUILD_TIMEOUT_S
from .virtual import image as virtual_image

ARDUINO_CLI_INSTALL_URL = "https://arduino.github.io/arduino-cli/latest/installation/"
PLATFORMIO_INSTALL = "pip install platformio"


# ---------------------------------------------------------------------------------- pure functions


def find_sketch(project_dir: str | os.PathLike[str]) -> Path | None:
    """The Arduino sketch folder in a project: the folder itself when it holds <name>.ino (or any .ino), else the
    one sub-folder that does."""
    project = Path(project_dir)
    if (project / f"{project.name}.ino").is_file() or any(project.glob("*.ino")):
        return project
    found = [path.parent for path in sorted(project.glob("*/*.ino")) if path.stem == path.parent.name]
    return found[0] if len(found) == 1 else None


def arduino_cli_compile_command(sketch_dir: str | os.PathLike[str], board: Board | str, *,
                                arduino_cli: str = "arduino-cli", output_dir: str | os.PathLike[str] | None = None,
                                build_path: str | os.PathLike[str] | None = None) -> list[str]:
    """`arduino-cli compile --fqbn <fqbn> [--output-dir D] [--build-path B] <sketch>`."""
    board = as_board(board)
    if not board.fqbn:
        raise ConfigError(f"The {board.name} has no arduino-cli FQBN in the catalogue: build it with PlatformIO.")
    command = [arduino_cli, "compile", "--fqbn", board.fqbn, "--warnings", "default"]
    if output_dir is not None:
        command += ["--output-dir", str(output_dir)]
    if build_path is not None:
        command += ["--build-path", str(build_path)]
    return command + [str(sketch_dir)]


def platformio_environment(ini_text: str, board: Board | str) -> str | None:
    """The [env:NAME] of a platformio.ini meant for `board`: named like the board's id or PlatformIO id, or the one
    whose `board =` is the board's PlatformIO id. None when no section fits (then `pio run` builds them all)."""
    board = as_board(board)
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(ini_text)
    except configparser.Error:
        return None
    environments = [name[4:] for name in parser.sections() if name.startswith("env:")]
    for name in environments:
        if name in (board.id, board.platformio):
            return name
    for name in environments:
        if board.platformio and parser.get(f"env:{name}", "board", fallback="").strip() == board.platformio:
            return name
    return None


def platformio_command(project_dir: str | os.PathLike[str], *, pio: str = "pio", environment: str | None = None,
                       target: str | None = None, port: str | None = None) -> list[str]:
    """`pio run -d <project> [-e ENV] [-t upload --upload-port PORT]`."""
    command = [pio, "run", "-d", str(project_dir)]
    if environment:
        command += ["-e", environment]
    if target:
        command += ["-t", target]
    if port:
        command += ["--upload-port", port]
    return command


def arduino_cli_missing_message(board: Board | str) -> str:
    """What to do when arduino-cli is not installed: where to get it and how to install the board's core."""
    return (f"arduino-cli not found: install it ({ARDUINO_CLI_INSTALL_URL}) and run "
            f"`{as_board(board).arduino_install_hint()}`")


def missing_tools_message(board: Board | str, *, platformio_project: bool = True) -> str:
    """What to install when neither arduino-cli nor PlatformIO is found (one line)."""
    board = as_board(board)
    parts = []
    if board.fqbn:
        parts.append(arduino_cli_missing_message(board))
    if board.platformio and platformio_project:
        parts.append(f"{'or' if parts else 'PlatformIO not found:'} install PlatformIO (`{PLATFORMIO_INSTALL}`)")
    return ", ".join(parts) + " — then build again"


# ----------------------------------------------------------------------------------------------- build


def _artifacts_arduino(output_dir: Path) -> dict[str, Path]:
    kinds = {".ino.merged.bin": "merged", ".ino.bootloader.bin": "bootloader", ".ino.partitions.bin": "partitions",
             ".ino.with_bootloader.bin": "with_bootloader", ".ino.bin": "bin", ".ino.hex": "hex", ".ino.uf2": "uf2",
             ".ino.elf": "elf"}
    found: dict[str, Path] = {}
    for path in sorted(output_dir.glob("*")):
        for suffix, kind in kinds.items():
            if path.name.endswith(suffix):
                found.setdefault(kind, path)
                break
    if (output_dir / "boot_app0.bin").is_file():
        found["boot_app0"] = output_dir / "boot_app0.bin"
    return found


def _artifacts_platformio(build_dir: Path) -> dict[str, Path]:
    names = {"firmware.bin": "bin", "firmware.hex": "hex", "firmware.uf2": "uf2", "firmware.elf": "elf",
             "bootloader.bin": "bootloader", "partitions.bin": "partitions", "firmware.factory.bin": "merged"}
    return {kind: build_dir / name for name, kind in names.items() if (build_dir / name).is_file()}


def build_artifacts(project_dir: str | os.PathLike[str], board: Board | str) -> dict[str, Path]:
    """Images an earlier `build()` left in the project: build/<board id>/ (arduino-cli), else .pio/build/<env>/."""
    board, project = as_board(board), Path(project_dir)
    found = _artifacts_arduino(project / "build" / board.id)
    if found:
        return found
    for name in (board.id, board.platformio):
        if name and (project / ".pio" / "build" / name).is_dir():
            return _artifacts_platformio(project / ".pio" / "build" / name)
    return {}


def build(project_dir: str | os.PathLike[str], board: Board | str, *, arduino_cli: str | None = None,
          platformio: str | None = None, on_output: OutputCallback | None = None,
          output_dir: str | os.PathLike[str] | None = None, timeout: float = BUILD_TIMEOUT_S,
          overwrite: bool = False) -> BuildResult:
    """Compile the firmware project for `board`.

    Uses arduino-cli (`arduino_cli`, else the one on PATH) when the project holds a sketch, else PlatformIO
    (`platformio`, else `pio` on PATH) when it holds a platformio.ini. Images go to output_dir (default
    <project>/build/<board id> for arduino-cli). on_output(line) sees the tool's output as it streams.
    A compile failure is returned (ok=False, with diagnostics and the output), not raised; a missing tool raises
    ToolNotFoundError saying what to install. The virtual board's build writes only into a folder it made
    (firmware/owned_folder.py); `overwrite=True` lets it replace files it did not write.
    """
    board = as_board(board)
    if board.upload == "qemu":  # the virtual board: the C target, or the TFLite Micro sketch, compiled for QEMU
        return virtual_image.build(project_dir, board, output_dir=output_dir, on_output=on_output, timeout=timeout,
                                   overwrite=overwrite)
    project = Path(project_dir)
    if not project.is_dir():
        raise ConfigError(f"No project folder at {project}: write the project first (firmware.write_project).")
    sketch = find_sketch(project)
    ini = project / "platformio.ini"
    cli = programs.find(arduino_cli, "arduino-cli") if (arduino_cli is not None or sketch is not None) else None
    pio = programs.find(platformio, "pio", "platformio") if (platformio is not None or ini.is_file()) else None
    if sketch is None and not ini.is_file():
        raise ConfigError(f"{project} holds neither an Arduino sketch (<name>/<name>.ino) nor a platformio.ini: "
                          "pass the folder write_project wrote.")

    if cli is not None and sketch is not None and board.fqbn and (arduino_cli is not None or platformio is None):
        out = Path(output_dir) if output_dir is not None else project / "build" / board.id
        out.mkdir(parents=True, exist_ok=True)
        command = arduino_cli_compile_command(sketch, board, arduino_cli=cli, output_dir=out)
        run = programs.run(command, timeout=timeout, cwd=project, on_output=on_output)
        artifacts = _artifacts_arduino(out)
        tool = "arduino-cli"
    elif pio is not None and ini.is_file():
        environment = platformio_environment(ini.read_text(encoding="utf-8", errors="replace"), board)
        command = platformio_command(project, pio=pio, environment=environment)
        run = programs.run(command, timeout=timeout, cwd=project, on_output=on_output)
        out = project / ".pio" / "build" / (environment or board.platformio or "")
        artifacts = _artifacts_platformio(out)
        tool = "PlatformIO"
    else:
        raise ToolNotFoundError(missing_tools_message(board, platformio_project=ini.is_file()))

    hint = build_hint(run.output, board)
    if run.timed_out:
        hint = (f"the build did not finish within {timeout:g} s and was stopped — run it again (a first build of "
                "TFLite Micro takes minutes; pass a larger timeout=)")
    ok = run.returncode == 0 and not run.timed_out
    return BuildResult(ok=ok, tool=tool, board=board.id, command=command, output=run.output,
                       returncode=run.returncode, project_dir=project, output_dir=out, artifacts=artifacts,
                       diagnostics=parse_diagnostics(run.output), seconds=run.seconds, hint="" if ok else hint)


__all__ = [
    "ARDUINO_CLI_INSTALL_URL", "PLATFORMIO_INSTALL", "arduino_cli_compile_command", "arduino_cli_missing_message",
    "build", "build_artifacts", "find_sketch", "missing_tools_message", "platformio_command",
    "platformio_environment",
]
