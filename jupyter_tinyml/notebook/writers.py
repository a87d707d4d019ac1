"""How generated cells reach the person: the writer for the frontend that runs the magic.

One small interface, NotebookWriter, and a writer per kind of frontend (frontend.py detects it, nothing is
configured):
- CommWriter sends the cells to the lab extension (labextension/), which inserts each right below the magic's
  cell with a review bar;
- SetNextInputWriter, for a notebook frontend without the extension, asks for one new cell holding all generated
  cells separated by ``# %%`` markers (jupytext's percent format);
- OutputWriter, where nothing inserts cells (nbclient, nbconvert --execute, papermill), shows the code in the
  magic's own output as a code block, so it is kept in the executed notebook;
- TerminalWriter, in a terminal IPython, prints the code and puts it in the next prompt.
"""
from __future__ import annotations

from typing import Any, Protocol

from .cells import TAG, GeneratedCell, Provenance, clean_text, combine
from .frontend import Frontend, frontend_of


class NotebookWriter(Protocol):
    """Puts generated cells into the notebook below the cell that ran the magic."""

    def insert(self, cells: list[GeneratedCell], provenance: Provenance) -> str:
        """Insert; return a short sentence for the cell output saying what happened."""
        ...


class SetNextInputWriter:
    """A notebook frontend without the extension: one new cell through IPython's set_next_input (one per execution)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def insert(self, cells: list[GeneratedCell], provenance: Provenance) -> str:
        self.shell.set_next_input(combine(cells, provenance), replace=False)
        return f"Inserted below as one cell ({_parts(cells)}), unreviewed: read it, then run it."




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
            "one bar for them: Accept all, Regenerate, Discard all (✓/✕ on each cell)."
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


def writer_for(shell: Any, channel: Channel | None = None, *, runs: bool = False) -> NotebookWriter:
    """The best writer this frontend supports: the lab extension's comm when it is live (or may be), else
    set_next_input; the output where nothing inserts, the next prompt in a terminal. `runs`: --run executes the
    cells after the writer (its sentence says so)."""
    frontend = frontend_of(shell)
    if frontend is Frontend.TERMINAL:
        return TerminalWriter(shell)
    if frontend is Frontend.HEADLESS and not (channel is not None and channel.live):
        return OutputWriter(shell, runs=runs)
    if channel is not None and (channel.live or channel.pending):
        return CommWriter(channel, shell)
    return SetNextInputWriter(shell)


def _cleaned(value: Any) -> Any:
    """A message with every string in it (keys too) passed through clean_text."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_cleaned(key): _cleaned(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cleaned(item) for item in value]
    return value


def _parts(cells: list[GeneratedCell]) -> str:
    """"2 code parts" (and how many are commented out): what a one-cell writer's sentence counts."""
    count = sum(cell.cell_type == "code" for cell in cells)
    blocked = sum(bool(cell.blocked_by) for cell in cells if cell.cell_type == "code")
    out = f"; {blocked} commented out: it would fail as written" if blocked else ""
    return f"{count} code part{'s' if count != 1 else ''} separated by '# %%'{out}"


class OutputWriter:
    """Where no frontend inserts cells (a headless run): the code goes into the magic's output, as a code block.

    Why the output: nbclient drops set_next_input, so the saved notebook would hold "inserted below" and no code.
    A display with Markdown (a fenced block, rendered by nbconvert's HTML and by any notebook viewer) and the plain
    text beside it (for text-only readers) keeps it where the run is read.
    """

    def __init__(self, shell: Any, *, runs: bool = False) -> None:
        self.shell = shell
        self.runs = runs

    def insert(self, cells: list[GeneratedCell], provenance: Provenance) -> str:
        from IPython.display import display

        text = combine(cells, provenance)
        fence = "````" if "```" in text else "```"
        display({"text/markdown": f"{fence}python\n{text}{fence}", "text/plain": text}, raw=True)
        then = "--run executes it next" if self.runs else "copy it into a cell to run it, or run the magic with --run"
        return (
            f"No frontend here inserts cells (a headless run: nbclient, nbconvert, papermill): the generated code "
            f"({_parts(cells)}) is shown below, unreviewed; {then}."
        )


class TerminalWriter:
    """A terminal IPython: the code is printed and put in the next prompt (set_next_input there), not "below"."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def insert(self, cells: list[GeneratedCell], provenance: Provenance) -> str:
        text = combine(cells, provenance)
        print(text)
        self.shell.set_next_input(text, replace=False)
        return f"The generated code ({_parts(cells)}) is printed above and waits in your next prompt, unreviewed: read it, then press Enter to run it."
