"""Compile a firmware project for a board.

`build()` compiles with arduino-cli when it is installed (else PlatformIO), and returns a `BuildResult` that holds
the tool's whole output and the compiler's diagnostics (the deploy magic hands failed builds to a repair round).
Building is its own module, apart from uploading (flash.py), because it needs no board attached and is about the
compiler's output: the repair loop and the virtual board use it without touching USB.

Tool command lines (`arduino_cli_compile_command`, `platformio_command`) and readers of the output
(`parse_diagnostics`, `build_hint`) are pure functions, so they can be shown to the person and tested without the
tools.
"""
from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from . import programs as tools
from ..boards import Board, as_board
from ..errors import BuildError, ConfigError, ToolNotFoundError
from .programs import OutputCallback

BUILD_TIMEOUT_S = 900.0  # a first TFLite Micro build compiles the whole library: minutes on a laptop

ARDUINO_CLI_INSTALL_URL = "https://arduino.github.io/arduino-cli/latest/installation/"
PLATFORMIO_INSTALL = "pip install platformio"


# ------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Diagnostic:
    """One compiler message: `file:line:column: severity: message`."""

    file: str
    line: int
    column: int | None
    severity: str  # "error", "fatal error", "warning", "note", "linker"
    message: str

    def __str__(self) -> str:
        column = f":{self.column}" if self.column is not None else ""
        where = f"{self.file}:{self.line}{column}: " if self.file else ""
        return f"{where}{self.severity}: {self.message}"


@dataclass
class BuildResult:
    """What `build()` did: `ok`, the tool's whole `output`, its `diagnostics`, and the images it wrote.

    artifacts maps a kind ("bin", "hex", "uf2", "elf", "merged", "bootloader", "partitions", "boot_app0") to a
    file. hint is one line on what to do when the failure is not in the code (a core or library not installed).
    """

    ok: bool
    tool: str
    board: str
    command: list[str]
    output: str
    returncode: int | None
    project_dir: Path
    output_dir: Path
    artifacts: dict[str, Path] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0
    hint: str = ""

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity in ("error", "fatal error", "linker")]

    def error_text(self, max_chars: int = 6000) -> str:
        """The part of the output a person (or a repair prompt) needs: each error with the lines that follow it
        (the source excerpt and notes), within max_chars; the whole output when no error line was recognised."""
        lines = self.output.splitlines()
        keep: list[str] = []
        marked = [i for i, line in enumerate(lines) if _ERROR_LINE.search(line)]
        if not marked:
            text = self.output[-max_chars:]
        else:
            seen: set[int] = set()
            for i in marked:
                for j in range(max(0, i - 1), min(len(lines), i + 6)):
                    if j not in seen:
                        seen.add(j)
                        keep.append(lines[j])
            text = "\n".join(keep)[:max_chars]
        return (f"{self.hint}\n{text}" if self.hint else text).strip()

    def raise_for_errors(self) -> "BuildResult":
        """self when the build succeeded, else BuildError with the first error and the full output attached."""
        if not self.ok:
            raise BuildError(self._headline(), self.output)
        return self

    def _headline(self) -> str:
        if self.ok:
            size = self.artifacts.get("bin") or self.artifacts.get("uf2") or self.artifacts.get("hex")
            made = f", {size.stat().st_size:,} bytes in {size.name}" if size is not None and size.exists() else ""
            return f"Built for {self.board} with {self.tool} in {self.seconds:.1f} s{made}"
        first = self.errors[0] if self.errors else None
        what = f": {first}" if first else (f" (exit {self.returncode})" if self.returncode is not None else "")
        todo = self.hint or "fix the code (error_text() has the compiler's messages) and build again"
        return f"The build for {self.board} with {self.tool} failed{what} — {todo}"

    def __repr__(self) -> str:
        lines = [self._headline()]
        if not self.ok and self.errors:
            lines += [f"  {d}" for d in self.errors[:10]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        rows = "".join(f"<li><code>{escape(str(d))}</code></li>" for d in self.errors[:10])
        details = f"<ul>{rows}</ul>" if rows else ""
        return f"<div><b style='color:{colour}'>{escape(self._headline())}</b>{details}</div>"


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


_DIAGNOSTIC = re.compile(r"^(?P<file>[^:\n]+?):(?P<line>\d+)(?::(?P<column>\d+))?:\s*"
                         r"(?P<severity>fatal error|error|warning|note):\s*(?P<message>.*)$")
_LINKER = re.compile(r"(undefined reference to .*|multiple definition of .*|region `[^']+' overflowed by \d+ bytes"
                     r"|will not fit in region .*)")
_ERROR_LINE = re.compile(r"(fatal error|error:|undefined reference|overflowed by|will not fit|Error during build"
                         r"|Error:|not found)", re.IGNORECASE)


def parse_diagnostics(output: str) -> list[Diagnostic]:
    """gcc/clang and linker messages found in a build's output, in order, without repeats."""
    found: list[Diagnostic] = []
    seen: set[tuple[str, int, str]] = set()
    for raw in output.splitlines():
        line = raw.strip()
        match = _DIAGNOSTIC.match(line)
        if match:
            diagnostic = Diagnostic(match["file"], int(match["line"]),
                                    int(match["column"]) if match["column"] else None,
                                    match["severity"], match["message"].strip())
        else:
            linker = _LINKER.search(line)
            if not linker:
                continue
            location = re.match(r"^(?P<file>[^:\s]+):(?P<line>\d+):", line)
            diagnostic = Diagnostic(location["file"] if location else "", int(location["line"]) if location else 0,
                                    None, "linker", linker.group(1))
        key = (diagnostic.file, diagnostic.line, diagnostic.message)
        if key not in seen:
            seen.add(key)
            found.append(diagnostic)
    return found


def build_hint(output: str, board: Board | str) -> str:
    """One line on a failure that is not in the code: the board's core or a library is not installed."""
    board = as_board(board)
    if re.search(r"[Pp]latform '[^']+' not found|platform not installed|Invalid FQBN|[Uu]nknown FQBN", output):
        return f"the board's core is not installed: run `{board.arduino_install_hint()}`, then build again"
    missing = re.search(r"fatal error: ([\w./-]+\.h): No such file or directory", output)
    if missing:
        return (f"the header {missing.group(1)} is missing: install the library that provides it "
                "(`arduino-cli lib search` finds it, `arduino-cli lib install <name>` installs it), then build again")
    if re.search(r"region `[^']*' overflowed|will not fit in region|Sketch too big|text section exceeds", output):
        return (f"the firmware does not fit the {board.name}'s memory: use a smaller model or arena, or a board "
                "with more flash/RAM")
    return ""


def missing_tools_message(board: Board | str, *, platformio_project: bool = True) -> str:
    """What to install when neither arduino-cli nor PlatformIO is found (one line)."""
    board = as_board(board)
    parts = []
    if board.fqbn:
        parts.append(f"arduino-cli not found: install it ({ARDUINO_CLI_INSTALL_URL}) and run "
                     f"`{board.arduino_install_hint()}`")
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
          output_dir: str | os.PathLike[str] | None = None, timeout: float = BUILD_TIMEOUT_S) -> BuildResult:
    """Compile the firmware project for `board`.

    Uses arduino-cli (`arduino_cli`, else the one on PATH) when the project holds a sketch, else PlatformIO
    (`platformio`, else `pio` on PATH) when it holds a platformio.ini. Images go to output_dir (default
    <project>/build/<board id> for arduino-cli). on_output(line) sees the tool's output as it streams.
    A compile failure is returned (ok=False, with diagnostics and the output), not raised; a missing tool raises
    ToolNotFoundError saying what to install.
    """
    board = as_board(board)
    if board.upload == "qemu":  # the virtual board: the C target compiled for QEMU (virtual_board.py)
        from .virtual import board as virtual_board

        return virtual_board.build(project_dir, board, output_dir=output_dir, on_output=on_output, timeout=timeout)
    project = Path(project_dir)
    if not project.is_dir():
        raise ConfigError(f"No project folder at {project}: write the project first (firmware.write_project).")
    sketch = find_sketch(project)
    ini = project / "platformio.ini"
    cli = tools.find(arduino_cli, "arduino-cli") if (arduino_cli is not None or sketch is not None) else None
    pio = tools.find(platformio, "pio", "platformio") if (platformio is not None or ini.is_file()) else None
    if sketch is None and not ini.is_file():
        raise ConfigError(f"{project} holds neither an Arduino sketch (<name>/<name>.ino) nor a platformio.ini: "
                          "pass the folder write_project wrote.")

    if cli is not None and sketch is not None and board.fqbn and (arduino_cli is not None or platformio is None):
        out = Path(output_dir) if output_dir is not None else project / "build" / board.id
        out.mkdir(parents=True, exist_ok=True)
        command = arduino_cli_compile_command(sketch, board, arduino_cli=cli, output_dir=out)
        run = tools.run(command, timeout=timeout, cwd=project, on_output=on_output)
        artifacts = _artifacts_arduino(out)
        tool = "arduino-cli"
    elif pio is not None and ini.is_file():
        environment = platformio_environment(ini.read_text(encoding="utf-8", errors="replace"), board)
        command = platformio_command(project, pio=pio, environment=environment)
        run = tools.run(command, timeout=timeout, cwd=project, on_output=on_output)
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
    "ARDUINO_CLI_INSTALL_URL", "BUILD_TIMEOUT_S", "PLATFORMIO_INSTALL", "BuildResult", "Diagnostic",
    "arduino_cli_compile_command", "build", "build_artifacts", "build_hint", "find_sketch", "missing_tools_message",
    "parse_diagnostics", "platformio_command", "platformio_environment",
]
