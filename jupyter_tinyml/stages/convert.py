"""Stage `convert`: the trained Keras model as a full-integer int8 TFLite model, measured on the test split.

Whatever writes the code, the cells must leave in the namespace: tflite_model (bytes, int8 input and output),
tflite_bytes (int) and quantized_accuracy (float, the int8 model's accuracy on x_test); and write the model to
model.tflite (or the path named in the request).
"""
from __future__ import annotations

import json
import re

from ..notebook.cells import GeneratedCell
from ..notebook.context import NotebookContext
from ..errors import RecipeError
from .templates import render
from .base import Stage

DEFAULT_PATH = "model.tflite"


def recipe(request: str, context: NotebookContext) -> list[GeneratedCell]:
    """Offline conversion: int8 post-training quantization calibrated on training samples, then evaluation."""
    variables = context.variables
    if "model" not in variables or variables["model"].kind != "keras_model":
        raise RecipeError("No Keras model named `model` in the notebook: train a model first (%%tinyml_train).")
    if "x_train" not in variables:
        raise RecipeError("No x_train for calibration in the notebook: run %%tinyml_prep first (and run its cells).")
    path = tflite_path_in_request(request) or DEFAULT_PATH
    cells = [render("convert", path=json.dumps(path, ensure_ascii=False))]
    evaluated = "x_test" in variables and "y_test" in variables
    if evaluated:
        y_shape = tuple(variables["y_test"].facts.get("shape", ()))
        y_true = "y_test.argmax(axis=1)" if len(y_shape) == 2 else "y_test"  # one-hot rows -> class indices
        class_names = ", class_names=class_names" if "class_names" in variables else ""
        board = json.dumps(context.board["id"]) if context.board else "None"
        cells.append(render("convert_evaluate", y_true=y_true, class_names=class_names, board=board))
    note = (f"**Recipe (offline):** `model` → full-integer int8 TFLite (int8 input and output), calibrated on up to "
            f"300 samples of `x_train`, written to `{path}`"
            + ("; then float vs int8 on `x_test` (accuracy, confusion, per-layer error) in a QuantizationReport."
               if evaluated else "."))
    return [GeneratedCell(note, cell_type="markdown"), *(GeneratedCell(code) for code in cells)]


def tflite_path_in_request(request: str) -> str | None:
    """A .tflite path written in the request ("save it as out/digits.tflite"), as written."""
    match = re.search(r"""['"`]([^'"`\n]+\.tflite)['"`]|([\w~./\\:-]*\w\.tflite)\b""", request, re.IGNORECASE)
    return (match.group(1) or match.group(2)) if match else None


STAGE = Stage(name="convert", title="Conversion to int8 TFLite", prompt_file="convert.md", recipe=recipe)
