"""NotebookContext: summaries per type, the secret filter, the token budget, and cost independent of data size."""
from __future__ import annotations

import os
import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from jupyter_tinyml.notebook.context import (
    NotebookContext,
    VariableSummary,
    capture,
    capture_shell,
    estimate_tokens,
    is_secret,
    redact,
    summarize,
)
from jupyter_tinyml.notebook.summaries import sample_array

OPENAI_KEY = "sk-abc123DEF456ghi789JKL012mno345pqr"
GITHUB_TOKEN = "ghp_0123456789abcdefghijABCDEFGHIJ012345"


def user_code(source: str) -> dict:
    """Run source the way a notebook cell does (module __main__), returning what it defined."""
    namespace = {"__name__": "__main__"}
    exec(source, namespace)
    return namespace


# --- summaries per type --------------------------------------------------------------------------------------


def test_image_array_summary_has_shape_dtype_and_sampled_range():
    images = np.random.default_rng(0).integers(0, 256, size=(2_000, 28, 28), dtype=np.uint8)

    summary = summarize("images", images)

    assert summary.kind == "ndarray"
    facts = summary.facts
    assert facts["shape"] == (2_000, 28, 28) and facts["dtype"] == "uint8" and facts["is_integer"]
    assert 0 <= facts["min"] <= 5 and 250 <= facts["max"] <= 255
    assert facts["n_unique"] is None  # only counted for 1-D arrays
    assert facts["sampled"]
    assert summary.text.startswith("images: ndarray (2000, 28, 28) uint8")


def test_label_array_summary_counts_distinct_values():
    labels = np.repeat(np.arange(10), 5_000)  # sorted by class: a strided sample still sees every class

    summary = summarize("y", labels)

    assert summary.facts["n_unique"] == 10
    assert summary.facts["min"] == 0 and summary.facts["max"] == 9
    assert "0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in summary.text


def test_cyclic_labels_are_not_aliased_by_the_sample():
    labels = np.arange(1_000_000) % 10  # the stride of a naive sample (100) would see only zeros

    assert summarize("y", labels).facts["n_unique"] == 10
    assert summarize("s", pd.Series(labels)).facts["n_unique"] == 10


def test_float_array_reports_nan_and_is_not_integer():
    values = np.linspace(0, 1, 100)
    values[3] = np.nan

    facts = summarize("v", values).facts

    assert facts["has_nan"] and not facts["is_integer"] and facts["max"] == 1.0


@pytest.mark.parametrize("shape", [(50_000_000,), (60_000, 28, 28), (1_000, 100_000), (3, 2, 2, 2) * 6, (0, 5), ()])
def test_array_summary_never_copies_the_array(shape):
    arr = np.broadcast_to(np.float32(1.0), shape)  # a read-only view: any full copy would allocate its size
    tracemalloc.start()
    try:
        summary = summarize("a", arr)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 1_000_000  # numpy reports its buffers to tracemalloc; a 10k-element sample is 40 KB
    assert summary.facts["shape"] == shape
    assert arr.size == 0 or summary.facts["max"] == 1.0


def test_sample_is_small_and_spread_over_the_first_axis():
    arr = np.arange(4_000_000, dtype=np.int64).reshape(2_000, 2_000).T  # a transposed (non-contiguous) view

    sample = sample_array(arr)

    assert sample.size <= 10_000
    assert sample.min() < 4_000 and sample.max() > 3_990_000


def test_dataframe_summary_finds_label_column_and_first_rows():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "sepal_length": rng.normal(5.8, 0.8, 3_000),
            "petal_width": rng.normal(1.2, 0.7, 3_000),
            "grade": rng.integers(0, 4, 3_000),
            "species": np.repeat(["setosa", "versicolor", "virginica"], 1_000),
        }
    )

    summary = summarize("df", df)

    facts = summary.facts
    assert summary.kind == "dataframe"
    assert facts["shape"] == (3_000, 4)
    assert facts["columns"] == ["sepal_length", "petal_width", "grade", "species"]
    assert facts["dtypes"]["grade"] == "int64"
    assert facts["n_unique"]["species"] == 3 and facts["n_unique"]["grade"] == 4
    assert facts["label_candidates"][:2] == ["species", "grade"]
    assert "setosa" in summary.text and "first rows" in summary.text
    assert len(summary.text.splitlines()) <= 5


def test_dataframe_without_label_name_offers_low_cardinality_then_last_column():
    df = pd.DataFrame({"a": np.arange(100.0), "quality": np.arange(100) % 3, "b": np.arange(100.0)})

    assert summarize("wine", df).facts["label_candidates"] == ["quality", "b"]


def test_series_summary():
    series = pd.Series(["cat", "dog", "cat", "bird"] * 1_000, name="animal")

    summary = summarize("s", series)

    assert summary.kind == "series"
    assert summary.facts == {"length": 4_000, "dtype": str(series.dtype), "n_unique": 3}


def test_keras_model_and_its_tflite_conversion(tmp_path):
    import keras
    import tensorflow as tf

    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3, activation="softmax")]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    tflite_path = tmp_path / "model.tflite"
    tflite_path.write_bytes(flatbuffer)

    summary = summarize("model", model)
    in_memory = summarize("tflite_model", flatbuffer)
    on_disk = summarize("TFLITE_PATH", str(tflite_path))

    assert summary.kind == "keras_model"
    assert summary.facts["input_shape"] == (None, 8) and summary.facts["output_shape"] == (None, 3)
    assert summary.facts["n_params"] == 8 * 4 + 4 + 4 * 3 + 3
    assert len(summary.facts["layers"]) == 2 and summary.facts["layer_types"] == ["Dense", "Dense"]
    assert "(None, 4)" in summary.text
    assert in_memory.kind == "tflite" and in_memory.facts == {"n_bytes": len(flatbuffer), "source": "bytes"}
    assert on_disk.kind == "tflite" and on_disk.facts["n_bytes"] == len(flatbuffer)
    assert on_disk.facts["source"] == str(tflite_path)


def test_csv_path_reads_only_the_header(tmp_path):
    csv_file = tmp_path / "iris.csv"
    csv_file.write_text("sepal_length,sepal_width,species\n5.1,3.5,setosa\n4.9,3.0,setosa\n")

    as_str, as_path = summarize("DATA", str(csv_file)), summarize("data_path", csv_file)

    for summary in (as_str, as_path):
        assert summary.kind == "path"
        assert summary.facts["columns"] == ["sepal_length", "sepal_width", "species"]
        assert summary.facts["suffix"] == ".csv" and summary.facts["n_bytes"] == csv_file.stat().st_size
        assert not summary.facts["is_dir"]
    assert as_str.facts["path"] == str(csv_file)


def test_directory_and_missing_path(tmp_path):
    (tmp_path / "cats").mkdir()

    folder = summarize("images_dir", tmp_path)
    missing = summarize("out", tmp_path / "model.h5")

    assert folder.facts["is_dir"] and folder.facts["entries"] == ["cats/"]
    assert missing.kind == "path" and missing.facts["exists"] is False


def test_bunch_lists_keys_and_array_shapes():
    from sklearn.datasets import load_iris

    summary = summarize("iris", load_iris())

    assert summary.kind == "mapping"
    assert {"data", "target", "feature_names"} <= set(summary.facts["keys"])
    assert summary.facts["shapes"]["data"] == (150, 4)
    assert "data ndarray(150, 4) float64" in summary.text


def test_sequences_mappings_scalars_and_user_code():
    defined = user_code(
        "def train(model, X, y, epochs=10):\n    'Fit and return the history.'\n"
        "class Window:\n    def __init__(self, size, step=1): pass\n"
    )

    pair = summarize("split", (np.zeros((80, 4)), np.zeros(80)))
    config = summarize("config", {"epochs": 10, "lr": 0.001})
    lr, title = summarize("lr", 0.001), summarize("title", "Gesture model")
    train, window = summarize("train", defined["train"]), summarize("Window", defined["Window"])

    assert pair.kind == "sequence" and pair.facts["length"] == 2 and "ndarray(80, 4) float64" in pair.text
    assert config.kind == "mapping" and config.facts["keys"] == ["epochs", "lr"]
    assert (lr.kind, lr.text) == ("scalar", "lr: float = 0.001")
    assert title.text == "title: str = 'Gesture model'"
    assert train.text == "train: def train(model, X, y, epochs=10)  # Fit and return the history."
    assert window.text == "Window: class Window(size, step=1)"
    assert summarize("thing", object()).text == "thing: object (builtins)"


def test_modules_environ_and_shell_names_are_skipped():
    namespace = {"np": np, "os": os, "environ": os.environ, "In": ["", "x = 1"], "Out": {}, "_hidden": 1, "x": 1}

    context = capture(namespace)

    assert list(context.variables) == ["x"]


# --- secrets -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["OPENAI_API_KEY", "my_token", "db_password", "github_token", "apiKey", "client_secret", "AUTH"]
)
def test_secret_names(name):
    assert is_secret(name, "harmless")


@pytest.mark.parametrize("name", ["tokenizer", "author", "keys", "monkey", "X_train", "n_tokens_max"])
def test_ordinary_names_are_not_secret(name):
    assert not is_secret(name, 1)


@pytest.mark.parametrize(
    "value",
    [OPENAI_KEY, GITHUB_TOKEN, "xoxb-1234567890-abcdefghij", "AKIAIOSFODNN7EXAMPLE",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc", "Qm9hc3RlZCBzZWNyZXQ3x9ZkQ2LpR8tVw1yZa4bC",
     "d41d8cd98f00b204e9800998ecf8427e"],
)
def test_secret_values(value):
    assert is_secret("value", value)


@pytest.mark.parametrize(
    "value", ["hello", "data/train_images_2024.csv", "conv2d_batchnorm_relu_block_number_1_final", "disk-cache-x" * 3]
)
def test_ordinary_strings_are_not_secret(value):
    assert not is_secret("value", value)


def test_secret_never_reaches_prompt():
    namespace = {
        "OPENAI_API_KEY": OPENAI_KEY,
        "github_token": GITHUB_TOKEN,
        "innocent": OPENAI_KEY,  # a key under an ordinary name
        "db": {"host": "localhost", "password": "hunter2-correct-horse"},
        "keys_seen": ["a", OPENAI_KEY],
        "X": np.zeros((100, 3)),
    }
    cells = [f'openai.api_key = "{OPENAI_KEY}"', 'client = Client(token="plain-words-but-secret")']

    context = capture(namespace, recent_cells=cells, last_error=f"AuthError: bad key {GITHUB_TOKEN}")
    text = context.render()

    for leaked in (OPENAI_KEY, GITHUB_TOKEN, "hunter2", "plain-words-but-secret", "OPENAI_API_KEY",
                   "github_token", "innocent", "password"):
        assert leaked not in text
    assert "openai.api_key = \"<redacted>\"" in text and "host" in text and "X: ndarray" in text
    assert set(context.variables) == {"db", "keys_seen", "X"}


def test_redact_keeps_ordinary_literals():
    source = 'tok = Tokenizer(vocab="bert-base")\nheaders = {"Authorization": "Bearer abc", "tokenizer": "bert"}'

    assert redact(source) == (
        'tok = Tokenizer(vocab="bert-base")\nheaders = {"Authorization": "<redacted>", "tokenizer": "bert"}'
    )


# --- budget --------------------------------------------------------------------------------------------------


def test_render_fits_budget_dropping_least_relevant_first():
    namespace = {f"setting_{i:03d}": i for i in range(150)}
    namespace |= {f"helper_{i:03d}": object() for i in range(50)}
    namespace |= {"X_train": np.zeros((1_000, 28, 28), np.float32), "y_train": np.arange(1_000) % 10}
    namespace["learning_rate"] = 0.01
    cells = [f"step_{i} = {i}" for i in range(5)]

    context = capture(namespace, recent_cells=cells, budget_tokens=300, request="use learning_rate 0.01")
    text = context.render()

    assert estimate_tokens(text) <= 300 and context.token_count <= 300
    assert "X_train" in text and "y_train" in text and "learning_rate" in text
    assert set(context.dropped[:50]) == {f"helper_{i:03d}" for i in range(50)}  # "other" objects go first
    assert "cell -5" in context.dropped and "learning_rate" not in context.dropped
    assert text.splitlines()[-1].startswith("(left out for the token budget: ")
    assert "older cell" in text.splitlines()[-1]


def test_render_keeps_everything_when_it_fits():
    context = capture({"X": np.zeros(10)}, recent_cells=["X = np.zeros(10)"], board={"name": "Nano 33 BLE"})

    text = context.render()

    assert context.dropped == [] and "left out" not in text
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## Variables (most relevant first)", "## Recent cells (oldest first)", "## Target board",
    ]


def test_error_is_trimmed_last_keeping_its_final_lines():
    error = "\n".join(f"  frame {i}" for i in range(100)) + "\nValueError: shapes (None, 3) and (None, 10)"
    context = capture({"x": 1}, recent_cells=["a = 1"], last_error="\x1b[31m" + error + "\x1b[0m", budget_tokens=60)

    text = context.render()

    assert estimate_tokens(text) <= 60
    assert "ValueError: shapes (None, 3) and (None, 10)" in text and "\x1b" not in text
    assert context.dropped[:2] == ["x", "cell -1"] and context.dropped[-1].startswith("last_error")


def test_cells_are_trimmed_to_the_last_few():
    cells = [f"# cell {i}\n" + "\n".join(f"v{j} = {j}" for j in range(40)) for i in range(8)]

    context = capture({}, recent_cells=cells)

    assert len(context.recent_cells) == 5 and context.recent_cells[0].startswith("# cell 3")
    assert all(len(cell.splitlines()) == 21 for cell in context.recent_cells)


def test_estimate_tokens_is_about_four_characters_per_token():
    assert estimate_tokens("") == 0 and estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2


def test_capture_shell_uses_user_namespace_and_previous_cells():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.reset(new_session=True)  # an earlier test in this process may have left cells in the shared shell
    try:
        shell.run_cell("import numpy as np\nX = np.ones((20, 3))", store_history=True)
        shell.run_cell("", store_history=True)
        shell.run_cell("y = np.arange(20) % 2", store_history=True)
        shell.user_ns["capture_shell"] = capture_shell
        running = "ctx = capture_shell(get_ipython(), request='fit X', running_cell=In[-1])"
        shell.run_cell(running, store_history=True)
        context = shell.user_ns["ctx"]
    finally:
        InteractiveShell.clear_instance()

    assert {"X", "y"} <= set(context.variables) and "In" not in context.variables
    assert context.recent_cells == ["import numpy as np\nX = np.ones((20, 3))", "y = np.arange(20) % 2"]
    assert next(iter(context.variables)) == "X"  # named in the request


# --- cost independent of data size ---------------------------------------------------------------------------


def namespace_of(n_rows: int, fill) -> dict:
    """Arrays of ~n_rows*4 KB in total plus a frame and the usual small things."""
    return {
        "X_train": fill((n_rows, 32, 32), dtype=np.float32),
        "y_train": np.arange(n_rows) % 10,
        "df": pd.DataFrame({"a": np.arange(min(n_rows, 1_000_000)), "label": np.arange(min(n_rows, 1_000_000)) % 3}),
        "features": fill((n_rows // 16, 64), dtype=np.float64),
        "epochs": 10,
        "names": ["a", "b", "c"],
    }


def fastest(fn, repeats: int = 7) -> float:
    fn()  # warm-up: first-call costs (regex compilation, pandas internals) are not data size
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.parametrize("fill", [np.zeros, np.ones], ids=["lazy-zeros", "real-ones"])
def test_capture_cost_does_not_depend_on_data_size(fill):
    small = namespace_of(500, fill)  # ~2 MB
    big = namespace_of(500_000, fill)  # ~2 GB
    assert sum(v.nbytes for v in big.values() if isinstance(v, np.ndarray)) > 2 * 10**9

    small_time = fastest(lambda: capture(small).render())
    big_time = fastest(lambda: capture(big).render())

    assert big_time / small_time < 5, f"2 GB took {big_time * 1e3:.1f} ms vs 2 MB {small_time * 1e3:.1f} ms"


def test_dataclasses_keep_their_fields():
    summary = VariableSummary("x", "scalar", "x: int = 1")
    context = NotebookContext(variables={"x": summary})

    assert summary.facts == {} and summary.relevance == 1.0
    assert context.render() == "## Variables (most relevant first)\n- x: int = 1"
