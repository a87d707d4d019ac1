"""Generated cells: what one generation holds, its provenance, and its text as one cell.

How the cells reach a notebook (or a headless run's output, or a terminal) is writers.py.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

TAG = "tinyml-generated"
METADATA_KEY = "jupyter_tinyml"


@dataclass
class GeneratedCell:
    """One cell to insert below the magic: code (default) or markdown.

    `blocked_by` holds the blocking check findings the cell still has after the last repair round: it would
    fail as written. The one-cell fallback comments such a part out (findings on top) so the other parts
    still run; the lab extension inserts it as its own cell, which stops nothing else. It never goes into
    the cell's metadata (the findings are in the provenance's checks already).
    """

    source: str
    cell_type: str = "code"
    metadata: dict[str, Any] = field(default_factory=dict)
    blocked_by: list[str] = field(default_factory=list)


@dataclass
class Provenance:
    """Where generated cells came from; stored in cell metadata. Never holds a key."""

    stage: str
    model: str
    request: str
    checks: list[str] = field(default_factory=list)
    status: str = "unreviewed"
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    # The id of the cell that ran the magic: a later run or a Regenerate replaces this magic's unreviewed cells.
    source_cell: str = ""
    # A reviewer's note sent with Regenerate (the request itself stays the person's original words).
    note: str = ""

    def cell_metadata(self) -> dict[str, Any]:
        """The metadata a generated cell carries (DESIGN.md: the cell protocol)."""
        record = asdict(self)
        if not self.note:
            del record["note"]
        return {METADATA_KEY: record, "tags": [TAG]}

    def header(self) -> str:
        """The first comment line of an inserted cell: stage, model, unreviewed, and any check findings."""
        lines = [f"# tinyml {self.stage} · {self.model} · UNREVIEWED: read before running"]
        lines += [f"# check: {finding}" for finding in self.checks]
        return "\n".join(lines)


# Control characters other than tab and newline: a NUL, an escape sequence or a form feed in a cell is nobody's
# code, and some frontends and nbformat validators choke on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """`text` safe to send to a frontend: valid Unicode (a surrogate pair joined into the character it spells,
    a lone surrogate replaced by U+FFFD), line ends as \\n, no control characters but tab and newline.

    Why: a model's answer may hold a lone surrogate (`\\ud800`) that no encoder accepts; the kernel's message
    packer then raises, and before the extension's hello no reply is sent, so the cell stays busy for good."""
    if not text.isascii():
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def combine(cells: list[GeneratedCell], provenance: Provenance) -> str:
    """All cells as one code cell: a header, then each cell after a ``# %%`` marker; markdown as comments.

    A code part that would fail as written (`blocked_by`) is commented out under its findings: one cell
    stops at its first error, and the other parts should still run.
    """
    parts = [provenance.header()]
    for cell in cells:
        if cell.cell_type == "markdown":
            parts.append(f"# %% [markdown]\n{commented(cell.source)}")
        elif cell.blocked_by:
            findings = "\n".join(f"#   {finding}" for finding in cell.blocked_by)
            parts.append(
                "# %%\n# tinyml: this part is commented out, it would fail as written:\n"
                f"{findings}\n# Fix it (or ask %tinyml_fix), then remove the '# ' in front of its lines.\n"
                f"{commented(cell.source)}"
            )
        else:
            parts.append(f"# %%\n{cell.source.strip()}")
    return clean_text("\n\n".join(parts) + "\n")


def commented(source: str) -> str:
    """Every line of `source` behind `# `, blank lines as a bare `#`."""
    return "\n".join(f"# {line}".rstrip() for line in source.strip().splitlines())
