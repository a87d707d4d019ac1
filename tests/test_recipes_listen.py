"""The offline recipes listen: what a request and a Regenerate note ask for (wishes.py) is read phrase by phrase,
honoured in the generated code, stated in the note, and what was not used is said in one line; then a real kernel
runs the generated cells and the trained model, split and converted model are what was asked for."""
from __future__ import annotations

import textwrap
from typing import Iterator

import numpy as np
import pandas as pd
import pytest

from jupyter_tinyml.config import TinyML
from jupyter_tinyml.errors import RecipeError, WishOutOfRangeError
from jupyter_tinyml.notebook.context import capture
from jupyter_tinyml.notebook.summaries import VariableSummary
from jupyter_tinyml.stages import base, convert, deploy, prep, train
from jupyter_tinyml.stages.request import StageRequest
from jupyter_tinyml.stages.wishes import CNN, CONV1D, DENSE, read
from test_recipes import Kernel

NO_CONVOLUTIONS = StageRequest("train", "a small CNN with 3 conv layers", note="no convolutions").prompt


def code_of(cells) -> str:
    return "\n".join(cell.source for cell in cells if cell.cell_type == "code")


def split_namespace(shape: tuple[int, ...]) -> dict:
    n = shape[0]
    return {"x_train": np.zeros(shape, np.float32), "y_train": np.arange(n) % 3,
            "x_test": np.zeros((10, *shape[1:]), np.float32), "y_test": np.arange(10) % 3}


# --- Reading the words: one phrase, one value ------------------------------------------------------------------


@pytest.mark.parametrize("phrase, wanted", [
    ("train for 10 epochs", {"epochs": 10}),
    ("ten epochs", {"epochs": 10}),
    ("epochs=25", {"epochs": 25}),
    ("batch 64", {"batch_size": 64}),
    ("batch size of 16", {"batch_size": 16}),
    ("batches of 8", {"batch_size": 8}),
    ("learning rate 0.01", {"learning_rate": 0.01}),
    ("lr 1e-3", {"learning_rate": 0.001}),
    ("keep 20% for testing", {"test_split": 0.2}),
    ("test split 0.25", {"test_split": 0.25}),
    ("a 70/30 split", {"test_split": 0.3}),
    ("validation 15%", {"validation_split": 0.15}),
    ("use 20% for validation", {"validation_split": 0.2}),
    ("label column colour", {"label_column": "colour"}),
    ("the target column is 'species'", {"label_column": "species"}),
    ("use columns r, g, b", {"feature_columns": ("r", "g", "b")}),
    ("use columns r, g and b and train for 5 epochs", {"feature_columns": ("r", "g", "b"), "epochs": 5}),
    ("label column colour, use columns r, g and b, validation 15%",
     {"label_column": "colour", "feature_columns": ("r", "g", "b"), "validation_split": 0.15}),
    ("just dense layers", {"layer_kind": None}),  # "dense layers" without a count or "only": no wish
    ("dense only", {"layer_kind": DENSE}),
    ("an MLP", {"layer_kind": DENSE}),
    ("no convolutions", {"layer_kind": DENSE}),
    ("a small CNN", {"layer_kind": CNN}),
    ("a Conv1D network", {"layer_kind": CONV1D}),
    ("one dense layer", {"dense_layers": 1}),
    ("two hidden layers of 64 units", {"dense_layers": 2, "units": 64}),
    ("3 conv layers", {"conv_layers": 3}),
    ("dropout 0.2", {"dropout": 0.2}),
    ("20% dropout", {"dropout": 0.2}),
    ("full-integer int8", {"quantization": "int8"}),
    ("int8 with float input and output", {"quantization": "int8-float-io"}),
    ("dynamic-range quantization", {"quantization": "dynamic"}),
    ("float16", {"quantization": "float16"}),
    ("for the Nano 33 BLE Sense", {"board": "nano33ble"}),
    ("for the Nano 33 BLE Sense Rev2", {"board": "nano33ble-rev2"}),
    ("on the virtual board", {"board": "virtual-cortex-m4"}),
])
def test_each_phrase_gives_its_wish(phrase, wanted):
    wishes = read(phrase)
    assert {name: getattr(wishes, name) for name in wanted} == wanted


def test_the_regenerate_note_wins_over_the_request():
    wishes = read(NO_CONVOLUTIONS)
    assert (wishes.layer_kind, wishes.conv_layers) == (DENSE, None)
    both = read(StageRequest("train", "20 epochs, batch 32", note="only 5 epochs").prompt)
    assert (both.epochs, both.batch_size) == (5, 32)


def test_filler_data_names_and_lifecycle_words_are_not_flagged():
    def notice(stage: str, request: str, namespace: dict) -> list[str]:
        generation = base.run(StageRequest(stage, request), capture(namespace), TinyML())
        return generation.notices

    images = {"images": np.zeros((60, 8, 8)), "labels": np.arange(60) % 3}
    assert notice("prep", "Please use the digit images and labels", images) == []
    assert notice("train", "a small CNN that fits an Arduino Nano 33 BLE Sense, 10 epochs",
                  split_namespace((60, 8, 8, 1))) == []


def test_what_was_not_used_is_said_in_one_line():
    generation = base.run(StageRequest("train", "Just one dense layer, add batch normalisation",
                                       note="keep 20% for testing"), capture(split_namespace((60, 8, 8, 1))), TinyML())
    assert generation.notices == [
        '[tinyml] the offline recipe did not use: "keep 20% for testing" (%%tinyml_prep reads it); '
        '"add batch normalisation" — a configured model can (%tinyml config model=...)'
    ]
    assert "keras.layers.Dense(64" in code_of(generation.cells)  # the part it could read was used


@pytest.mark.parametrize("stage, request_text, message", [
    (train, "train for 0 epochs", "epochs 0, .* use 1 to 1000"),
    (train, "dropout 1.5", "dropout 1.5, .* use 0 to 0.9"),
    (train, "batch size 0", "batch size 0, .*"),
    (train, "learning rate 5", "learning rate 5, .*"),
    (prep, "keep 95% for testing", "test split 95%, .* use 5% to 50%"),
])
def test_a_wish_that_makes_no_sense_says_what_range_works(stage, request_text, message):
    namespace = split_namespace((60, 8, 8, 1)) if stage is train else {"images": np.zeros((60, 8, 8)),
                                                                       "labels": np.arange(60) % 3}
    with pytest.raises(WishOutOfRangeError, match=message):
        stage.recipe(request_text, capture(namespace))


# --- The generated code, before it runs ----------------------------------------------------------------------


def test_nothing_asked_keeps_the_usual_networks_and_settings():
    assert "Conv2D" in code_of(train.recipe("", capture(split_namespace((60, 8, 8, 1)))))
    code = code_of(train.recipe("", capture(split_namespace((60, 13)))))
    assert "Dense(32" in code and "Dense(16" in code and "batch_size=32" in code and "validation_split=0.1," in code
    assert 'optimizer="adam"' in code and "verbose=0" in code and "TrainingProgress()" in code


def test_train_honours_kind_counts_units_dropout_and_optimizer():
    windows = split_namespace((60, 32, 3))
    code = code_of(train.recipe("3 conv layers, two hidden layers of 24 units, dropout 0.3, lr 0.005",
                                capture(windows)))
    assert code.count("Conv1D(") == 3 and code.count("Dense(24") == 2 and code.count("Dropout(0.3)") == 2
    assert "Adam(learning_rate=0.005)" in code
    assert "Conv" not in code_of(train.recipe("dense only", capture(windows)))
    assert "Conv1D" in code_of(train.recipe("a CNN", capture(windows)))  # a CNN over time is a Conv1D net
    with pytest.raises(RecipeError, match="tabular features .* ask for dense layers"):
        train.recipe("a CNN", capture(split_namespace((60, 13))))
    with pytest.raises(RecipeError, match="holds images"):
        train.recipe("Conv1D layers", capture(split_namespace((60, 8, 8, 1))))


def test_the_note_states_the_choices_that_were_asked():
    cells = train.recipe("one dense layer, 10 epochs, batch 64", capture(split_namespace((60, 8, 8, 1))))
    assert "10 epochs at most (asked)" in cells[0].source and "batch 64 (asked)" in cells[0].source
    assert "1 hidden layer (asked)" in cells[0].source
    plain = train.recipe("", capture(split_namespace((60, 8, 8, 1))))[0].source
    assert "(asked)" not in plain


def test_prep_honours_split_and_columns_and_says_which_columns_exist():
    frame = pd.DataFrame({"r": [0.1] * 30, "g": [0.2] * 30, "b": [0.3] * 30, "lux": [1.0] * 30,
                          "colour": ["red", "green", "blue"] * 10})
    cells = prep.recipe("label column colour, use columns r, g and b, keep 30% for testing", capture({"rgb": frame}))
    assert 'table = table[["r", "g", "b", label_column]]' in code_of(cells) and "test_size=0.3," in code_of(cells)
    assert "stratified 70/30 split (asked)" in cells[0].source and "label column `colour` (asked)" in cells[0].source
    with pytest.raises(RecipeError, match="no such column; its columns are: r, g, b, lux, colour"):
        prep.recipe("use columns r, hue", capture({"rgb": frame}))
    with pytest.raises(RecipeError, match="not a table"):
        prep.recipe("use columns r, g", capture({"images": np.zeros((60, 8, 8)), "labels": np.arange(60) % 3}))


def test_convert_and_deploy_take_the_mode_and_the_board_from_the_request():
    context = capture({"x_train": np.zeros((20, 4), np.float32), "x_test": np.zeros((5, 4), np.float32),
                       "y_test": np.arange(5) % 2})
    # The summary a trained Keras model gets (the kernel tests below convert real ones; Keras is slow to import).
    context.variables["model"] = VariableSummary("model", "keras_model", "Keras model `model`")
    cells = convert.recipe("float16 for the Nano 33 BLE Sense", context)
    assert 'convert(model, quantization="float16")' in code_of(cells)  # no calibration data: float16 needs none
    assert 'board="nano33ble"' in code_of(cells) and "float16 TFLite model (asked)" in cells[0].source
    assert 'convert(model, representative_data=x_train, quantization="int8")' in code_of(convert.recipe("", context))
    context = capture({"tflite_model": b"\x1c\x00\x00\x00TFL3" + bytes(64)}, board=None)
    assert 'board="virtual-cortex-m4"' in code_of(deploy.recipe("on the virtual board", context))


# --- In a real kernel: the trained model and the converted model are what was asked --------------------------

IMAGES = """
import numpy as np
rng = np.random.default_rng(0)
patterns = rng.uniform(0, 16, (4, 8, 8))
labels = np.repeat(np.arange(4), 40)
images = np.clip(patterns[labels] + rng.normal(0, 2.0, (labels.size, 8, 8)), 0, 16)
"""

COLOURS = """
import numpy as np
import pandas as pd
rng = np.random.default_rng(1)
names = np.array(["red", "green", "blue"])
colour = names[np.arange(150) % 3]
base = {"red": (0.6, 0.2, 0.2), "green": (0.2, 0.6, 0.2), "blue": (0.2, 0.2, 0.6)}
rgb = np.array([base[c] for c in colour]) + rng.normal(0, 0.04, (150, 3))
readings = pd.DataFrame({"r": rgb[:, 0], "g": rgb[:, 1], "b": rgb[:, 2], "lux": rng.uniform(0, 1, 150),
                         "colour": colour})
"""

# The noise the generated cells must not add under the cell (TensorFlow/absl C++ lines, Python warnings).
NOISE = ("I0000", "W0000", "E0000", "INFO", "Warning", "warning:", "cpu_feature_guard")


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    """One kernel for the file, with the extension loaded as a notebook would have it."""
    k = Kernel()
    k.run("%load_ext jupyter_tinyml")
    yield k
    k.stop()


def run_stage(kernel: Kernel, stage: str, request: str) -> list[list[str]]:
    """The stage's recipe on the kernel's namespace, then its code cells; fails on any noise under a cell."""
    cells = kernel.result(
        "from jupyter_tinyml.notebook.context import capture as _capture\n"
        f"from jupyter_tinyml.stages import {stage} as _stage\n"
        f"_cells = _stage.recipe({request!r}, _capture(globals()))\n"
        "import json as _json\n"
        "print('RESULT', _json.dumps([[c.cell_type, c.source] for c in _cells]))"
    )
    for cell_type, source in cells:
        if cell_type == "code":
            kernel.run(source, timeout=180)
            assert not any(word in kernel.stderr for word in NOISE), f"noise under the cell:\n{kernel.stderr}"
    return cells


def code_of_sources(cells: list[list[str]]) -> str:
    return "\n".join(source for cell_type, source in cells if cell_type == "code")


def start(kernel: Kernel, tmp_path, setup: str) -> None:
    kernel.run(f"%reset -f\nimport os\nos.chdir({str(tmp_path)!r})")
    kernel.run(textwrap.dedent(setup))


def test_one_dense_layer_ten_epochs_batch_64_in_a_kernel(kernel, tmp_path):
    start(kernel, tmp_path, IMAGES)
    run_stage(kernel, "prep", "use the images and labels")
    run_stage(kernel, "train", "Just one dense layer, train for 10 epochs, batch 64")
    result = kernel.result(
        "import json, math\n"
        "print('RESULT', json.dumps({'layers': [type(layer).__name__ for layer in model.layers],\n"
        "    'epochs': len(history.epoch), 'planned': history.params['epochs'], 'steps': history.params['steps'],\n"
        "    'expected_steps': math.ceil(len(x_train) * 0.9 / 64), 'accuracy': float_accuracy}))"
    )
    assert result["layers"] == ["Flatten", "Dense", "Dense"]  # one hidden Dense layer, then the output
    assert result["planned"] == 10 and result["epochs"] <= 10
    assert result["steps"] == result["expected_steps"]  # batches of 64
    assert result["accuracy"] >= 0.8


def test_a_regenerate_note_without_convolutions_in_a_kernel(kernel, tmp_path):
    start(kernel, tmp_path, IMAGES)
    run_stage(kernel, "prep", "")
    cells = run_stage(kernel, "train", NO_CONVOLUTIONS + ", 8 epochs")
    assert "(asked)" in cells[0][1]
    layers = kernel.result("import json; print('RESULT', json.dumps([type(l).__name__ for l in model.layers]))")
    assert not any("Conv" in name for name in layers) and layers.count("Dense") == 3


def test_conv_count_dropout_and_validation_share_in_a_kernel(kernel, tmp_path):
    start(kernel, tmp_path, IMAGES)
    run_stage(kernel, "prep", "use the images and labels")
    cells = run_stage(kernel, "train", "a CNN with 3 conv layers, dropout 0.25, validation 20%, 4 epochs")
    result = kernel.result(
        "import json, math\n"
        "print('RESULT', json.dumps({'convs': sum(type(l).__name__ == 'Conv2D' for l in model.layers),\n"
        "    'dropout': [l.rate for l in model.layers if type(l).__name__ == 'Dropout'],\n"
        "    'steps': history.params['steps'], 'expected_steps': math.ceil(len(x_train) * 0.8 / 32),\n"
        "    'planned': history.params['epochs']}))"
    )
    assert result["convs"] == 3 and result["dropout"] == [0.25] and result["planned"] == 4
    assert result["steps"] == result["expected_steps"]  # 80% of the training split trains, 20% validates
    assert "(asked)" in cells[0][1]


def test_label_and_feature_columns_by_name_and_other_modes_in_a_kernel(kernel, tmp_path):
    start(kernel, tmp_path, COLOURS)
    run_stage(kernel, "prep", "label column colour, use columns r, g, b, keep 20% for testing")
    run_stage(kernel, "train", "two hidden layers of 64 units, 20 epochs, learning rate 0.01")
    split = kernel.result("import json; print('RESULT', json.dumps([list(x_train.shape), list(x_test.shape), "
                          "class_names, float(model.optimizer.learning_rate.numpy())]))")
    assert split[:3] == [[120, 3], [30, 3], ["blue", "green", "red"]]
    assert split[3] == pytest.approx(0.01)
    units = kernel.result("import json; print('RESULT', json.dumps([l.units for l in model.layers if hasattr(l, 'units')]))")
    assert units == [64, 64, 3]  # two hidden layers of 64 units, then one unit per class
    for mode, request in (("float16", "float16 for the virtual board"), ("dynamic", "dynamic-range quantization")):
        code = code_of_sources(run_stage(kernel, "convert", request))
        if "virtual board" in request:
            assert 'board="virtual-cortex-m4"' in code  # the board named in the request, in the report
        result = kernel.result(
            "import json\nfrom jupyter_tinyml.model.compare import detect_quantization\n"
            "print('RESULT', json.dumps([detect_quantization(tflite_model), quantization.quantization, "
            "quantized_accuracy, float_accuracy]))"
        )
        assert result[:2] == [mode, mode]
        assert result[2] >= result[3] - 0.05  # float16 and dynamic-range (64×64 weights are int8) lose next to nothing
    assert kernel.result("import json; print('RESULT', json.dumps(float_accuracy))") >= 0.9
