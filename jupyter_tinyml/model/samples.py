"""The samples a person passes to convert, evaluate and compare, checked the same way by all three.

Numeric, finite, not empty, shaped like the model's input: a bad array fails here with a message that names
what to pass, before any TensorFlow call turns it into a page of traceback.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import QuantizationError, SampleShapeError


def sample_rows(data: Any, max_samples: int, seed: int, what: str) -> np.ndarray:
    """At most max_samples rows of data, picked at random with a fixed seed, as float32.

    `what` names the data in messages ("representative_data", "x_test").
    """
    array = np.asarray(data)
    if array.dtype.kind in "USO":
        raise QuantizationError(f"{what} holds {array.dtype} values: pass a numeric array shaped like the model input.")
    if array.ndim == 0 or len(array) == 0:
        raise QuantizationError(f"{what} is empty: pass samples shaped like the model input, e.g. x_train.")
    if len(array) > max_samples:
        rows = np.random.default_rng(seed).choice(len(array), size=max_samples, replace=False)
        array = array[np.sort(rows)]
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise QuantizationError(f"{what} holds NaN or infinite values: clean or impute them before converting.")
    return array


def check_sample_shape(got: Sequence[int], model_shape: Sequence[int | None], what: str) -> None:
    """Raise SampleShapeError unless got[1:] equals the model's per-sample shape (None or -1 there matches)."""
    expected = tuple(None if d is None or d < 0 else int(d) for d in tuple(model_shape)[1:])
    per_sample = tuple(int(d) for d in tuple(got)[1:])
    if len(per_sample) == len(expected) and all(e is None or e == g for e, g in zip(expected, per_sample)):
        return
    raise SampleShapeError(what, tuple(int(d) for d in got), expected)
