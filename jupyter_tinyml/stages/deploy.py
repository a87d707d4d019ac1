"""Deployment: a TFLite Micro firmware project for the board, and the panel that builds, flashes and checks it.

Exact parts (bytes, op list, arena, quantization, budgets) are computed by `firmware.write_project`; a model
writes only the application glue inside the skeleton's marked regions.
"""
from __future__ import annotations

from ..notebook.cells import GeneratedCell
from ..notebook.context import NotebookContext
from ..errors import RecipeError
from .templates import render
from .base import Stage

OUT_DIR = "firmware"


def find_tflite(context: NotebookContext) -> str:
    """The variable holding the int8 model: `tflite_model` by convention, else the first TFLite in the notebook."""
    candidates = [name for name, summary in context.variables.items() if summary.kind == "tflite"]
    if not candidates:
        raise RecipeError("No TFLite model in the notebook: convert one first (%%tinyml_convert).")
    return "tflite_model" if "tflite_model" in candidates else candidates[0]


def recipe(request: str, context: NotebookContext) -> list[GeneratedCell]:
    """The serial-driven default: the project for the chosen board and a DeployPanel with the test samples."""
    if not context.board:
        raise RecipeError(
            "Deployment needs a board: %tinyml config board=nano33ble (or --board); %tinyml boards lists them."
        )
    name = find_tflite(context)
    model = name if context.variables[name].facts.get("source", "bytes") == "bytes" else f"open({name}, 'rb').read()"
    labels = "class_names" if "class_names" in context.variables else "None"
    samples = "x_test" if "x_test" in context.variables else "None"
    code = render("deploy_project", model=model, board=context.board["id"], board_name=context.board["board"],
                  out_dir=OUT_DIR, labels=labels, samples=samples)
    note = (f"**Recipe (offline):** `{name}` → a TFLite Micro project for the {context.board['board']} in "
            f"`{OUT_DIR}/` (serial-driven: features in, class out), then the deploy panel"
            + (" with `x_test` for the on-device check." if samples != "None" else "."))
    return [GeneratedCell(note, "markdown"), GeneratedCell(code)]


STAGE = Stage(name="deploy", title="Deployment", prompt_file="deploy.md", recipe=recipe)
