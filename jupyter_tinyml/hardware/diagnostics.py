"""Read a compiler's output: gcc/clang and linker messages, the part a person needs, and failures not in the code.

Pure functions of the output text, so the repair loop, the panel and the tests read a build the same way, with or
without the tools installed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..boards import Board, as_board


@dataclass(frozen=True)
class Diagnostic:
    """One compiler message: `file:line:column: severity: message`."""

    file: str
    line: int
    column: int | None
    severity: str  # "error", "fatal error", "warning", "note", "linker"
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity in ("error", "fatal error", "linker")

    def __str__(self) -> str:
        column = f":{self.column}" if self.column is not None else ""
        where = f"{self.file}:{self.line}{column}: " if self.file else ""
        return f"{where}{self.severity}: {self.message}"


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


def error_excerpt(output: str, max_chars: int = 6000) -> str:
    """Each error line of a build's output with the lines around it (the source excerpt and notes), within
    max_chars; the end of the output when no error line is recognised."""
    lines = output.splitlines()
    marked = [i for i, line in enumerate(lines) if _ERROR_LINE.search(line)]
    if not marked:
        return output[-max_chars:]
    keep: list[str] = []
    seen: set[int] = set()
    for i in marked:
        for j in range(max(0, i - 1), min(len(lines), i + 6)):
            if j not in seen:
                seen.add(j)
                keep.append(lines[j])
    return "\n".join(keep)[:max_chars]


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


__all__ = ["Diagnostic", "build_hint", "error_excerpt", "parse_diagnostics"]
