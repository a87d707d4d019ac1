"""write_project(..., target="c"): the portable C target as a project folder, for any C toolchain.

The folder holds the generated model (model_c.h/.c: weights as const arrays, a static memory plan, one kernel
call per op), the int8 kernels, and the class names; the virtual board (virtual_board.py) builds it with the
board support of firmware/c_target/board, and any other C99 toolchain can compile the same files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError
from ..model.tflite import TFLite, model_bytes

# Code and constant data besides the weights: the kernels, the protocol and the startup (measured on the
# virtual board for the digits CNN: ~12 KB of text), rounded up.
CODE_ESTIMATE_BYTES = 32 * 1024


@dataclass
class CProject:
    """A written C-target project: the folder, the ops, and what the model costs in flash and RAM."""

    name: str
    root: Path
    files: list[Path]
    board: Any
    ops: list[str]
    arena_bytes: int
    flash_bytes: int  # the weights and constants as compiled into the image (not the .tflite)
    model: Any = field(repr=False, default=None)  # the CModel
    target: str = "c"

    def __repr__(self) -> str:
        return "\n".join([
            f"C project {self.name!r} for the {self.board.name} ({self.board.id}) in {self.root}",
            f"  files:   {', '.join(path.name for path in self.files)}",
            f"  ops ({len(set(self.ops))}): {', '.join(dict.fromkeys(self.ops))}",
            f"  arena:   {self.arena_bytes:,} B (static memory plan, buffers reused by lifetime)",
            f"  weights: {self.flash_bytes:,} B of constants (+ ~{CODE_ESTIMATE_BYTES // 1024} KiB code, estimate)",
        ])

    __str__ = __repr__


def write_c_project(tflite: TFLite, board: Any, out_dir: str | os.PathLike[str], labels: Sequence[Any] | None = None,
                    *, name: str | None = None) -> CProject:
    """Generate the C model for `board` into out_dir/<name>/; checks the board's budget before writing."""
    from ..hardware.virtual.board import labels_c
    from .c_target import generate_c

    data = model_bytes(tflite)
    project_name = name or "tinyml_model"
    model = generate_c(data, name=project_name)
    names = [str(label) for label in labels] if labels is not None else [str(i) for i in range(model.output_bytes)]
    if len(names) != model.output_bytes:
        raise ConfigError(f"{len(names)} labels for {model.output_bytes} outputs: give one label per class.")
    flash_needed = model.weights_bytes + CODE_ESTIMATE_BYTES
    if flash_needed > board.flash_bytes or model.arena_bytes > board.ram_bytes:
        raise ConfigError(
            f"the model does not fit the {board.name}: flash {flash_needed:,} B needed of {board.flash_bytes:,} B, "
            f"arena {model.arena_bytes:,} B of {board.ram_bytes:,} B RAM — shrink the model or pick a bigger board"
        )
    folder = (Path(out_dir) / project_name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    contents = {**model.files, "tinyml_labels.c": labels_c(names)}
    written = []
    for filename, text in contents.items():
        path = folder / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return CProject(name=project_name, root=folder, files=written, board=board, ops=list(model.ops),
                    arena_bytes=model.arena_bytes, flash_bytes=model.weights_bytes, model=model)
