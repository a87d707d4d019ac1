"""Deployment: the model as firmware parts. Exact parts (bytes, op list, budgets) are computed, never guessed."""
from __future__ import annotations

from ..cells import GeneratedCell
from ..context import NotebookContext
from ..errors import RecipeError
from ..templates import render
from .base import Stage


def find_tflite(context: NotebookContext) -> str:
    """The variable holding the int8 model: `tflite_model` by convention, else the first TFLite in the notebook."""
    candidates = [name for name, summary in context.variables.items() if summary.kind == "tflite"]
    if not candidates:
        raise RecipeError("No TFLite model in the notebook: convert one first (%%tinyml_convert).")
    return "tflite_model" if "tflite_model" in candidates else candidates[0]


def recipe(request: str, context: NotebookContext) -> list[GeneratedCell]:
    """The model as an aligned C header with its op list, and a flash check when a board is set."""
    name = find_tflite(context)
    summary = context.variables[name]
    source = name if summary.facts.get("source", "bytes") == "bytes" else f"open({name}, 'rb').read()"
    cells = [
        GeneratedCell(
            f"Recipe (offline): `{name}` as `model_data.h` (16-byte aligned C array) and the ops it needs.",
            "markdown",
        ),
        GeneratedCell(render("deploy_c_array", tflite=source, header="model_data.h")),
    ]
    if context.board:
        cells.append(
            GeneratedCell(
                render(
                    "deploy_budget",
                    board=context.board["board"],
                    flash_bytes=context.board["flash_bytes"],
                )
            )
        )
    return cells


STAGE = Stage(name="deploy", title="Deployment", prompt_file="deploy.md", recipe=recipe)
