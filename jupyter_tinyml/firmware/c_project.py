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
from ..errors import ConfigError, QuantizationError
from ..model.tflite import Graph
from .c_code import labels_c, safe_name
from .c_target import CModel, generate_c
from .owned_folder import claim, write_file

if TYPE_CHECKING:
    from ..boards import Board

DEFAULT_NAME = "tinyml_model"
# The writer its marker file names: the same as the TFLite Micro target's, so a project written again with the other
# target removes the files of the first (owned_folder.OwnedFolder.record).
WRITER = "write_project"
# How lower() starts its refusal of ops without a kernel.
_NO_KERNEL = "the C target has no kernel for "


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
    target_reason: str = ""  # which target write_project chose and why, in one line

    def __repr__(self) -> str:
        return "\n".join([
            f"C project {self.name!r} for the {self.board.name} ({self.board.id}) in {self.root}",
            *([f"  target:  {self.target_reason}"] if self.target_reason else []),
            f"  files:   {', '.join(path.name for path in self.files)}",
            f"  ops ({len(set(self.ops))}): {', '.join(dict.fromkeys(self.ops))}",
            f"  arena:   {self.arena_bytes:,} B (static memory plan, buffers reused by lifetime)",
            f"  weights: {self.flash_bytes:,} B of constants",
            f"  {self.budget.flash_text()}",
            f"  {self.budget.ram_text()}",
        ])

    __str__ = __repr__


def c_model_or_gap(graph: Graph, name: str) -> tuple[CModel | None, str]:
    """The C model of `graph`, or None and what the C target does not cover ("MEAN (over axes [1] of ...)").

    The C target itself decides, by generating the model: a supported op it still cannot lower (MEAN over one
    axis, a dilated convolution) is refused as surely as an op it has no kernel for."""
    try:
        return generate_c(graph, name=name), ""
    except QuantizationError as error:
        detail = str(error).split(" — ")[0]  # what it refuses, without the advice meant for the C target alone
        if detail.startswith(_NO_KERNEL):
            return None, f"{detail[len(_NO_KERNEL):]} (no kernel)"
        first_word, _, rest = detail.partition(" ")
        if first_word in {operator.name for operator in graph.operators}:
            return None, f"{first_word} ({rest})"
        return None, f"this model ({detail})"


def write_c_project(graph: Graph, board: Board, out_dir: str | os.PathLike[str], labels: Sequence[Any] | None = None,
                    *, name: str | None = None, model: CModel | None = None, target_reason: str = "",
                    overwrite: bool = False) -> CProject:
    """Generate the C model of `graph` for `board` into out_dir/<name>/; checks the board's budget before writing.

    model: the C model already generated for `graph` under this name (write_project's target choice made it).
    `name` becomes a safe folder name ("../../x" -> "x"); files are replaced only as write_project replaces them
    (out_dir's marker lists them, or overwrite=True), else FolderNotOursError names the first."""
    project_name = safe_name(name, DEFAULT_NAME) if name is not None else DEFAULT_NAME
    model = model if model is not None else generate_c(graph, name=project_name)
    names = [str(label) for label in labels] if labels is not None else [str(i) for i in range(model.output_bytes)]
    if len(names) != model.output_bytes:
        raise ConfigError(f"{len(names)} labels for {model.output_bytes} outputs: give one label per class.")
    budget = check_budget(model.weights_bytes, model.arena_bytes, board, input_bytes=model.input_bytes, target="c")
    budget.require()
    root = Path(out_dir).resolve()
    folder = root / project_name
    files = {**model.files, "tinyml_labels.c": labels_c(names)}
    contents = {folder / filename: text for filename, text in files.items()}
    owned = claim(root, WRITER, contents, overwrite=overwrite)
    for path, text in contents.items():
        write_file(path, text)
    owned.record(contents)
    written = list(contents)
    return CProject(name=project_name, root=folder, files=written, board=board, ops=list(model.ops),
                    arena_bytes=model.arena_bytes, flash_bytes=model.weights_bytes, budget=budget, model=model,
                    target_reason=target_reason)
