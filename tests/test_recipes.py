"""Offline recipes: data kinds detected from real context summaries, and prep -> train -> convert executed
cell by cell in a real kernel for a CSV table (images and time-series windows run through the magics in the lifecycle
notebooks: tests/test_demo.py, tests/test_notebooks.py)."""
from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest

from jupyter_tinyml.notebook.context import capture
from jupyter_tinyml.errors import RecipeError
from jupyter_tinyml.stages import convert, prep, train
from jupyter_tinyml.stages.data_kinds import (
    IMAGE,
    TABULAR,
    TIMESERIES,
    ArrayData,
    TableData,
    csv_path_in_request,
    detect,
    pick_label_column,
)
from quiet_output import quiet_breach
from lifecycle_contract import CONTRACT, assert_int8_contract

REPO = Path(__file__).resolve().parent.parent


def detected(request: str = "", **namespace) -> ArrayData | TableData:
    return detect(request, capture(namespace, request=request).variables)


def code_of(cells) -> str:
    return "\n".join(c.source for c in cells if c.cell_type == "code")


# --- What kind of data: pure detection over real summaries -------------------------------------------------


def test_digits_images_and_labels_are_image_data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    data = detected(images=digits.images, labels=digits.target, name="digits")
    assert data == ArrayData(IMAGE, "images", "labels", (1797, 8, 8), "float64", 16.0, 10)


def test_a_bunch_alone_is_used_by_key():
    from sklearn.datasets import load_digits

    data = detected(digits=load_digits())
    assert (data.kind, data.samples, data.labels, data.shape) == (IMAGE, 'digits["images"]', 'digits["target"]',
                                                                  (1797, 8, 8))


def test_windows_of_a_few_channels_are_time_series_by_shape():
    data = detected(windows=np.zeros((500, 128, 3), np.float32), y=np.arange(500) % 4)
    assert (data.kind, data.samples, data.labels) == (TIMESERIES, "windows", "y")


def test_request_words_decide_between_images_and_windows():
    namespace = dict(frames=np.zeros((200, 16, 16)), labels=np.arange(200) % 2)
    assert detected("", **namespace).kind == IMAGE  # square: images
    assert detected("classify the accelerometer gestures", **namespace).kind == TIMESERIES
    tall = dict(x=np.zeros((100, 64, 4)), y=np.arange(100) % 3)
    assert detected("", **tall).kind == TIMESERIES
    assert detected("these are camera images", **tall).kind == IMAGE
    assert detected("", x=np.zeros((100, 28, 20)), y=np.arange(100) % 3).kind == IMAGE  # not square, wide rows


def test_a_matrix_is_a_feature_table_unless_the_request_says_signal():
    namespace = dict(X=np.zeros((300, 64)), y=np.arange(300) % 3)
    assert (detected("", **namespace).kind, detected("", **namespace).labels) == (TABULAR, "y")
    assert detected("one vibration signal per row", **namespace).kind == TIMESERIES
    cells = prep.recipe("one vibration signal per row", capture(namespace))
    assert "x_all = x_all[..., np.newaxis]" in code_of(cells) and "3 classes" in cells[0].source


def test_labels_need_matching_length_and_few_values_and_prefer_the_named_one():
    n = 120
    namespace = dict(
        images=np.zeros((n, 8, 8)),
        weights=np.linspace(0, 1, n),  # continuous: never labels
        short=np.arange(n - 1) % 3,  # wrong length
        groups=np.arange(n) % 5,
        labels=np.arange(n) % 3,
    )
    assert detected("", **namespace).labels == "labels"
    assert detected("use groups as the classes", **namespace).labels == "groups"
    with pytest.raises(RecipeError):
        detected("", images=np.zeros((n, 8, 8)), weights=np.linspace(0, 1, n))


def test_a_name_in_the_request_picks_among_several_datasets():
    frame = pd.DataFrame({"a": np.arange(50.0), "kind": ["x", "y"] * 25})
    namespace = dict(images=np.zeros((60, 8, 8)), labels=np.arange(60) % 2, table=frame)
    assert isinstance(detected("", **namespace), ArrayData)
    chosen = detected("use table", **namespace)
    assert isinstance(chosen, TableData) and (chosen.frame, chosen.label_column) == ("table", "kind")
    assert isinstance(detected("train on the csv columns", **namespace), TableData)


def test_rerunning_prep_picks_the_raw_data_not_its_own_output():
    namespace = dict(
        x_train=np.zeros((80, 8, 8, 1), np.float32), y_train=np.arange(80) % 2,
        images=np.zeros((100, 8, 8)), labels=np.arange(100) % 2,
    )
    assert detected("", **namespace).samples == "images"


def test_label_column_comes_from_the_request_then_the_summary():
    columns = ["sepal_length", "sepal_width", "species", "colour"]
    assert pick_label_column("predict species from sepal_length", columns) == "species"
    assert pick_label_column("label column is 'colour'", columns) == "colour"
    assert pick_label_column("target: colour", columns) == "colour"
    assert pick_label_column("", columns, ["species"]) == "species"
    assert pick_label_column("", ["a", "b", "Quality"]) == "Quality"
    assert pick_label_column("", ["a", "b", "c"]) == "c"


def test_a_dataframe_uses_its_label_candidates():
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame
    data = detected("", iris=iris)
    assert (data.kind, data.frame, data.label_column) == (TABULAR, "iris", "target")
    assert detected("predict petal width (cm)", iris=iris).label_column == "petal width (cm)"


def test_a_csv_path_variable_is_tabular(tmp_path):
    path = tmp_path / "plants.csv"
    path.write_text("height,leaf,kind\n1.0,broad,fern\n2.0,narrow,moss\n")
    data = detected("", data_file=str(path))
    assert (data.csv_path, data.label_column) == (str(path), "kind")


def test_csv_path_in_request_is_read_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wine.csv").write_text("alcohol,hue,quality\n13.1,1.0,good\n")
    assert csv_path_in_request("train on data/wine.csv please") == "data/wine.csv"
    assert csv_path_in_request("use 'my data.csv'") == "my data.csv"
    cells = prep.recipe("train on data/wine.csv, target: quality", capture({}))
    assert 'pd.read_csv("data/wine.csv")' in code_of(cells) and 'label_column = "quality"' in code_of(cells)
    with pytest.raises(RecipeError, match="data/missing.csv"):
        prep.recipe("use data/missing.csv", capture({}))


def test_prep_explains_what_it_found_in_a_markdown_cell():
    from sklearn.datasets import load_digits

    digits = load_digits()
    cells = prep.recipe("", capture({"images": digits.images, "labels": digits.target}))
    assert [c.cell_type for c in cells] == ["markdown", "code"]
    assert "`images` 1797×8×8" in cells[0].source and "10 classes" in cells[0].source
    compile(cells[1].source, "<prep>", "exec")


def test_train_picks_the_architecture_from_x_train():
    def model_for(shape):
        namespace = {"x_train": np.zeros(shape, np.float32), "y_train": np.zeros(shape[0], np.int64),
                     "x_test": np.zeros(shape, np.float32), "y_test": np.zeros(shape[0], np.int64)}
        return code_of(train.recipe("", capture(namespace)))

    assert "Conv2D" in model_for((100, 8, 8, 1)) and "Flatten" in model_for((100, 8, 8, 1))
    assert "GlobalAveragePooling2D" in model_for((100, 96, 96, 1))
    assert "Conv1D" in model_for((100, 64, 3)) and "GlobalAveragePooling1D" in model_for((100, 64, 3))
    assert "Conv" not in model_for((100, 13)) and "keras.layers.Dense(32" in model_for((100, 13))
    assert "num_classes = int(y_train.max()) + 1" in model_for((100, 13))  # not left by prep: defined


@pytest.mark.parametrize(
    "stage, namespace, message",
    [
        (prep, {}, "found no data"),
        (prep, {"note": "hello", "n": 3}, "found no data"),
        (train, {"images": np.zeros((10, 8, 8))}, "run %%tinyml_prep first"),
        (convert, {"x_train": np.zeros((10, 4), np.float32)}, r"train a model first \(%%tinyml_train\)"),
    ],
)
def test_recipes_say_what_they_need(stage, namespace, message):
    with pytest.raises(RecipeError, match=message):
        stage.recipe("", capture(namespace))


# --- prep -> train -> convert in a real kernel ---------------------------------------------------------------

WINE_CSV = """
import numpy as np
from pathlib import Path
from sklearn.datasets import load_wine
table = load_wine(as_frame=True).frame
table["target"] = table["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
table = table.rename(columns={"target": "cultivar"})
table["colour"] = np.where(table["hue"] > 1.0, "light", "deep")  # a text feature: one-hot encoded
table.loc[5, "ash"] = np.nan  # a missing value: the row is dropped
Path("data").mkdir()
table.to_csv("data/wine.csv", index=False)
del table  # the request names the file; nothing else is in the namespace
"""


class Kernel:
    """A jupyter_client kernel running this venv's Python; `run` executes code as a notebook cell would."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3", startup_timeout=60, cwd=str(REPO))
        self.stderr = ""

    def run(self, code: str, timeout: float = 120) -> str:
        """Execute `code`; return its stdout (its stderr is kept as `self.stderr`), or fail the test with the
        kernel's traceback."""
        stdout, errors = [], []
        self.stderr = ""

        def on_output(msg):
            content = msg["content"]
            if msg["msg_type"] == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif msg["msg_type"] == "stream" and content["name"] == "stderr":
                self.stderr += content["text"]
            elif msg["msg_type"] == "error":
                errors.append("\n".join(content["traceback"]))

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=on_output)
        self._late_output(reply["parent_header"]["msg_id"], on_output)
        if reply["content"]["status"] != "ok" or errors:
            pytest.fail(f"kernel error running:\n{code}\n{''.join(errors)}", pytrace=False)
        return "".join(stdout)

    def _late_output(self, msg_id: str, on_output, wait: float = 0.3) -> None:
        """Output of the cell that arrives after it finished: what native code writes to the process's file
        descriptors is forwarded by ipykernel's watcher thread, and a notebook still shows it under the cell."""
        from queue import Empty

        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=wait)
            except Empty:
                return
            if msg["parent_header"].get("msg_id") == msg_id:
                on_output(msg)

    def result(self, code: str) -> dict:
        line = next(line for line in self.run(code).splitlines() if line.startswith("RESULT "))
        return json.loads(line.removeprefix("RESULT "))

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    """One kernel for all chains (TensorFlow is imported once); each chain starts from %reset in its tmp dir."""
    k = Kernel()
    yield k
    k.stop()


def test_the_kernel_runs_this_venv(kernel):
    assert kernel.result("import sys, json; print('RESULT', json.dumps(sys.executable))") == sys.executable


# What the generated cells must not leave under themselves: TensorFlow/absl C++ log lines and Python warnings.
# (The QuantizationDebugger's own "INFO:tensorflow:Assets written" and "fully_quantize:" lines come from the
# library's compare(), not from the recipe's code, and are not matched here.)
def run_chain(kernel: Kernel, cwd: Path, setup: str, requests: dict[str, str]) -> tuple[dict, dict]:
    """Run setup, then for each stage: the recipe on capture(globals()) inside the kernel, then its code cells.
    Returns the contract values and the seconds each stage's cells took."""
    kernel.run(f"%reset -f\n%reload_ext jupyter_tinyml\nimport os\nos.chdir({str(cwd)!r})")  # as in a notebook
    kernel.run(textwrap.dedent(setup))
    seconds = {}
    for stage in ("prep", "train", "convert"):
        cells = kernel.result(
            "from jupyter_tinyml.notebook.context import capture as _capture\n"
            f"from jupyter_tinyml.stages import {stage} as _stage\n"
            f"_cells = _stage.recipe({requests.get(stage, '')!r}, _capture(globals()))\n"
            "import json as _json\n"
            "print('RESULT', _json.dumps([[c.cell_type, c.source] for c in _cells]))"
        )
        assert 2 <= len(cells) <= 3 and cells[0][0] == "markdown" and cells[0][1].startswith("**Recipe (offline):**")
        start = time.perf_counter()
        for cell_type, source in cells:
            if cell_type == "code":
                kernel.run(source, timeout=180)
                assert not quiet_breach(kernel.stderr), f"the {stage} cell wrote under itself:\n{kernel.stderr}"
        seconds[stage] = round(time.perf_counter() - start, 1)
    return kernel.result(CONTRACT), seconds


def test_csv_table_chain(kernel, tmp_path):
    requests = {"prep": "train on data/wine.csv and predict the cultivar", "convert": "save it as out/wine.tflite"}
    result, seconds = run_chain(kernel, tmp_path, WINE_CSV, requests)
    print(f"\nwine csv: float {result['float']:.3f}, int8 {result['int8']:.3f}, {result['tflite_bytes']} bytes, "
          f"{result['epochs']} epochs, seconds {seconds}")
    assert_int8_contract(result)
    assert result["data_kind"] == "tabular" and result["class_names"] == ["barbera", "barolo", "grignolino"]
    assert result["input_shape"] == [15]  # 13 numeric features + colour one-hot (2 columns)
    assert result["feature_stats"] == ["float32", [15], "float32"]
    assert result["float"] >= 0.85
    assert (tmp_path / "out" / "wine.tflite").stat().st_size == result["tflite_bytes"]
