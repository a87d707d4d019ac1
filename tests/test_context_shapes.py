"""The context keeps what a model must copy exactly: short vectors whole and in order, a table's ranges and classes,
the code of generated cells (not their headers), and the error's own line (not Keras' argument list)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_tinyml.notebook.cells import GeneratedCell, Provenance, combine
from jupyter_tinyml.notebook.context import MAX_LINE_CHARS, capture, capture_shell, code_of, summarize
from jupyter_tinyml.notebook.failures import error_line

# Per-channel statistics as a notebook computes them: not sorted, digits past the sixth.
MEAN = [0.9183746512, -0.0412345678, 0.4999999871]
STD = [0.0523112345, 1.7310098765, 0.1234567891]


def test_normalisation_vectors_keep_channel_order_and_every_digit():
    mean, std = np.array(MEAN), np.array(STD, dtype=np.float32)

    context = capture({"feature_mean": mean, "feature_std": std}, request="normalise on the board")
    text = context.render()

    assert "values in order: [0.9183746512, -0.0412345678, 0.4999999871]" in text
    shown_std = text.split("values in order: ")[-1]
    assert shown_std == "[0.052311234, 1.7310098, 0.12345679]"  # float32's own shortest digits, not float64's
    assert np.array_equal(np.array(eval(shown_std), dtype=np.float32), std)  # a model copying them gets std back
    assert context.variables["feature_mean"].facts["values"] == MEAN
    assert np.array_equal(np.array(context.variables["feature_std"].facts["values"], np.float32), std)
    assert "distinct values" not in text


def test_a_vector_of_32_values_is_whole_and_a_longer_one_is_summarised():
    values = np.random.default_rng(3).normal(size=32)

    whole = summarize("channel_means", values)
    longer = summarize("signal", np.random.default_rng(3).normal(size=33))

    shown = " ".join(line.strip() for line in whole.text.splitlines()[1:])
    assert shown == "values in order: [" + ", ".join(str(v) for v in values) + "]"
    assert all(len(line) <= MAX_LINE_CHARS for line in whole.text.splitlines())
    assert "values in order" not in longer.text and "values" not in longer.facts


def test_lists_tuples_scalar_arrays_and_dicts_of_numbers_keep_their_values():
    weights = [1.0, 2.5, 0.3333333333, 4.0, 7.125, 0.0625]
    shape = (96, 3)

    listed, paired = summarize("class_weights", weights), summarize("window", shape)
    scalar = summarize("scale", np.array(0.0039215686))
    stats = summarize("norm", {"mean": np.array(MEAN), "std": STD, "n": 3})

    assert listed.text.splitlines() == [
        "class_weights: list of 6 floats", "  values in order: [1.0, 2.5, 0.3333333333, 4.0, 7.125, 0.0625]"
    ]
    assert paired.text == "window: tuple of 2 ints\n  values in order: (96, 3)"
    assert listed.facts["values"] == weights
    assert "value 0.0039215686" in scalar.text and scalar.facts["values"] == 0.0039215686
    assert "'mean' in order: [0.9183746512, -0.0412345678, 0.4999999871]" in stats.text
    assert "'std' in order: [0.0523112345, 1.7310098765, 0.1234567891]" in stats.text


def test_small_tensors_show_their_values():
    import tensorflow as tf

    small = summarize("offsets", tf.constant([0.5, -0.25, 3.1415927], dtype=tf.float32))
    big = summarize("batch", tf.zeros((64, 3)))

    assert "values in order: [0.5, -0.25, 3.1415927]" in small.text
    assert small.facts["values"] == pytest.approx([0.5, -0.25, 3.1415927])
    assert "(64, 3) float32" in big.text and "values" not in big.facts


def test_dataframe_summary_gives_column_ranges_and_the_class_list():
    df = pd.DataFrame(
        {
            "temperature": [21.5, 30.25, 10.5, 18.0] * 50,
            "humidity": [40, 80, 20, 55] * 50,
            "activity": ["walk", "idle", "run", "walk"] * 50,
            "label": ["walk", "idle", "run", "walk"] * 50,
        }
    )

    summary = summarize("readings", df)

    assert "temperature float64 10.5..30.25" in summary.text and "humidity int64 20..80" in summary.text
    assert "activity str, 3 distinct: 'idle', 'run', 'walk'" in summary.text.replace("object", "str")
    assert "classes (3, column 'label', recognised by its name): 'idle', 'run', 'walk'" in summary.text
    assert summary.facts["ranges"] == {"temperature": (10.5, 30.25), "humidity": (20.0, 80.0)}
    assert (summary.facts["class_column"], summary.facts["classes"]) == ("label", ["idle", "run", "walk"])


def test_without_a_label_name_the_last_categorical_column_gives_the_classes():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=5_000), "quality": rng.integers(3, 9, 5_000), "r": rng.normal(size=5_000)})
    regression = pd.DataFrame({"area": np.arange(100.0), "price": np.arange(100) * 2.5})

    summary, plain = summarize("wine", df), summarize("houses", regression)

    assert "(ranges and classes from a 1000-row sample)" in summary.text.splitlines()[0]
    assert "classes (6, column 'quality', the last categorical column): 3, 4, 5, 6, 7, 8" in summary.text
    assert plain.facts["class_column"] is None and plain.facts["classes"] == []
    assert "classes" not in plain.text and "price float64 0..247.5" in plain.text


# --- recent cells --------------------------------------------------------------------------------------------

PREP_CODE = "\n".join(["import numpy as np", "X = np.ones((40, 3))"] + [f"X[:, {i % 3}] *= {i + 2}" for i in range(12)])
SPLIT_CODE = "n_train = int(0.8 * len(X))\nX_train, X_test = X[:n_train], X[n_train:]"


def generated_cell() -> str:
    """A cell as the one-cell fallback inserts it: a header with two findings, a markdown note, two parts."""
    provenance = Provenance("prep", "openai/gpt-4o", "scale X", checks=["line 3: X may be large", "part 2: unused"])
    parts = [GeneratedCell("Scaling per channel.", "markdown"), GeneratedCell(PREP_CODE), GeneratedCell(SPLIT_CODE)]
    return combine(parts, provenance)


def test_recent_cells_show_generated_code_not_its_header(shell):
    shell.run_cell("readings = [1, 2, 3]", store_history=True)
    shell.run_cell(generated_cell(), store_history=True)
    assert shell.user_ns["X_train"].shape == (32, 3)  # the generated cell ran

    context = capture_shell(shell, request="train a model")

    assert len(generated_cell().splitlines()) > 20  # with its header the code would not fit the window
    assert context.recent_cells == ["readings = [1, 2, 3]", PREP_CODE + "\n\n" + SPLIT_CODE]
    assert "more lines" not in context.render() and "# tinyml" not in context.render()


def test_only_generated_headers_and_percent_markers_are_taken_out():
    user_cell = "# check: the shapes first\nprint(X.shape)"
    reviewed = "# %%\nX = X / 2\n\n# %% [markdown]\n# a note\n\n# %%\nprint(X)"

    assert code_of(user_cell) == user_cell
    assert code_of(reviewed) == "X = X / 2\n\nprint(X)"
    assert code_of(generated_cell()) == PREP_CODE + "\n\n" + SPLIT_CODE


# --- the error's own line ------------------------------------------------------------------------------------

KERAS_CELL = """
import keras
import numpy as np
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
model(np.zeros((2, 5)))
"""


def test_failed_cell_knows_its_error_line_behind_keras_argument_list(shell):
    shell.run_cell(KERAS_CELL, store_history=True)

    failed = shell.magics_manager.registry["TinyMLMagics"].failures.last

    assert failed.error.splitlines()[-1].strip().startswith("• kwargs=")  # what %tinyml status showed
    line = failed.error_line  # the layer is 'dense', or 'dense_1' when an earlier test made one
    assert line.startswith("ValueError: Input 0 ") and "is incompatible with the layer" in line
    assert line.endswith("but received input with shape (2, 5)")
    assert error_line(failed.error) == failed.error_line  # the text alone gives the same line


def test_error_line_skips_notes_and_ipython_variable_lines(shell, capsys):
    cell = "def load(**kwargs):\n    error = KeyError('sensor_7')\n    error.add_note('while reading readings.csv')\n" \
           "    raise error\nload()"
    shell.run_cell(cell, store_history=True)
    failed = shell.magics_manager.registry["TinyMLMagics"].failures.last
    shell.InteractiveTB.set_mode("Verbose")
    try:
        capsys.readouterr()
        shell.run_cell("def f(**kwargs):\n    raise ValueError('bad window\\nsecond line')\nf()", store_history=True)
        shown = capsys.readouterr().out
    finally:
        shell.InteractiveTB.set_mode("Context")

    assert failed.error.splitlines()[-1] == "while reading readings.csv"
    assert failed.error_line == "KeyError: 'sensor_7'" and error_line(failed.error) == "KeyError: 'sensor_7'"
    assert "\x1b[" in shown and shown.rstrip().splitlines()[-1] == "second line"  # colours, a last line not the error
    assert error_line(shown) == "ValueError: bad window"


def test_a_trimmed_error_in_the_context_still_shows_the_error_line(shell):
    shell.run_cell(KERAS_CELL, store_history=True)
    failed = shell.magics_manager.registry["TinyMLMagics"].failures.last
    long = "def g():\n    e = ValueError('window too short')\n" + "".join(
        f"    e.add_note('  • arg{i}=None')\n" for i in range(40)
    ) + "    raise e\ng()"
    shell.run_cell(long, store_history=True)
    noted = shell.magics_manager.registry["TinyMLMagics"].failures.last

    tight = capture({}, last_error=failed.error, budget_tokens=60).render()
    trimmed = capture({}, last_error=noted.error).last_error or ""

    assert failed.error_line in tight and "earlier lines cut" in tight and "kwargs" not in tight
    assert trimmed.splitlines()[0] == "ValueError: window too short" and len(trimmed.splitlines()) == 27
