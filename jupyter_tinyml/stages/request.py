"""StageRequest: what a person asked one stage for, as data that knows nothing of IPython.

The magics build it from their parsed arguments, the lab extension's Regenerate builds the same object from a
remembered run (or a cell's provenance), and code or tests build it directly: `base.run(request, ...)`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import TinyML

# The generating stages, by magic suffix; each is a module of this package with a STAGE.
STAGE_NAMES = ("prep", "train", "convert", "deploy", "fix")


@dataclass(frozen=True)
class StageRequest:
    """One ask of one stage.

    `text` is the person's request (for fix: the failing cell, see fix.request_for); `note` a reviewer's words
    sent with Regenerate, which the model reads after the request while the provenance keeps them apart.
    `model`, `board` and `budget` override the session's settings for this ask only (None: the setting).
    `run` also executes the cells, `insert` false only shows them; `quiet` turns streaming off (nothing is
    running to stream into). `cell_id` is the magic's cell, where the cells go and what Regenerate names.
    `last_error` is the traceback the context carries (fix), None for the last failure the notebook saw.
    """

    stage: str
    text: str
    model: str | None = None
    board: str | None = None
    budget: int | None = None
    run: bool = False
    insert: bool = True
    quiet: bool = False
    note: str = ""
    cell_id: str = ""
    last_error: str | None = None

    @property
    def prompt(self) -> str:
        """The request as the model reads it: the person's words, then the reviewer's note if there is one.
        Not redacted here (recipes read it as written); base.build_messages redacts the prompt it goes into."""
        if not self.note:
            return self.text
        return f"{self.text.rstrip()}\n\nReviewer's note on the previous answer: {self.note}"

    def settings(self, session: TinyML) -> TinyML:
        """The session's settings with this request's overrides, as a copy (the session keeps its own)."""
        return session.with_overrides(model=self.model, stream=False if self.quiet else None)

    def again(self, cell_id: str, note: str = "") -> "StageRequest":
        """The same ask for Regenerate: into `cell_id`, with the reviewer's note, shown nowhere, run never."""
        return replace(self, cell_id=cell_id, note=note.strip(), run=False, insert=True, quiet=True)
