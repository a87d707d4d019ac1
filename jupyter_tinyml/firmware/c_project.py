"""write_project(..., target="c"): the portable C target as a project folder, for any C toolchain.

The folder holds the generated model (model_c.h/.c: weights as const arrays, a static memory plan, one kernel
call per op), the int8 kernels, and the class names; the virtual board (hardware/virtual) builds it with the
board support of firmware/c_target/board, and any other C99 toolchain can compile the same files.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..budget import Budget, check_budget
from ..errors import ConfigError
from ..model.tflite import Graph
from .c_code import labels_c
from .c_target import CModel, generate_c

if TYPE_CHECKING:
    from ..boards import Board

@dataclass
class CProject:
    """A written C-target project: the folder, the ops, and what the model costs in flash and RAM."""

    name: str
    root: Path
    files: list[Path]
    board: Board
    ops: list[str]
    arena_bytes: int
    flash_bytes: int  # the weights and constants as compiled into the image (not the .tflite)
    budget: Budget
    model: CModel | None = field(repr=False, default=None)
    target: str = "c"

    def __repr__(self) -> str:
        return "\n".join([
            f"C project {self.name!r} for the {self.board.name} ({self.board.id}) in {self.root}",
            f"  files:   {', '.join(path.name for path in self.files)}",
            f"  ops ({len(set(self.ops))}): {', '.join(dict.fromkeys(self.ops))}",
            f"  arena:   {self.arena_bytes:,} B (static memory plan, buffers reused by lifetime)",
            f"  weights: {self.flash_bytes:,} B of constants",
            f"  {self.budget.flash_text()}",
            f"  {self.budget.ram_text()}",
        ])

    __str__ = __repr__


def write_c_project(graph: Graph, board: Board, out_dir: str | os.PathLike[str], labels: Sequence[Any] | None = None,
                    *, name: str | None = None) -> CProject:
    """Generate the C model of `graph` for `board` into out_dir/<name>/; checks the board's budget before writing."""
    project_name = name or "tinyml_model"
    model = generate_c(graph, name=project_name)
    names = [str(label) for label in labels] if labels is not None else [str(i) for i in range(model.output_bytes)]
    if len(names) != model.output_bytes:
        raise ConfigError(f"{len(names)} labels for {model.output_bytes} outputs: give one label per class.")
    budget = check_budget(model.weights_bytes, model.arena_bytes, board, input_bytes=model.input_bytes, target="c")
    budget.require()
    folder = (Path(out_dir) / project_name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    contents = {**model.files, "tinyml_labels.c": labels_c(names)}
    written = []
    for filename, text in contents.items():
        path = folder / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return CProject(name=project_name, root=folder, files=written, board=board, ops=list(model.ops),
                    arena_bytes=model.arena_bytes, flash_bytes=model.weights_bytes, budget=budget, model=model)
