"""What a build and an upload return: `BuildResult` and `UploadResult`.

They sit apart from build.py and flash.py because both sides of the house use them: the virtual board returns a
BuildResult from its compiler and an UploadResult from QEMU, and flash.py takes a BuildResult to upload.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from ..errors import BuildError
from .diagnostics import Diagnostic, error_excerpt


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
        return [d for d in self.diagnostics if d.is_error]

    def error_text(self, max_chars: int = 6000) -> str:
        """The part of the output a person (or a repair prompt) needs: each error with the lines that follow it
        (the source excerpt and notes), within max_chars; the whole output when no error line was recognised."""
        text = error_excerpt(self.output, max_chars)
        return (f"{self.hint}\n{text}" if self.hint else text).strip()

    def raise_for_errors(self) -> "BuildResult":
        """self when the build succeeded, else BuildError with the first error and the full output attached."""
        if not self.ok:
            raise BuildError(self.headline(), self.output)
        return self

    def headline(self) -> str:
        """One line: what was built and how big it is, or why it failed and what to do."""
        if self.ok:
            size = self.artifacts.get("bin") or self.artifacts.get("uf2") or self.artifacts.get("hex")
            made = f", {size.stat().st_size:,} bytes in {size.name}" if size is not None and size.exists() else ""
            return f"Built for {self.board} with {self.tool} in {self.seconds:.1f} s{made}"
        first = self.errors[0] if self.errors else None
        what = f": {first}" if first else (f" (exit {self.returncode})" if self.returncode is not None else "")
        todo = self.hint or "fix the code (error_text() has the compiler's messages) and build again"
        return f"The build for {self.board} with {self.tool} failed{what} — {todo}"

    def __repr__(self) -> str:
        lines = [self.headline()]
        if not self.ok and self.errors:
            lines += [f"  {d}" for d in self.errors[:10]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        rows = "".join(f"<li><code>{escape(str(d))}</code></li>" for d in self.errors[:10])
        details = f"<ul>{rows}</ul>" if rows else ""
        return f"<div><b style='color:{colour}'>{escape(self.headline())}</b>{details}</div>"


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


__all__ = ["BuildResult", "UploadResult"]
