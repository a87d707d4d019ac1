"""Generated cells and how they reach the notebook.

One small interface, NotebookWriter, with two writers: CommWriter sends the cells to the lab extension
(labextension/), which inserts several cells right below the magic's cell with a review bar; the fallback
that works everywhere is ``set_next_input`` with one cell holding all generated cells separated by ``# %%``
markers (jupytext's percent format). Which one is used is detected (comm.py), not configured.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

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


class NotebookWriter(Protocol):
    """Puts generated cells into the notebook below the cell that ran the magic."""

    def insert(self, cells: list[GeneratedCell], provenance: Provenance) -> str:
        """Insert; return a short sentence for the cell output saying what happened."""
        ...


class SetNextInputWriter:
    """Fallback for every frontend: one new cell through IPython's set_next_input (at most one per execution)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def insert(self, cells: list[GeneratedCell], provenance: Provenance) -> str:
        self.shell.set_next_input(combine(cells, provenance), replace=False)
        count = sum(cell.cell_type == "code" for cell in cells)
        blocked = sum(bool(cell.blocked_by) for cell in cells if cell.cell_type == "code")
        out = f"; {blocked} commented out: it would fail as written" if blocked else ""
        return (
            f"Inserted below as one cell ({count} code part{'s' if count != 1 else ''} separated by '# %%'{out}), "
            "unreviewed: read it, then run it."
        )


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


def _cleaned(value: Any) -> Any:
    """A message with every string in it (keys too) passed through clean_text."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_cleaned(key): _cleaned(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cleaned(item) for item in value]
    return value


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


class Channel(Protocol):
    """The kernel's end of the comm to the lab extension (comm.LabLink)."""

    @property
    def live(self) -> bool:
        """The extension said hello: it inserts what we send."""
        ...

    @property
    def pending(self) -> bool:
        """Opened, but no answer yet: the frontend may or may not have the extension."""
        ...

    def send(self, message: dict[str, Any]) -> None: ...


class CommWriter:
    """Cells to the lab extension: each its own cell right below the magic, with provenance and a review bar.

    While the channel is pending (a "Run All" queues the magic before the extension's hello is read) the
    cells also go through set_next_input, so a frontend without the extension still gets them; the
    extension removes that copy (the message names its text).
    """

    def __init__(self, channel: Channel, shell: Any) -> None:
        self.channel = channel
        self.shell = shell

    def insert(self, cells: list[GeneratedCell], provenance: Provenance) -> str:
        message = insert_message(cells, provenance)
        if not self.channel.live:
            text = combine(cells, provenance)
            self.shell.set_next_input(text, replace=False)
            message["fallback_text"] = text
            self.channel.send(message)
            return "Inserted below, unreviewed: read it, then run it."
        self.channel.send(message)
        count = len(cells)
        return (
            f"Inserted {count} cell{'s' if count != 1 else ''} below, unreviewed: read, then run; "
            "the bar on each: Accept, Regenerate, Discard."
        )


def insert_message(cells: list[GeneratedCell], provenance: Provenance) -> dict[str, Any]:
    """The comm message for an insert (DESIGN.md, the cell protocol); no key can be in it, none is known here.
    Every string in it is cleaned (clean_text): the kernel's packer raises on invalid text."""
    generated = provenance.cell_metadata()
    return _cleaned({
        "op": "insert",
        "after": provenance.source_cell or None,
        "source_cell": provenance.source_cell or None,
        "cells": [
            {
                "cell_type": cell.cell_type,
                "source": cell.source.strip("\n").rstrip(),
                "metadata": {
                    **cell.metadata,
                    **generated,
                    "tags": sorted(set(cell.metadata.get("tags", [])) | {TAG}),
                },
            }
            for cell in cells
        ],
    })


def writer_for(shell: Any, channel: Channel | None = None) -> NotebookWriter:
    """The best writer this frontend supports: the lab extension's comm when it is there, else set_next_input."""
    if channel is not None and (channel.live or channel.pending):
        return CommWriter(channel, shell)
    return SetNextInputWriter(shell)
