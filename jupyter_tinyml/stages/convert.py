"""Stage `convert`: the trained Keras model as a full-integer int8 TFLite model, measured on the test split.

Whatever writes the code, the cells must leave in the namespace: tflite_model (bytes, int8 input and output),
tflite_bytes (int) and quantized_accuracy (float, the int8 model's accuracy on x_test); and write the model to
model.tflite (or the path named in the request). When the request asks for another quantization mode
(int8 with float input/output, dynamic range, float16, none), tflite_model holds that model instead and the
note and the cell say so: the deploy stage's int8 firmware then needs a full-integer model.
"""
from __future__ import annotations

import json
import re
import textwrap
from dataclasses import replace

from ..boards import find_board
from ..notebook.cells import GeneratedCell
from ..notebook.context import NotebookContext
from ..errors import RecipeError
from .templates import render
from .base import Stage
from .wishes import read as read_wishes

DEFAULT_PATH = "model.tflite"
DEFAULT_MODE = "int8"
# Per mode: what the converted model holds (the cell's first comment and the note), and whether it is calibrated.
MODES = {
    "int8": ("full-integer int8 TFLite model: int8 weights, activations, input and output, which is what "
             "microcontroller kernels (TFLite Micro, CMSIS-NN) run fastest and smallest", True),
    "int8-float-io": ("int8 TFLite model with float32 input and output (asked): int8 weights and activations inside, "
                      "the board converts its float input itself", True),
    "dynamic": ("dynamic-range TFLite model (asked): int8 weights (the converter leaves layers of fewer than 1024 "
                "weights in float32), float32 activations, input and output; TFLite Micro's int8 firmware does not "
                "run it", False),
    "float16": ("float16 TFLite model (asked): float16 weights, float32 compute, input and output; TFLite Micro's "
                "int8 firmware does not run it", False),
    "none": ("float32 TFLite model (asked, no quantization): the float model as it is; TFLite Micro's int8 "
             "firmware does not run it", False),
}


def recipe(request: str, context: NotebookContext) -> list[GeneratedCell]:
    """Offline conversion: int8 post-training quantization calibrated on training samples (or the mode the request
    asks for), then evaluation against the float model for the board the request or the settings name."""
    wishes = read_wishes(request)
    variables = context.variables
    if "model" not in variables or variables["model"].kind != "keras_model":
        raise RecipeError("No Keras model named `model` in the notebook: train a model first (%%tinyml_train).")
    mode = wishes.quantization or DEFAULT_MODE
    what, calibrated = MODES[mode]
    if calibrated and "x_train" not in variables:
        raise RecipeError("No x_train for calibration in the notebook: run %%tinyml_prep first (and run its cells).")
    if wishes.board:
        context = replace(context, board=find_board(wishes.board).limits())
    path = tflite_path_in_request(request) or DEFAULT_PATH
    calibration = (", calibrated on up to 300 samples of `x_train`" if calibrated else "")
    about = _comment(f"Convert the Keras model to a {what}." + (f" {_CALIBRATION}" if calibrated else ""))
    representative = ", representative_data=x_train" if calibrated else ""
    cells = [render("convert", path=json.dumps(path, ensure_ascii=False), mode=mode, about=about,
                    representative=representative)]
    evaluated = "x_test" in variables and "y_test" in variables
    if evaluated:
        y_shape = tuple(variables["y_test"].facts.get("shape", ()))
        y_true = "y_test.argmax(axis=1)" if len(y_shape) == 2 else "y_test"  # one-hot rows -> class indices
        class_names = ", class_names=class_names" if "class_names" in variables else ""
        board = json.dumps(context.board["id"]) if context.board else "None"
        cells.append(render("convert_evaluate", y_true=y_true, class_names=class_names, board=board,
                            representative=representative, quantized=_QUANTIZED.get(mode, mode)))
    board_note = f" for the {context.board['board']}" + (" (asked)" if wishes.board else "") if context.board else ""
    note = (f"**Recipe (offline):** `model` → {what}{calibration}, written to `{path}`"
            + (f"; then float vs {_QUANTIZED.get(mode, mode)} on `x_test` (accuracy, confusion, per-layer error) in a "
               f"QuantizationReport{board_note}." if evaluated else "."))
    return [GeneratedCell(note, cell_type="markdown"), *(GeneratedCell(code) for code in cells)]


_CALIBRATION = ("convert() calibrates each tensor's int8 range on a few hundred training samples (drawn at random, "
                "with a seed). Dense layers get one weight scale each (per tensor), which TFLite Micro's Arduino "
                "library computes exactly; convolutions keep one scale per channel.")
_QUANTIZED = {"int8": "int8", "int8-float-io": "int8", "dynamic": "dynamic-range", "float16": "float16",
              "none": "float32 TFLite"}


def _comment(text: str, width: int = 112) -> str:
    """`text` as `# ` comment lines of at most `width` characters."""
    return "\n".join("# " + line for line in textwrap.wrap(text, width - 2))


def tflite_path_in_request(request: str) -> str | None:
    """A .tflite path written in the request ("save it as out/digits.tflite"), as written."""
    match = re.search(r"""['"`]([^'"`\n]+\.tflite)['"`]|([\w~./\\:-]*\w\.tflite)\b""", request, re.IGNORECASE)
    return (match.group(1) or match.group(2)) if match else None


STAGE = Stage(name="convert", title="Conversion to int8 TFLite", prompt_file="convert.md", recipe=recipe,
              hears=frozenset({"quantization", "tflite_path", "board"}))
