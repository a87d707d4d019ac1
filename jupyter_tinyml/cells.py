"""Generated cells and how they reach the notebook.

One small interface, NotebookWriter, so the lab extension (which can insert several cells below the magic's
cell) plugs in later beside the fallback that works everywhere: ``set_next_input`` with one cell holding all
generated cells separated by ``# %%`` markers (jupytext's percent format).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

TAG = "tinyml-generated"
METADATA_KEY = "jupyter_tinyml"


@dataclass
class GeneratedCell:
    """One cell to insert below the magic: code (default) or markdown."""

    source: str
    cell_type: str = "code"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Provenance:
    """Where generated cells came from; stored in cell metadata. Never holds a key."""

    stage: str
    model: str
    request: str
    checks: list[str] = field(default_factory=list)
    status: str = "unreviewed"
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def cell_metadata(self) -> dict[str, Any]:
        """The metadata a generated cell carries (DESIGN.md: the cell protocol)."""
        return {METADATA_KEY: asdict(self), "tags": [TAG]}

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
        return (
            f"Inserted below as one cell ({count} code part{'s' if count != 1 else ''} separated by '# %%'), "
            "unreviewed: read it, then run it."
        )


def combine(cells: list[GeneratedCell], provenance: Provenance) -> str:
    """All cells as one code cell: a header, then each cell after a ``# %%`` marker; markdown as comments."""
    parts = [provenance.header()]
    for cell in cells:
        if cell.cell_type == "markdown":
            commented = "\n".join(f"# {line}".rstrip() for line in cell.source.strip().splitlines())
            parts.append(f"# %% [markdown]\n{commented}")
        else:
            parts.append(f"# %%\n{cell.source.strip()}")
    return "\n\n".join(parts) + "\n"


def writer_for(shell: Any) -> NotebookWriter:
    """The best writer this frontend supports (the lab extension's comm arrives with its own issue)."""
    return SetNextInputWriter(shell)
