"""Stage `prep`: from the notebook's raw data to train/test arrays every later stage can use.

Whatever writes the code (a model or the offline recipe), the cells must leave these names in the namespace:
x_train, x_test (float32), y_train, y_test (int64 class indices 0..K-1), num_classes, input_shape, class_names,
data_kind ("image" | "tabular" | "timeseries"); input_scale for images (a constant divisor); feature_mean and
feature_std (float32, from the training split only) for tabular and time-series data.
"""
from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

from ..notebook.cells import GeneratedCell
from ..notebook.context import NotebookContext
from ..errors import RecipeError
from .templates import render
from .base import Stage
from .data_kinds import IMAGE, TIMESERIES, ArrayData, TableData, csv_path_in_request, detect
from .wishes import Wishes, asked_note
from .wishes import read as read_wishes

DEFAULT_TEST_SPLIT = 0.2


def recipe(request: str, context: NotebookContext) -> list[GeneratedCell]:
    """Offline prep: detect images, time-series windows or a table, and write standard preparation code, with the
    test share, label column and feature columns the request asks for."""
    wishes = read_wishes(request).checked("test_split")
    data = detect(request, context.variables, request_csv=_request_csv(request))
    split = Split(wishes)
    if isinstance(data, TableData):
        code, note = _table_code(_with_columns(data, wishes), wishes, split)
    else:
        if wishes.feature_columns or (wishes.label_column and wishes.label_column not in context.variables):
            raise RecipeError(f"The request names columns, but the data prep found is an array "
                              f"({_shape_text(data.shape)}), not a table: name a DataFrame or a CSV file, or leave "
                              "the columns out.")
        code, note = _array_code(data, split) if data.kind in (IMAGE, TIMESERIES) else _matrix_code(data, split)
    return [GeneratedCell(f"**Recipe (offline):** {note}", cell_type="markdown"), GeneratedCell(code)]


class Split:
    """The train/test split: 80/20 unless the request asks for another test share."""

    def __init__(self, wishes: Wishes) -> None:
        self.test = wishes.test_split if wishes.test_split is not None else DEFAULT_TEST_SPLIT
        self.asked = wishes.test_split is not None

    @property
    def ratio(self) -> str:
        test = round(self.test * 100, 1)
        return f"{100 - test:g}/{test:g}"

    @property
    def note(self) -> str:
        return f"stratified {self.ratio} split" + (" (asked)" if self.asked else "")

    def values(self) -> dict[str, str]:
        return dict(split=self.ratio, test_size=f"{self.test:g}")


def _with_columns(data: TableData, wishes: Wishes) -> TableData:
    """The table with the label column the request names (matched ignoring case); RecipeError naming the table's
    columns when a named column is not there."""
    def column(name: str) -> str:
        by_lower = {c.lower(): c for c in data.columns}
        if name in data.columns or name.lower() in by_lower:
            return name if name in data.columns else by_lower[name.lower()]
        shown = ", ".join(data.columns[:20]) + (", ..." if len(data.columns) > 20 else "")
        raise RecipeError(f"The request names the column {name!r}, but the table has no such column; its "
                          f"columns are: {shown}.")

    label = column(wishes.label_column) if wishes.label_column else data.label_column
    features = [column(name) for name in wishes.feature_columns]
    if label in features:
        raise RecipeError(f"The request uses {label!r} both as the label column and as a feature: name it once.")
    return replace(data, label_column=label, features=tuple(features))


def _request_csv(request: str) -> tuple[str, list[str]] | None:
    """The CSV path written in the request with its header row; RecipeError when the file is not there."""
    written = csv_path_in_request(request)
    if written is None:
        return None
    path = Path(written).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.is_file():
        raise RecipeError(f"The request names {written}, but there is no such file (looked in {path.parent}).")
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader(f), [])
    return written, [name.strip() for name in header]


def _quoted(text: str) -> str:
    """A Python string literal in double quotes, like the rest of the generated code (JSON escapes are Python's)."""
    return json.dumps(text, ensure_ascii=False)


def _shape_text(shape: tuple[int, ...] | None) -> str:
    return "×".join(str(n) for n in shape) if shape else "(shape unknown)"


def _array_code(data: ArrayData, split: Split) -> tuple[str, str]:
    shape = data.shape or ()
    classes = f", {data.n_classes} classes" if data.n_classes else ""
    found = f"`{data.samples}` {_shape_text(data.shape)}, labels `{data.labels}`{classes}"
    if data.kind == TIMESERIES:
        channel_axis = ""
        steps = "standardise each channel (training-split mean/std)"
        if len(shape) == 2:  # one sensor channel: Conv1D wants windows × time × channels
            channel_axis = "x_all = x_all[..., np.newaxis]  # one channel: Conv1D expects N x T x C\n"
            steps += ", add a channel axis"
        code = render("prep_timeseries", samples=data.samples, labels=data.labels, channel_axis=channel_axis,
                      **split.values())
        return code, f"time-series windows {found} → {steps}, {split.note}."
    channel_axis = ""
    if len(shape) == 3:  # grayscale N×H×W: Conv2D wants a channel axis
        channel_axis = "x_all = x_all[..., np.newaxis]  # grayscale: Conv2D expects N x H x W x C\n"
    elif not shape:  # known only by a mapping's key: decide when the code runs
        channel_axis = ("if x_all.ndim == 3:  # grayscale: Conv2D expects N x H x W x C\n"
                        "    x_all = x_all[..., np.newaxis]\n")
    if str(data.dtype) == "uint8":
        input_scale, scale_note = "255.0  # 8-bit pixels", "divide by 255"
    else:
        input_scale = "float(np.abs(x_train).max()) or 1.0  # the largest training value"
        top = f", {data.max_value:g} here" if data.max_value is not None else ""
        scale_note = f"divide by the largest training value{top}"
    code = render("prep_image", samples=data.samples, labels=data.labels, channel_axis=channel_axis,
                  input_scale=input_scale, **split.values())
    axis_note = ", add a channel axis" if len(shape) != 4 else ""
    return code, f"image data {found} → scale to [0, 1] ({scale_note}){axis_note}, {split.note}."


def _table_code(data: TableData, wishes: Wishes, split: Split) -> tuple[str, str]:
    if data.csv_path is not None:
        load, source = f"table = pd.read_csv({_quoted(data.csv_path)})", f"CSV `{data.csv_path}`"
    else:
        load, source = f"table = {data.frame}", f"DataFrame `{data.frame}` {_shape_text(data.shape)}"
    select = ""
    if data.features:
        listed = ", ".join(_quoted(name) for name in data.features)
        select = f"table = table[[{listed}, label_column]]  # only the feature columns asked for, and the label\n"
    code = render("prep_tabular", load=load, label_column=_quoted(data.label_column), select=select,
                  **split.values())
    label = asked_note(wishes, "label_column", f"label column `{data.label_column}`")
    features = (f", features {', '.join(f'`{name}`' for name in data.features)} (asked)" if data.features else "")
    note = (f"tabular data, {source}, {label}{features} → drop rows with missing values, "
            f"one-hot encode text columns, {split.note}, standardise features (training-split mean/std).")
    return code, note


def _matrix_code(data: ArrayData, split: Split) -> tuple[str, str]:
    load = (
        "# The feature matrix and its labels become one table, so the steps are the same as for a CSV file.\n"
        f"table = pd.DataFrame(np.asarray({data.samples})).add_prefix(\"feature_\")\n"
        f"table[\"label\"] = np.asarray({data.labels})"
    )
    code = render("prep_tabular", load=load, label_column='"label"', select="", **split.values())
    classes = f", {data.n_classes} classes" if data.n_classes else ""
    note = (f"feature matrix `{data.samples}` {_shape_text(data.shape)}, labels `{data.labels}`{classes} → "
            f"{split.note}, standardise features (training-split mean/std).")
    return code, note


STAGE = Stage(name="prep", title="Data preparation", prompt_file="prep.md", recipe=recipe,
              hears=frozenset({"test_split", "label_column", "feature_columns"}))
