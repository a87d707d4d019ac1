"""One short summary per namespace object: what a prompt may say about a variable.

Why a module of its own: each kind of object (arrays, frames, Keras models, TFLite, paths, containers, user
code) needs its own few lines, and together they are most of the code; keeping them apart leaves context.py
with capture and the token budget. Cost never depends on the object's size: arrays and frames are sampled,
files are stat'ed and only a CSV's header line is read.

Heavy libraries are recognised by the module their classes live in (``pandas.core.frame``, ``keras.src...``),
never imported here: a notebook that only holds numpy arrays must not pay for importing TensorFlow.
"""
from __future__ import annotations

import csv
import inspect
import itertools
import math
import os
import re
import stat
import types
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .deadlines import Overtime, time_limit
from .redaction import REDACTED, is_secret, is_secret_name, is_tflite_bytes, redact

# A numpy sample never holds more elements than this; min/max/unique on it take well under a millisecond.
SAMPLE_ELEMENTS = 10_000
# A DataFrame/Series sample never holds more rows than this (n_unique per column is counted on it).
SAMPLE_ROWS = 1_000
# Wide frames: n_unique is counted for at most this many columns (the first and the last ones, where
# identifiers and labels usually sit).
SAMPLE_COLUMNS = 100
MAX_LINE_CHARS = 200
# Arrays, lists and tensors with at most this many numbers are shown whole, in order and at full precision: a
# per-channel mean/std copied into firmware must keep its channel order and its digits.
MAX_VECTOR_VALUES = 32
# A DataFrame's summary names at most this many classes of its label column.
MAX_CLASSES = 20
# Frames wider than this list only their first and last SAMPLE_COLUMNS // 2 columns in the facts: reading
# a million column dtypes takes seconds, and no recipe needs more than the label column.
MAX_LISTED_COLUMNS = 10_000
# One object's summary may take this long; past it (a __repr__ that sleeps, a Mapping whose iteration blocks)
# the summary becomes "type only". Enforced by a signal in the main thread (deadlines.py).
# One second: far above what any summary of a sampled object costs (a million-column frame: ~0.3 s).
SUMMARY_SECONDS = 1.0


@dataclass
class VariableSummary:
    """One namespace object, summarised.

    kind: "ndarray" | "dataframe" | "series" | "keras_model" | "tflite" | "path" | "sequence" | "mapping"
          | "scalar" | "module" | "other"
    text: the one- to few-line description that goes into the prompt.
    facts: structured facts that offline recipes use (never sent as-is). Keys by kind:
      ndarray:   shape (tuple[int,...]), dtype (str), min, max (float, from a bounded sample),
                 is_integer (bool), n_unique (int | None, for 1-D arrays: from a bounded sample),
                 values (nested lists in order, for numeric arrays of at most 32 elements; else absent)
      dataframe: shape, columns (list[str]; frames wider than MAX_LISTED_COLUMNS: the first and last 50, and
                 dtypes and the rest only for those), dtypes (dict[str,str]), n_unique (dict[str,int], sampled),
                 label_candidates (list[str], most likely first), ranges (dict[str,(min,max)] of numeric
                 columns, sampled), class_column (str | None), class_reason (str: how it was recognised),
                 classes (list, sorted, from the sample; empty without a class column)
      series:    length, dtype, n_unique
      keras_model: input_shape, output_shape, n_params, layers (list[str])
      tflite:    n_bytes, source ("bytes" | path str)
      path:      path (str), suffix, n_bytes, is_dir, columns (list[str], for .csv: the header row)
      sequence / mapping: length, keys (mapping, a few); sequence `values` (lists/tuples of at most 32 numbers)
    relevance: higher is kept first when the budget is tight.

    Extra facts, beyond the keys above: ndarray `sampled` (the sample was partial), `has_nan`, `n_bytes`;
    dataframe `n_rows_sampled`; keras_model `layer_types` (class names), `name`, `loss`, `optimizer`;
    path `exists`, `entries` (directories: up to 10 names, sub-directories end in "/");
    tflite `exists` (path source); mapping `shapes` (key -> shape of array-like values);
    scalar `type`, `value` (numbers and short strings); other `type`, `module`, `signature` (user code),
    `values` (tensors of at most 32 numbers).
    """

    name: str
    kind: str
    text: str
    facts: dict[str, Any] = field(default_factory=dict)
    relevance: float = 1.0


def summarize(name: str, value: Any) -> VariableSummary | None:
    """A short summary of one namespace object, or None for objects a prompt should not see (modules,
    os.environ, secrets) or that cannot even be asked what they are.

    Cost does not depend on the object's size: arrays and frames are sampled (at most ~10k elements or 1k
    rows), files are stat'ed and only a CSV's header line is read. Any object can at worst be skipped: one
    whose screening raises or overruns is left out, one whose summary raises or takes longer than
    SUMMARY_SECONDS becomes "type only" (main thread; see deadlines.py for where that cannot be enforced).
    """
    screened = False
    limit = time_limit(SUMMARY_SECONDS)
    try:
        with limit:
            try:
                if _skip_value(value) or is_secret(name, value):
                    return None
            except Exception:  # a dead weakref.proxy, a __class__ that raises: nothing safe to say about it
                return None
            screened = True
            try:
                summary = _summarize_by_type(name, value)
            except Exception:  # a summary must never break the magic; an odd object gets its type name
                summary = type_only(name, value)
            summary.text = redact(summary.text)
            return summary
    except Overtime:
        limit.close()
        return type_only(name, value) if screened else None


def type_only(name: str, value: Any) -> VariableSummary:
    """The summary that calls none of the object's own code: its name and its type's name."""
    kind_name = _type_name(value)
    return VariableSummary(name, "other", clip_line(f"{name}: {kind_name}"), {"type": kind_name}, 1.0)


def _type_name(value: Any) -> str:
    """type(value).__name__ read through type's own slot: a metaclass cannot run code for it."""
    return str(type.__dict__["__name__"].__get__(type(value)))


def _summarize_by_type(name: str, value: Any) -> VariableSummary:
    if isinstance(value, np.ndarray):
        return _summarize_ndarray(name, value)
    if _is_a(value, "pandas", "DataFrame"):
        return _summarize_dataframe(name, value)
    if _is_a(value, "pandas", "Series"):
        return _summarize_series(name, value)
    if _is_a(value, "keras", "Model"):
        return _summarize_keras_model(name, value)
    if isinstance(value, (bytes, bytearray)) and is_tflite_bytes(value):
        return _summarize_tflite_bytes(name, value)
    if path := _as_path(value):
        return _summarize_path(name, value, path)
    if _is_a(value, "sklearn", "Bunch"):
        return _summarize_bunch(name, value)
    if isinstance(value, Mapping):
        return _summarize_mapping(name, value)
    if isinstance(value, (list, tuple, set, frozenset)) or _is_a(value, "collections", "deque"):
        return _summarize_sequence(name, value)
    if isinstance(value, (bool, int, float, complex, str, np.generic)) or value is None:
        return _summarize_scalar(name, value)
    return _summarize_other(name, value)


def _skip_value(value: Any) -> bool:
    """Modules and environment mappings: never summarised (os.environ holds the keys we keep out)."""
    return isinstance(value, types.ModuleType) or type(value).__name__ == "_Environ"


def _is_a(value: Any, module_part: str, class_name: str) -> bool:
    """isinstance by name: some class in value's MRO is called class_name and lives in a module whose path
    contains module_part. Lets us recognise pandas and Keras objects without importing them."""
    return any(
        cls.__name__ == class_name and module_part in (cls.__module__ or "") for cls in type(value).__mro__
    )


def sample_array(arr: np.ndarray, limit: int = SAMPLE_ELEMENTS) -> np.ndarray:
    """At most `limit` elements spread over the whole array; copies those few, never the array.

    The first axis (the samples) gets at least 16 positions, drawn at random with a fixed seed: labels often
    cycle (i % 10) and any fixed stride can alias them into a single value. Inner axes are a strided view, kept
    whole while they fit, so a sample of an image array holds whole images rather than one pixel of each.
    """
    if arr.ndim == 0 or arr.size <= limit:
        return np.asarray(arr)
    n = arr.shape[0]
    rows = _positions_on_axis(n, math.prod(arr.shape[1:]), limit)
    view = np.asarray(arr[(slice(None), *_strided(arr.shape[1:], max(1, limit // rows)))])
    return view if rows == n else view[_random_positions(n, rows)]


def _positions_on_axis(n: int, inner: int, limit: int) -> int:
    """How many positions of an axis of length n fit in `limit` elements when each holds `inner` of them."""
    return max(1, min(n, max(min(16, limit), limit // max(1, inner))))


def _strided(shape: tuple[int, ...], limit: int) -> list[slice]:
    """Basic slices (a view, no copy) that keep at most `limit` elements of an array of this shape."""
    slices = []
    for axis, n in enumerate(shape):
        want = _positions_on_axis(n, math.prod(shape[axis + 1 :]), limit)
        step = max(1, math.ceil(n / want))
        slices.append(slice(None, None, step))
        limit = max(1, limit // max(1, len(range(0, n, step))))
    return slices


def _random_positions(n: int, k: int) -> np.ndarray:
    """k sorted positions in range(n), the same ones every time (a prompt should not change between runs).
    Drawn with replacement: O(k) whatever n is, and a repeat or two changes no statistic we report."""
    return np.sort(np.random.default_rng(0).integers(0, n, size=k))


def _summarize_ndarray(name: str, arr: np.ndarray) -> VariableSummary:
    sample = sample_array(arr)
    sampled = sample.size < arr.size
    kind = arr.dtype.kind
    low = high = None
    has_nan = False
    if sample.size and kind in "biuf":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN samples
            low, high = float(np.nanmin(sample)), float(np.nanmax(sample))
        has_nan = kind == "f" and bool(np.isnan(sample).any())
    n_unique, uniques = (_unique(sample) if arr.ndim == 1 else (None, None))
    facts = {
        "shape": tuple(int(n) for n in arr.shape), "dtype": str(arr.dtype), "min": low, "max": high,
        "is_integer": kind in "biu", "n_unique": n_unique, "sampled": sampled, "has_nan": has_nan,
        "n_bytes": int(arr.nbytes),
    }
    whole = _is_short_numeric(arr)
    if whole:
        facts["values"] = arr.tolist()
    line = f"{name}: ndarray {_shape_text(arr.shape)} {arr.dtype}, {_human_bytes(arr.nbytes)}"
    if whole and arr.ndim == 0:
        line += f", value {_full_number(arr[()])}"
    elif low is not None:
        line += f", values {_number(low)}..{_number(high)}" + (" (sampled)" if sampled else "")
    if has_nan:
        line += ", has NaN"
    lines = [line]
    if whole and arr.ndim > 0:
        lines += _wrapped("  values in order: ", _nested_literal(arr))
    elif n_unique is not None:
        approx = "~" if sampled else ""
        values = f": {', '.join(_short_repr(v) for v in uniques)}" if uniques is not None else ""
        lines.append(f"  {approx}{n_unique} distinct values{values}")
    return VariableSummary(name, "ndarray", _lines(lines), facts, _data_relevance(arr.nbytes))


def _is_short_numeric(arr: np.ndarray) -> bool:
    """Few enough numbers to show them all (see MAX_VECTOR_VALUES)."""
    return arr.size <= MAX_VECTOR_VALUES and arr.dtype.kind in "biufc"


def _nested_literal(arr: np.ndarray) -> str:
    """A small array as a Python literal, in order, every number at full precision: [[1.5, 2.0], [3.25, 4.0]]."""
    if arr.ndim == 0:
        return _full_number(arr[()])
    return "[" + ", ".join(_nested_literal(arr[i]) for i in range(arr.shape[0])) + "]"


def _full_number(value: Any) -> str:
    """A number as it would round-trip: numpy's shortest text for its own precision (a float32 0.1 stays
    "0.1", not "0.10000000149011612"), Python's repr otherwise."""
    if isinstance(value, np.generic):
        return str(value)
    return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _unique(sample: np.ndarray) -> tuple[int | None, list | None]:
    """Distinct values in a (small) sample, and the values themselves when there are at most 12."""
    try:
        values = np.unique(sample) if sample.dtype.kind != "O" else _unique_objects(sample.tolist())
    except TypeError:  # unhashable or unorderable objects
        return None, None
    values = list(values)
    return len(values), ([v.item() if isinstance(v, np.generic) else v for v in values] if len(values) <= 12 else None)


def _unique_objects(values: list[Any]) -> list[Any]:
    """Distinct values of an object array's sample, sorted by text; TypeError when any is not a plain builtin
    value: hashing and comparing user objects runs their code, and their count says nothing useful."""
    if not all(type(v) in _PLAIN_TYPES for v in values):
        raise TypeError("objects of user types")
    return sorted(set(values), key=_safe_repr)


def _row_sample(obj: Any) -> Any:
    """At most SAMPLE_ROWS rows drawn over the whole frame (see _random_positions): a frame sorted by label,
    or with labels cycling through a period, still shows every label. Copies only those rows."""
    n = len(obj)
    return obj.iloc[_random_positions(n, SAMPLE_ROWS)] if n > SAMPLE_ROWS else obj


def _frame_sample(df: Any) -> Any:
    """The rows of _row_sample, and in frames wider than MAX_LISTED_COLUMNS only the first and last columns:
    one copy of at most 1,000 x 10,000 cells, whatever the frame's shape (rows and columns picked together,
    so a tall and wide frame is never copied whole along either axis)."""
    n_rows, n_cols = df.shape
    rows = _random_positions(n_rows, SAMPLE_ROWS) if n_rows > SAMPLE_ROWS else slice(None)
    if n_cols <= MAX_LISTED_COLUMNS:
        return df.iloc[rows] if n_rows > SAMPLE_ROWS else df
    return df.iloc[rows, _sampled_positions(range(n_cols))]


def _summarize_dataframe(name: str, df: Any) -> VariableSummary:
    n_rows, n_cols = df.shape
    sample = _frame_sample(df)  # every column below is one of the sample's (all of them unless very wide)
    columns = [str(c) for c in sample.columns]
    dtypes = {str(c): str(t) for c, t in zip(sample.columns, sample.dtypes)}
    kinds = {str(c): getattr(t, "kind", "") for c, t in zip(sample.columns, sample.dtypes)}
    n_unique = _column_uniques(sample, columns)
    ranges = _column_ranges(sample, columns, kinds)
    candidates = _label_candidates(sample, columns, n_unique, len(sample))
    class_column, reason = _class_column(sample, columns, n_unique, len(sample))
    secret_columns = {c for c in columns if is_secret_name(c)}  # named `password`: no value of theirs is shown
    if class_column in secret_columns:
        class_column, reason = None, ""
    classes = _classes(sample, columns.index(class_column)) if class_column else []
    facts = {
        "shape": (int(n_rows), int(n_cols)), "columns": columns, "dtypes": dtypes, "n_unique": n_unique,
        "label_candidates": candidates, "n_rows_sampled": len(sample), "ranges": ranges,
        "class_column": class_column, "class_reason": reason, "classes": classes,
    }
    sampled = len(sample) < n_rows
    shown = columns[:12]
    more = f"; ... +{n_cols - 12} more" if n_cols > 12 else ""
    described = "; ".join(
        _column_text(c, dtypes[c], kinds[c], None, None, sample, columns) if c in secret_columns
        else _column_text(c, dtypes[c], kinds[c], ranges.get(c), n_unique.get(c), sample, columns)
        for c in shown
    )
    hidden = [is_secret_name(str(c)) for c in df.columns[:12]]
    rows = "; ".join(
        "(" + ", ".join(_preview(v, 16, secret) for v, secret in zip(row, hidden)) + ")"
        for row in df.iloc[:3, :12].itertuples(index=False)
    )
    lines = [f"{name}: DataFrame {n_rows} rows x {n_cols} columns"
             + (f" (ranges and classes from a {len(sample)}-row sample)" if sampled else "")]
    lines += _wrapped("  columns: ", f"{described}{more}", separator="; ") if described else []
    lines += [f"  first rows: {rows}"] if rows else []
    if class_column:
        shown_classes = ", ".join(_short_repr(v, 40) for v in classes[:MAX_CLASSES])
        extra = f", ... +{len(classes) - MAX_CLASSES} more" if len(classes) > MAX_CLASSES else ""
        lines += _wrapped(f"  classes ({len(classes)}, column '{class_column}', {reason}): ", shown_classes + extra)
    others = [c for c in candidates if c != class_column]
    if others:
        lines.append(f"  {'other ' if class_column else ''}label candidates: {', '.join(others[:5])}")
    return VariableSummary(name, "dataframe", _lines(lines), facts, _data_relevance(n_rows * max(n_cols, 1) * 8))


def _sampled_positions(columns: Sequence[Any]) -> list[int]:
    """The columns whose values are looked at: all of them, or in wide frames the first and the last ones."""
    n = len(columns)
    if n <= SAMPLE_COLUMNS:
        return list(range(n))
    half = SAMPLE_COLUMNS // 2
    return [*range(half), *range(n - half, n)]  # never a list of a million positions


def _column_uniques(sample: Any, columns: list[str]) -> dict[str, int]:
    """n_unique per column on the row sample; wide frames only for the first and last columns."""
    counts = {}
    for j in _sampled_positions(columns):
        try:
            counts[columns[j]] = int(sample.iloc[:, j].nunique(dropna=True))
        except TypeError:  # unhashable cells (lists, dicts)
            continue
    return counts


def _column_ranges(sample: Any, columns: list[str], kinds: dict[str, str]) -> dict[str, tuple[float, float]]:
    """(min, max) of each numeric column on the row sample (NaN left out); all-NaN columns have none."""
    ranges = {}
    for j in _sampled_positions(columns):
        if kinds[columns[j]] and kinds[columns[j]] in "iuf":
            column = sample.iloc[:, j]
            low, high = float(column.min()), float(column.max())
            if not (math.isnan(low) or math.isnan(high)):
                ranges[columns[j]] = (low, high)
    return ranges


def _column_text(
    column: str, dtype: str, kind: str, value_range: tuple[float, float] | None, n_unique: int | None,
    sample: Any, columns: list[str],
) -> str:
    """One column in a few words: numbers with their range, categories with their count (and values when
    there are at most 5)."""
    text = f"{column} {dtype}"
    if value_range is not None:
        text += f" {_number(value_range[0])}..{_number(value_range[1])}"
        return text + (f" ({n_unique} distinct)" if kind in "iu" and n_unique is not None and n_unique <= 20 else "")
    if n_unique is None:
        return text
    text += f", {n_unique} distinct"
    if 0 < n_unique <= 5:
        text += ": " + ", ".join(_short_repr(v, 24) for v in _classes(sample, columns.index(column)))
    return text


def _class_column(df: Any, columns: list[str], n_unique: dict[str, int], n_sampled: int) -> tuple[str | None, str]:
    """The column holding the classes, and how it was recognised: the first column named like a label
    (label, target, class, y, ...) with at most 50 distinct values, else the last integer/text/categorical
    column with few distinct values. (None, "") when neither exists: a regression table, or no label."""
    for column in columns:
        if _label_like(column) and 2 <= n_unique.get(column, 0) <= 50:
            return column, "recognised by its name"
    for column, dtype in reversed(list(zip(columns, df.dtypes))):
        if _discrete(dtype) and 2 <= n_unique.get(str(column), 0) <= min(MAX_CLASSES, max(2, n_sampled // 2)):
            return str(column), "the last categorical column"
    return None, ""


def _classes(sample: Any, position: int) -> list[Any]:
    """The distinct values of one column of the sample, sorted (numbers numerically, else by text)."""
    values = [v.item() if isinstance(v, np.generic) else v for v in sample.iloc[:, position].dropna().unique()]
    try:
        return sorted(values)
    except TypeError:  # mixed types
        return sorted(values, key=_safe_repr)


_LABEL_WORDS = frozenset({"label", "labels", "target", "targets", "class", "classes", "category", "categories",
                          "species", "outcome", "y"})


def _label_candidates(df: Any, columns: list[str], n_unique: dict[str, int], n_sampled: int) -> list[str]:
    """Columns that may hold the label, most likely first: label-like names, then low-cardinality
    integer/text/categorical columns (later columns first: tables usually end with the label), then the
    last column as a weak guess."""
    named = [c for c in columns if _label_like(c)]
    low_cardinality = [
        c
        for c, dtype in reversed(list(zip(columns, df.dtypes)))
        if c not in named and _discrete(dtype) and 2 <= n_unique.get(c, 0) <= min(20, max(2, n_sampled // 2))
    ]
    candidates = named + low_cardinality
    if columns and columns[-1] not in candidates:
        candidates.append(columns[-1])
    return candidates


def _label_like(column: str) -> bool:
    lowered = column.lower()
    return lowered == "y" or any(w in _LABEL_WORDS - {"y"} for w in re.split(r"[^a-z0-9]+", lowered))


def _discrete(dtype: Any) -> bool:
    """Integer, bool, object, string or categorical: a column whose values can be classes."""
    return getattr(dtype, "kind", "") in "biuO" or str(dtype) in {"category", "string", "str"}


def _summarize_series(name: str, series: Any) -> VariableSummary:
    sample = _row_sample(series)
    try:
        n_unique = int(sample.nunique(dropna=True))
    except TypeError:
        n_unique = None
    facts = {"length": len(series), "dtype": str(series.dtype), "n_unique": n_unique}
    label = f" '{series.name}'" if series.name is not None else ""
    line = f"{name}: Series{label} {len(series)} values {series.dtype}"
    if n_unique is not None:
        line += f", {'~' if len(sample) < len(series) else ''}{n_unique} distinct"
    secret = series.name is not None and is_secret_name(str(series.name))  # a Series named `token`
    head = ", ".join(_preview(v, 16, secret) for v in series.head(5).tolist())
    text = _lines([line, f"  first values: {head}"])
    return VariableSummary(name, "series", text, facts, _data_relevance(len(series) * 8))


def _summarize_keras_model(name: str, model: Any) -> VariableSummary:
    layers = list(getattr(model, "layers", None) or [])
    descriptions = [f"{layer.name} ({type(layer).__name__}) -> {_shape_text(_layer_shape(layer))}" for layer in layers]
    n_params = _attempt(lambda: model.count_params())
    facts = {
        "input_shape": _attempt(lambda: _model_shape(model, "input")),
        "output_shape": _attempt(lambda: _model_shape(model, "output")),
        "n_params": n_params,
        "layers": descriptions,
        "layer_types": [type(layer).__name__ for layer in layers],
        "name": getattr(model, "name", None),
        "loss": _loss_name(model),
        "optimizer": type(opt).__name__ if (opt := getattr(model, "optimizer", None)) is not None else None,
    }
    params = f"{n_params:,} params" if n_params is not None else "not built yet"
    lines = [
        f"{name}: keras {type(model).__name__} '{facts['name']}', {params}, "
        f"input {_shape_text(facts['input_shape'])} -> output {_shape_text(facts['output_shape'])}",
        f"  layers ({len(layers)}): " + "; ".join(descriptions[:12]) + ("; ..." if len(layers) > 12 else ""),
    ]
    if facts["loss"] or facts["optimizer"]:
        lines.append(f"  compiled: loss={facts['loss']}, optimizer={facts['optimizer']}")
    return VariableSummary(name, "keras_model", _lines(lines), facts, 3.5)


def _layer_shape(layer: Any) -> Any:
    """A layer's output shape from its attributes: Keras 3 keeps it on `layer.output`, Keras 2 on
    `layer.output_shape`; a layer never called has neither."""
    output = _attempt(lambda: layer.output)
    if output is not None and hasattr(output, "shape"):
        return _as_shape(output.shape)
    return _as_shape(_attempt(lambda: layer.output_shape))


def _model_shape(model: Any, which: str) -> Any:
    shape = _attempt(lambda: getattr(model, f"{which}_shape"))
    if shape is None:
        tensors = getattr(model, f"{which}s", None) or []
        shapes = [_as_shape(t.shape) for t in tensors]
        shape = shapes[0] if len(shapes) == 1 else (shapes or None)
    return _as_shape(shape)


def _as_shape(shape: Any) -> Any:
    """Keras/TF shapes (tuples, TensorShape, lists of them for multi-input models) as plain tuples."""
    if shape is None:
        return None
    if isinstance(shape, list) and shape and not isinstance(shape[0], (int, type(None))):
        return [_as_shape(s) for s in shape]
    if hasattr(shape, "as_list"):
        shape = _attempt(shape.as_list)
        if shape is None:
            return None
    return tuple(None if d is None else int(getattr(d, "value", d)) for d in shape)


def _loss_name(model: Any) -> str | None:
    loss = _attempt(lambda: model.loss)
    if loss is None or isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__


def _summarize_tflite_bytes(name: str, value: bytes | bytearray) -> VariableSummary:
    facts = {"n_bytes": len(value), "source": "bytes"}
    text = f"{name}: TFLite flatbuffer in memory ({type(value).__name__}), {len(value):,} bytes"
    return VariableSummary(name, "tflite", text, facts, 3.5)


def _as_path(value: Any) -> str | None:
    """The path a variable names: any os.PathLike, a string ending .tflite, or a string naming an existing
    file or directory. Strings are only stat'ed, never read."""
    if isinstance(value, os.PathLike):
        return os.fspath(value) if isinstance(os.fspath(value), str) else None
    if not isinstance(value, str) or not value.strip() or len(value) > 1024 or "\n" in value or "\0" in value:
        return None
    if value.lower().endswith(".tflite"):
        return value
    try:
        return value if os.path.exists(value) else None
    except (OSError, ValueError):
        return None


def _summarize_path(name: str, value: Any, path: str) -> VariableSummary:
    mode = _mode(path)
    exists = mode is not None
    is_dir, regular = exists and stat.S_ISDIR(mode), exists and stat.S_ISREG(mode)
    n_bytes = os.path.getsize(path) if regular else None
    suffix = os.path.splitext(path)[1]
    if suffix.lower() == ".tflite" and (regular or not exists):
        return _summarize_tflite_path(name, path, n_bytes)
    facts: dict[str, Any] = {"path": path, "suffix": suffix, "n_bytes": n_bytes, "is_dir": is_dir, "exists": exists}
    if not exists:
        text = f"{name}: path '{path}' (does not exist yet)"
        return VariableSummary(name, "path", text, facts, 2.0)
    if not (is_dir or regular):  # a FIFO, device or socket: opening one may block or reset a board
        return VariableSummary(name, "path", clip_line(f"{name}: special file '{path}' (not read)"), facts, 1.0)
    if is_dir:
        facts["entries"] = _first_entries(path)
        text = f"{name}: directory '{path}', entries: {', '.join(facts['entries']) or '(empty)'}"
        return VariableSummary(name, "path", _lines([text]), facts, 3.0)
    lines = [f"{name}: file '{path}' ({suffix or 'no suffix'}, {_human_bytes(n_bytes or 0)})"]
    if suffix.lower() in {".csv", ".tsv"}:
        facts["columns"] = _header_columns(path, "\t" if suffix.lower() == ".tsv" else None)
        lines.append(f"  header: {', '.join(facts['columns'])}")
    return VariableSummary(name, "path", _lines(lines), facts, 3.0)


def _summarize_tflite_path(name: str, path: str, n_bytes: int | None) -> VariableSummary:
    facts = {"n_bytes": n_bytes, "source": path, "exists": n_bytes is not None}
    size = f"{n_bytes:,} bytes" if n_bytes is not None else "not written yet"
    return VariableSummary(name, "tflite", f"{name}: TFLite file '{path}', {size}", facts, 3.5)


def _first_entries(path: str, limit: int = 10) -> list[str]:
    """Up to `limit` names in a directory, in the order the OS lists them (sorting would read them all)."""
    with os.scandir(path) as entries:
        return [e.name + ("/" if e.is_dir() else "") for e in itertools.islice(entries, limit)]


def _mode(path: str) -> int | None:
    """The path's st_mode (following links), None when nothing is there. A stat never opens the file."""
    try:
        return os.stat(path).st_mode
    except (OSError, ValueError):
        return None


def _header_columns(path: str, delimiter: str | None) -> list[str]:
    """The first line of a regular CSV file split into column names; reads at most 64 KB. Opened without
    blocking and checked again once open: a FIFO swapped in after the stat is not read either."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        first = f.read(65536).split(b"\n", 1)[0]
    line = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")
    if delimiter is None:
        delimiter = max(",;\t|", key=line.count)
    return [c.strip() for c in next(csv.reader([line], delimiter=delimiter), [])]


def _summarize_bunch(name: str, bunch: Mapping) -> VariableSummary:
    keys = [str(k) for k in itertools.islice(bunch.keys(), 20) if not is_secret(str(k), bunch[k])]
    shapes = {k: _as_shape(bunch[k].shape) for k in keys if hasattr(bunch[k], "shape")}
    parts = [f"{k} {_brief(bunch[k])}" for k in keys]
    facts = {"length": len(bunch), "keys": keys, "shapes": shapes}
    text = _lines([f"{name}: sklearn Bunch with {len(bunch)} keys", "  " + "; ".join(parts)])
    return VariableSummary(name, "mapping", text, facts, 3.0)


def _summarize_mapping(name: str, mapping: Mapping) -> VariableSummary:
    items = list(itertools.islice(mapping.items(), 50))
    shown = [(str(k), v) for k, v in items if not is_secret(str(k), v)]
    hidden = len(items) - len(shown)
    facts = {
        "length": len(mapping), "keys": [k for k, _ in shown[:20]],
        "shapes": {k: _as_shape(v.shape) for k, v in shown[:20] if isinstance(getattr(v, "shape", None), tuple)},
    }
    preview = ", ".join(f"{k!r}: {_brief(v)}" for k, v in shown[:6])
    more = ", ..." if len(mapping) > 6 + hidden else ""
    note = f" ({hidden} secret-looking item{'s' * (hidden > 1)} hidden)" if hidden else ""
    lines = [f"{name}: {type(mapping).__name__} of {len(mapping)} items {{{preview}{more}}}{note}"]
    for key, value in shown[:6]:  # {"mean": [...], "std": [...]}: the vectors whole, as for a variable
        if (literal := _vector_literal(value)) is not None:
            lines += _wrapped(f"  {key!r} in order: ", literal)
    relevance = 3.0 if facts["shapes"] else 1.5
    return VariableSummary(name, "mapping", _lines(lines), facts, relevance)


def _vector_literal(value: Any) -> str | None:
    """A short numeric array, list or tuple as a literal of all its values in order; None for anything else."""
    if isinstance(value, np.ndarray) and value.ndim > 0 and _is_short_numeric(value):
        return _nested_literal(value)
    if isinstance(value, (list, tuple)) and 0 < len(value) <= MAX_VECTOR_VALUES and all(map(_is_number, value)):
        return "[" + ", ".join(_full_number(v) for v in value) + "]"
    return None


def _summarize_sequence(name: str, seq: Any) -> VariableSummary:
    if isinstance(seq, (list, tuple)) and 0 < len(seq) <= MAX_VECTOR_VALUES and all(_is_number(v) for v in seq):
        return _summarize_number_sequence(name, seq)
    first = list(itertools.islice(seq, 3))
    preview = ", ".join(REDACTED if is_secret("", v) else _brief(v) for v in first)
    more = ", ..." if len(seq) > 3 else ""
    facts = {"length": len(seq)}
    text = f"{name}: {type(seq).__name__} of {len(seq)} items [{preview}{more}]"
    return VariableSummary(name, "sequence", _lines([text]), facts, 1.5)


def _summarize_number_sequence(name: str, seq: list | tuple) -> VariableSummary:
    """A short list or tuple of numbers: every value, in order (a normalisation vector, class weights)."""
    kinds = {"float" if isinstance(v, (float, np.floating)) else "int" for v in seq}
    kind = kinds.pop() if len(kinds) == 1 else "number"
    values = [v.item() if isinstance(v, np.generic) else v for v in seq]
    facts = {"length": len(seq), "values": values}
    literal = ", ".join(_full_number(v) for v in seq)
    literal = f"({literal},)" if isinstance(seq, tuple) and len(seq) == 1 else (
        f"({literal})" if isinstance(seq, tuple) else f"[{literal}]"
    )
    lines = [f"{name}: {type(seq).__name__} of {len(seq)} {kind}{'s' * (len(seq) != 1)}"]
    lines += _wrapped("  values in order: ", literal)
    return VariableSummary(name, "sequence", _lines(lines), facts, 2.0)


def _summarize_scalar(name: str, value: Any) -> VariableSummary:
    facts: dict[str, Any] = {"type": type(value).__name__}
    if isinstance(value, str):
        if len(value) <= 120:
            facts["value"] = value
        length = f" ({len(value):,} chars)" if len(value) > 120 else ""
        text = f"{name}: str = {_short_repr(value[:120], 120)}{length}"  # slice first: repr of 100 MB is slow
    else:
        facts["value"] = value.item() if isinstance(value, np.generic) else value
        text = clip_line(f"{name}: {_type_name(value)} = {_safe_repr(facts['value'])}")
    return VariableSummary(name, "scalar", text, facts, 2.0)


def _summarize_other(name: str, value: Any) -> VariableSummary:
    """User functions and classes: their signature. Known extras (Keras History, tensors): a few attributes.
    Anything else: the type name and where it comes from."""
    module = getattr(value, "__module__", None) if inspect.isclass(value) or inspect.isroutine(value) else None
    if (inspect.isfunction(value) or inspect.isclass(value)) and module == "__main__":
        return _summarize_user_code(name, value)
    kind_name = type(value).__name__
    facts: dict[str, Any] = {"type": kind_name, "module": module or type(value).__module__}
    if _is_a(value, "keras", "History") and isinstance(getattr(value, "history", None), dict):
        return _summarize_history(name, value, facts)
    if isinstance(value, type) or inspect.isroutine(value):
        text = f"{name}: {'class' if isinstance(value, type) else 'function'} from {module or '?'}"
        return VariableSummary(name, "other", text, facts, 0.5)
    if type(value).__module__.split(".")[0] not in _TENSOR_LIBRARIES:
        return VariableSummary(name, "other", f"{name}: {kind_name} ({type(value).__module__})", facts, 1.0)
    lines = [f"{name}: {kind_name}{_tensor_detail(value)} ({type(value).__module__})"]
    small = _small_tensor_values(value)
    if small is not None:
        facts["values"] = small.tolist()
        lines += _wrapped("  value: " if small.ndim == 0 else "  values in order: ", _nested_literal(small))
    return VariableSummary(name, "other", _lines(lines), facts, 2.0 if small is not None else 1.0)


def _small_tensor_values(value: Any) -> np.ndarray | None:
    """A tensor's values as a numpy array when its shape says it holds at most 32 numbers; None otherwise
    (a big tensor is never converted, a tensor that refuses, e.g. one on a GPU or needing grad, is skipped)."""
    shape = _attempt(lambda: _as_shape(value.shape))
    if not isinstance(shape, tuple) or None in shape or math.prod(shape) > MAX_VECTOR_VALUES:
        return None
    array = _attempt(lambda: np.asarray(value))
    return array if isinstance(array, np.ndarray) and _is_short_numeric(array) else None


_TENSOR_LIBRARIES = frozenset({"tensorflow", "torch", "jax", "jaxlib"})


def _tensor_detail(value: Any) -> str:
    """" (32, 10) float32" for a tensor of a library we do not import; "" when it has no shape."""
    shape = _attempt(lambda: _as_shape(value.shape))
    if shape is None:
        return ""
    dtype = getattr(value, "dtype", "")
    return f" {_shape_text(shape)} {getattr(dtype, 'name', dtype)}"


def _summarize_user_code(name: str, value: Any) -> VariableSummary:
    try:
        signature = str(inspect.signature(value))
    except (TypeError, ValueError):
        signature = "(...)"
    keyword = "class" if inspect.isclass(value) else "def"
    facts = {"type": type(value).__name__, "module": "__main__", "signature": signature}
    doc = (inspect.getdoc(value) or "").strip().splitlines()
    text = f"{name}: {keyword} {value.__name__}{signature}" + (f"  # {doc[0]}" if doc else "")
    return VariableSummary(name, "other", clip_line(text), facts, 1.2)


def _summarize_history(name: str, history: Any, facts: dict[str, Any]) -> VariableSummary:
    metrics = {k: v[-1] for k, v in history.history.items() if isinstance(v, list) and v}
    epochs = max((len(v) for v in history.history.values() if isinstance(v, list)), default=0)
    facts.update({"epochs": epochs, "metrics": metrics})
    last = ", ".join(f"{k} {_number(float(v))}" for k, v in list(metrics.items())[:8])
    return VariableSummary(name, "other", f"{name}: keras History, {epochs} epochs, last: {last}", facts, 2.0)


def _preview(value: Any, limit: int, secret: bool) -> str:
    """A table cell in a preview: <redacted> in a secret-named column or when the value itself looks like a key
    (checked whole: the cut preview of a key would no longer look like one)."""
    if secret or (isinstance(value, (str, bytes)) and is_secret("", value)):
        return REDACTED
    return _short_repr(value, limit)


def _brief(value: Any) -> str:
    """A few words for a value inside a list or dict preview; never reprs a large object."""
    if value is None or isinstance(value, (bool, int, float, complex, np.generic)):
        return _short_repr(value, 40)
    if isinstance(value, str):
        if is_secret("", value):
            return REDACTED
        return _short_repr(value) if len(value) <= 40 else f"str[{len(value)} chars]"
    if isinstance(value, (bytes, bytearray)):
        return f"{type(value).__name__}[{len(value)}]"
    if isinstance(value, np.ndarray):
        return f"ndarray{_shape_text(value.shape)} {value.dtype}"
    if _is_a(value, "pandas", "DataFrame") or _is_a(value, "pandas", "Series"):
        return f"{type(value).__name__}{_shape_text(value.shape)}"
    if isinstance(value, (list, tuple, set, frozenset, Mapping)):
        return f"{type(value).__name__}[{len(value)}]"
    return type(value).__name__


# --- small formatting ----------------------------------------------------------------------------------------


def _data_relevance(n_bytes: int) -> float:
    """Data kinds start at 3; size adds up to ~1 (log scale), so a 2 GB array edges out a 2 KB one."""
    return 3.0 + min(1.0, math.log10(max(n_bytes, 1)) / 10)


def _attempt(getter: Any) -> Any:
    """getter(), or None when the object refuses (unbuilt Keras models raise on most shape attributes)."""
    try:
        return getter()
    except Exception:
        return None


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _number(x: float) -> str:
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.4g}"


def _short_repr(value: Any, limit: int = 40) -> str:
    text = _safe_repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Values whose repr is taken through the builtin base type's own __repr__ (a subclass's override is not run).
_PLAIN_TYPES: tuple[type, ...] = (bool, int, float, complex, str, bytes, bytearray, type(None))
# Libraries whose own value types (Timestamp, Decimal, datetime, UUID, Path) have a repr that neither blocks
# nor grows with anything but the value.
_LIBRARY_ROOTS = frozenset({"numpy", "pandas", "datetime", "decimal", "fractions", "uuid", "pathlib"})


def _safe_repr(value: Any) -> str:
    """A value's repr without running code the user wrote: builtin values through their base type's repr
    (floats as %.6g), library values through theirs, anything else as `<TypeName>`.

    Why not repr(): a user's __repr__ may sleep, read a socket or print a secret; the summary must not
    depend on it (and the time limit of `summarize` is only a second line of defence)."""
    cls = type(value)
    if issubclass(cls, np.generic):
        value = value.item()
        cls = type(value)
    for base in _PLAIN_TYPES:
        if issubclass(cls, base):
            return float.__format__(value, ".6g") if base is float else base.__repr__(value)
    module = type.__dict__["__module__"].__get__(cls)
    if isinstance(module, str) and module.split(".")[0] in _LIBRARY_ROOTS:
        return repr(value)
    return f"<{_type_name(value)}>"


def _wrapped(prefix: str, literal: str, limit: int = MAX_LINE_CHARS, separator: str = ", ") -> list[str]:
    """`prefix + literal` as lines of at most `limit` characters, broken after `separator` so no number is cut
    (clip_line would cut the end off a long vector); continuation lines are indented."""
    lines, line = [], prefix
    for piece in re.split(f"(?<={re.escape(separator)})", literal):
        if len(line) + len(piece) > limit and line.strip():
            lines.append(line.rstrip())
            line = "    "
        line += piece
    return [*lines, line.rstrip()]


def clip_line(line: str, limit: int = MAX_LINE_CHARS) -> str:
    """`line` cut to `limit` characters, ending in "..." when cut: one long value cannot eat the token budget."""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _lines(lines: list[str]) -> str:
    return "\n".join(clip_line(line) for line in lines)
