"""TrainingProgress: a real Keras model fitted with the callback, in this process and in a real kernel (nbclient).

In this process there is no kernel, so the callback prints one line per epoch and keeps its widget's state; in
the kernel the training cell's saved output must hold the widget view and the final curves as an SVG image, and a
fit that fails must leave the widget saying so.
"""
from __future__ import annotations

import contextlib
import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import pytest

from jupyter_tinyml.errors import PlannedEpochsError
from jupyter_tinyml.widgets.curves_svg import curves_svg

SVG = "{http://www.w3.org/2000/svg}"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLANNED = 20


def charts(svg: str) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Per chart (metric), per curve class (train/validation), the polyline's points."""
    root = ET.fromstring(svg)
    found: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for group in root.iter(f"{SVG}g"):
        metric = group.get("class", "").split("chart-")[-1]
        found[metric] = {
            line.get("class"): [tuple(map(float, point.split(","))) for point in line.get("points").split()]
            for line in group.iter(f"{SVG}polyline")}
    return found


def test_curves_svg_draws_a_chart_per_metric_loss_first_with_a_polyline_per_series():
    history = {"accuracy": [(1, 0.5), (2, 0.75), (3, 0.875)], "loss": [(1, 1.25), (2, 0.75), (3, 0.5)],
               "val_loss": [(1, 1.5), (2, 1.0), (3, float("nan"))], "val_accuracy": [(1, 0.25), (2, 0.5), (3, 0.5)],
               "learning_rate": [(1, 0.001), (2, 0.001), (3, 0.001)]}
    svg = curves_svg(history, epochs=10)
    drawn = charts(svg)
    assert list(drawn) == ["loss", "accuracy"]  # loss first; the learning rate is a setting, not a curve
    assert {name: len(points) for name, points in drawn["accuracy"].items()} == {"train": 3, "validation": 3}
    assert len(drawn["loss"]["validation"]) == 2  # a NaN epoch is left out, not drawn at the axis
    train = drawn["loss"]["train"]
    assert train[0][0] < train[1][0] < train[2][0] and train[0][1] < train[2][1]  # falling loss: y grows downwards
    root = ET.fromstring(svg)
    dashed = {line.get("class") for line in root.iter(f"{SVG}polyline") if line.get("stroke-dasharray")}
    assert dashed == {"validation"}
    labels = [label.text for label in root.iter(f"{SVG}text")]
    assert {"train", "validation", "1", "10", "epoch"} <= set(labels)


def test_curves_svg_escapes_metric_names_and_draws_an_empty_history():
    svg = curves_svg({"f1<&>": [(1, 0.5)]}, epochs=1)
    assert "f1<&>" in [label.text for label in ET.fromstring(svg).iter(f"{SVG}text")]
    assert list(charts(curves_svg({}, epochs=5))) == ["loss"]  # before the first epoch: empty axes


def test_planned_epochs_must_be_a_positive_count():
    from jupyter_tinyml import TrainingProgress

    with pytest.raises(PlannedEpochsError, match=r"epochs=0\): give the planned number of epochs"):
        TrainingProgress(epochs=0)


@dataclass
class Fitted:
    progress: Any
    printed: str
    history: Any


def fit_with_progress(epochs: int, *callbacks: Any) -> Fitted:
    """A small real classifier fitted with TrainingProgress after `callbacks`, stdout captured."""
    import keras
    import numpy as np

    from jupyter_tinyml import TrainingProgress

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(160, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    progress = TrainingProgress()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        history = model.fit(x, y, epochs=epochs, batch_size=32, validation_split=0.25, verbose=0,
                            callbacks=[*callbacks, progress])
    return Fitted(progress, out.getvalue(), history)


@pytest.fixture(scope="module")
def full_run() -> Fitted:
    return fit_with_progress(4)


@pytest.fixture(scope="module")
def early_stopped() -> Fitted:
    import keras

    # No improvement of 100 is ever reached: EarlyStopping ends the fit after its second epoch.
    return fit_with_progress(PLANNED, keras.callbacks.EarlyStopping(monitor="loss", min_delta=100, patience=1))


def test_widget_holds_every_epoch_after_training(full_run):
    progress = full_run.progress
    assert progress.bar.value == progress.bar.max == progress.epochs_run == 4
    assert progress.bar.bar_style == "success"
    assert progress.status.startswith("Done: 4 epochs · ") and "val_accuracy" in progress.status
    assert sorted(progress.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for name, series in progress.history.items():
        assert [epoch for epoch, _ in series] == [1, 2, 3, 4]
        assert [value for _, value in series] == pytest.approx(full_run.history.history[name])
    assert progress.curves.value == progress.svg and progress.label.value == progress.status
    drawn = charts(progress.svg)
    assert {metric: {curve: len(points) for curve, points in lines.items()} for metric, lines in drawn.items()} == {
        "loss": {"train": 4, "validation": 4}, "accuracy": {"train": 4, "validation": 4}}


def test_without_a_kernel_it_prints_one_line_per_epoch(full_run):
    lines = full_run.printed.splitlines()
    assert [line.split(" · ")[0] for line in lines[:-1]] == [f"Epoch {k} of 4" for k in range(1, 5)]
    assert lines[-1] == full_run.progress.status and len(lines) == 5


def test_early_stopping_is_shown_on_the_bar(early_stopped):
    progress = early_stopped.progress
    assert progress.epochs_run == progress.bar.value == 2 and progress.bar.max == PLANNED
    assert progress.bar.bar_style == "warning"
    assert progress.status.startswith(f"Stopped early after 2 of {PLANNED} epochs (a callback such as EarlyStopping")
    assert all(len(series) == 2 for series in progress.history.values())
    x_axis_labels = [label.text for label in ET.fromstring(progress.svg).iter(f"{SVG}text")]
    assert str(PLANNED) in x_axis_labels  # the axis still spans the planned epochs


NOTEBOOK_SETUP = """\
import keras, numpy as np
from jupyter_tinyml import TrainingProgress
keras.utils.set_random_seed(3)
x = np.random.default_rng(3).normal(size=(120, 4)).astype("float32")
y = (x[:, 0] > 0).astype("int32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
"""
NOTEBOOK_TRAIN = """\
early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
progress = TrainingProgress()
history = model.fit(x, y, epochs=5, validation_split=0.25, verbose=0, callbacks=[early_stopping, progress])
"""
NOTEBOOK_FAIL = """\
def fail_in_third_epoch(epoch, logs):
    if epoch == 2:
        raise RuntimeError("disk full")
failing = TrainingProgress()
model.fit(x, y, epochs=6, verbose=0, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=fail_in_third_epoch),
                                                 failing])
"""


@pytest.fixture(scope="module")
def executed_notebook() -> Any:
    """A three-cell notebook run by nbclient in a real kernel: set up, train, a fit that raises."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(NOTEBOOK_SETUP), nbformat.v4.new_code_cell(NOTEBOOK_TRAIN),
        nbformat.v4.new_code_cell(NOTEBOOK_FAIL, metadata={"tags": ["raises-exception"]})])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
        NotebookClient(notebook, timeout=180, kernel_name="python3").execute()
    return notebook


def displays(cell: Any) -> list[dict[str, Any]]:
    return [output for output in cell.outputs if output.output_type == "display_data"]


def caption(svg: str) -> str:
    """The status line written above the charts in the static image."""
    return next(label.text for label in ET.fromstring(svg).iter(f"{SVG}text") if label.get("class") == "caption")


def test_training_cell_keeps_the_widget_and_the_final_curves(executed_notebook):
    cell = executed_notebook.cells[1]
    [shown] = displays(cell)
    assert WIDGET_VIEW in shown.data and shown.data[WIDGET_VIEW]["model_id"]
    assert shown.data["text/plain"].startswith("Done: 5 epochs · ")
    assert caption(shown.data["image/svg+xml"]) == shown.data["text/plain"]
    drawn = charts(shown.data["image/svg+xml"])  # the final curves, not the empty chart shown at the start
    assert {curve: len(points) for curve, points in drawn["loss"].items()} == {"train": 5, "validation": 5}
    assert {curve: len(points) for curve, points in drawn["accuracy"].items()} == {"train": 5, "validation": 5}
    printed = "".join(output.text for output in cell.outputs if output.output_type == "stream")
    assert "Epoch" not in printed and "loss" not in printed  # no per-epoch text lines


def test_a_fit_that_raises_leaves_the_widget_saying_so(executed_notebook):
    cell = executed_notebook.cells[2]
    assert [output.ename for output in cell.outputs if output.output_type == "error"] == ["RuntimeError"]
    [shown] = displays(cell)
    assert shown.data["text/plain"] == "Stopped by an error after 2 of 6 epochs (RuntimeError: disk full)"
    assert caption(shown.data["image/svg+xml"]) == shown.data["text/plain"]
    drawn = charts(shown.data["image/svg+xml"])
    assert len(drawn["loss"]["train"]) == 2 and WIDGET_VIEW in shown.data
