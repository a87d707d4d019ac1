"""Run TFLite bytes on a test set in batches, exactly as they will compute, and score them.

    result = evaluate(tflite, x_test, y_test)             # accuracy (or MAE/RMSE) of the bytes as they will run

`quantize_values` is the one rounding rule from float samples to a model's integer input, shared with the
on-device check; `interpreter_for` the one way to get a LiteRT interpreter (with TFLite's reference kernels
when a microcontroller's results are the yardstick). LiteRT is imported inside the functions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputCountError, LibraryError, QuantizationError
from .samples import check_sample_shape
from ..native_logs import native_output_kept
from .tflite import model_bytes, read

_INTEGER_TENSOR_TYPES = ("int8", "uint8", "int16")


@dataclass
class Evaluation:
    """What `evaluate` returns: predictions for every sample, and accuracy (classification) or MAE/RMSE."""

    task: str  # "classification" | "regression"
    outputs: np.ndarray  # dequantized float outputs, one row per sample
    predictions: np.ndarray  # class indices (classification) or outputs (regression)
    accuracy: float | None = None
    mae: float | None = None
    rmse: float | None = None
    labels: np.ndarray | None = None  # class indices taken from y (one-hot y -> argmax); None for regression

    def __repr__(self) -> str:
        if self.accuracy is not None:
            figures = f"accuracy {self.accuracy:.3f}"
        elif self.mae is not None:
            figures = f"MAE {self.mae:.4g}, RMSE {self.rmse:.4g}"
        else:
            figures = "no labels given"
        return f"Evaluation({self.task}, {len(self.outputs)} samples, {figures})"


def evaluate(tflite: bytes | str | Path, x: Any, y: Any = None, *, batch_size: int = 256) -> Evaluation:
    """Run a TFLite model on x in batches, exactly as its bytes compute, and score it against y.

    tflite: model bytes or a path to a .tflite file (one input, one output).
    x: float samples shaped like the model input without the batch axis. For an int8/uint8 input they are
        quantized with the input tensor's own scale and zero point (an integer x of the input's own dtype is
        taken as already quantized); int8/uint8 outputs are dequantized with the output's parameters.
    y: optional. Class indices (or integral floats) of shape (n,) -> classification: argmax of the outputs,
        accuracy. One-hot rows of shape (n, classes) are accepted and read as their argmax. 0/1 labels with a
        single output are read as binary classification with a sigmoid threshold of 0.5. Fractional targets ->
        regression: MAE and RMSE over every output. Without y: classification when the model has more than one
        output column, else regression, and no score.
    Raises QuantizationError for non-TFLite input, shapes that do not match the model, or labels that cannot be
    read (strings: convert them to class indices).
    """
    if int(batch_size) < 1:
        raise QuantizationError(f"batch_size must be at least 1, got {batch_size}.")
    outputs = run_batches(interpreter_for(model_bytes(tflite)), x, int(batch_size))
    n, width = outputs.shape
    task, truth, _ = read_labels(y, n, width)
    predictions = predict(task, outputs)
    if task == "classification":
        accuracy = None if truth is None else float(np.mean(predictions == truth))
        return Evaluation(task=task, outputs=outputs, predictions=predictions, accuracy=accuracy, labels=truth)
    mae, rmse = (None, None) if truth is None else errors(outputs, truth)
    return Evaluation(task=task, outputs=outputs, predictions=predictions, mae=mae, rmse=rmse)


def interpreter_for(content: bytes, *, reference: bool = False) -> Any:
    """A LiteRT interpreter for the model, its tensors allocated. reference=True uses TFLite's reference kernels,
    which a microcontroller's kernels match (the default optimized ones may differ by an output step or two).

    The bytes go through `tflite.read` first: LiteRT trusts a flatbuffer's indices and sizes and can crash the
    process (a double free) on a damaged one, so a corrupt model is refused here with CorruptModelError."""
    read(model_bytes(content))
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # older setups: TensorFlow's own (deprecated) interpreter
        import tensorflow as tf

        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    options = {"experimental_op_resolver_type": OpResolverType.BUILTIN_REF} if reference else {}
    try:
        with native_output_kept():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" line, once a process
            interpreter = Interpreter(model_content=content, **options)
            interpreter.allocate_tensors()
        return interpreter
    except Exception as error:  # ValueError/RuntimeError from a corrupt flatbuffer or an unknown op
        raise LibraryError("The TFLite interpreter cannot load this model", error) from error


def run_batches(interpreter: Any, x: Any, batch_size: int) -> np.ndarray:
    """Dequantized outputs, shape (n, width), running x in chunks of batch_size samples per invoke()."""
    try:
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    except (RuntimeError, ValueError) as error:  # a name that is not UTF-8, a tensor LiteRT cannot describe
        raise LibraryError("The TFLite interpreter cannot read this model's inputs", error) from None
    if len(inputs) != 1 or len(outputs) != 1:
        raise InputCountError("model", len(inputs), len(outputs))
    source, target = inputs[0], outputs[0]
    signature = tuple(source.get("shape_signature", source["shape"])) or tuple(source["shape"])
    data = _model_input(x, source, signature)
    n = len(data)

    # A model converted from Keras has a free batch axis (-1): resize it to the chunk. A model built with a fixed
    # batch (recurrent state sized for it) runs in chunks of exactly that batch, the last one padded.
    fixed_batch = int(signature[0]) if signature and signature[0] > 0 else None
    chunk = fixed_batch or batch_size
    result: np.ndarray | None = None
    current = None
    for start in range(0, n, chunk):
        part = data[start : start + chunk]
        rows = len(part)
        if fixed_batch is not None and rows < fixed_batch:
            part = np.concatenate([part, np.zeros((fixed_batch - rows,) + part.shape[1:], part.dtype)])
        try:
            if part.shape[0] != current:
                if fixed_batch is None:
                    interpreter.resize_tensor_input(source["index"], part.shape)
                interpreter.allocate_tensors()
                current = part.shape[0]
            interpreter.set_tensor(source["index"], part)
            interpreter.invoke()
        except (RuntimeError, ValueError) as error:  # a model that parses but whose ops contradict their tensors
            raise LibraryError("The TFLite interpreter cannot run this model", error) from None
        scores = interpreter.get_tensor(target["index"])[:rows].reshape(rows, -1)
        if result is None:
            result = np.empty((n, scores.shape[1]), scores.dtype)
        result[start : start + rows] = scores
    assert result is not None
    return _dequantize(result, target)


def _model_input(x: Any, detail: dict[str, Any], signature: tuple[int, ...]) -> np.ndarray:
    """x checked against the input tensor's shape and brought to its dtype (quantized if integer)."""
    data = np.asarray(x)
    if data.dtype.kind in "USO":
        raise QuantizationError(f"x holds {data.dtype} values: pass a numeric array shaped like the model input.")
    if data.ndim == 0 or len(data) == 0:
        raise QuantizationError("x is empty: pass at least one sample shaped like the model input.")
    check_sample_shape(data.shape, signature, "x")
    dtype = np.dtype(detail["dtype"])
    if dtype.name in _INTEGER_TENSOR_TYPES:
        scale, zero_point = detail["quantization"]
        return quantize_values(data, dtype, scale, zero_point)
    return np.ascontiguousarray(data, dtype=dtype)


def quantize_values(data: Any, dtype: Any, scale: float | None, zero_point: int | None, *, what: str = "x",
                    error: type[Exception] = QuantizationError) -> np.ndarray:
    """Float values as the model's integer input: round(x / scale + zero_point), clipped to the dtype.

    The one rounding rule shared by evaluate() and the on-device check, so both score the same bytes. Values
    already of `dtype` pass through (the caller quantized them). `what` names the values and `error` is the
    exception class in messages, so each caller's errors read as its own.
    """
    dtype = np.dtype(dtype)
    data = np.asarray(data)
    if data.dtype == dtype:
        return np.ascontiguousarray(data)
    if not scale:
        raise error(f"The model's {dtype.name} input has no quantization scale, so float values cannot be "
                    f"quantized: pass {dtype.name} {what}.")
    real = data.astype(np.float32)
    if not np.isfinite(real).all():
        raise error(f"{what} holds NaN or infinite values: clean or impute them first.")
    limits = np.iinfo(dtype)
    # In place, as this is most of evaluate's own time.
    np.divide(real, np.float32(scale), out=real)
    real += zero_point or 0
    np.round(real, out=real)
    np.clip(real, limits.min, limits.max, out=real)
    return real.astype(dtype)


def _dequantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.dtype(detail["dtype"]).name in _INTEGER_TENSOR_TYPES and scale:
        return (values.astype(np.float32) - zero_point) * np.float32(scale)
    return values.astype(np.float32)


def read_labels(y: Any, n: int, width: int) -> tuple[str, np.ndarray | None, str | None]:
    """(task, truth, note): truth is class indices (classification) or targets shaped (n, width) (regression).

    n is the number of samples and width the model's outputs per sample; note says how y was read when that
    is not obvious (one-hot rows, 0/1 labels for one output).
    """
    if y is None:
        return ("classification" if width > 1 else "regression"), None, None
    labels = np.asarray(y)
    if labels.dtype.kind in "USO":
        try:
            labels = labels.astype(np.float64)
        except (TypeError, ValueError):
            sample = labels.ravel()[0] if labels.size else ""
            raise QuantizationError(
                f"y holds text labels such as {sample!r}: convert labels to class indices, e.g. with "
                "sklearn.preprocessing.LabelEncoder().fit_transform(y)."
            ) from None
    if labels.ndim == 0 or len(labels) != n:
        count = 1 if labels.ndim == 0 else len(labels)
        raise QuantizationError(f"y has {count} labels but x has {n} samples: pass one label per sample.")
    if labels.ndim == 2 and labels.shape[1] == width > 1 and _is_one_hot(labels):
        return "classification", labels.argmax(axis=1), "y is one-hot: each row's argmax is its class"
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim == 1:
        integral = labels.dtype.kind in "iub" or (
            labels.dtype.kind == "f" and np.isfinite(labels).all() and bool(np.all(labels == np.round(labels)))
        )
        if width > 1:
            if not integral:
                raise QuantizationError(
                    f"y holds fractional values but the model has {width} outputs: pass class indices 0..{width - 1}, "
                    f"or regression targets shaped (n, {width})."
                )
            classes = labels.astype(np.int64)
            if classes.min() < 0 or classes.max() >= width:
                outside = int(classes.max() if classes.max() >= width else classes.min())
                raise QuantizationError(
                    f"y holds class {outside} but the model has {width} outputs (classes 0..{width - 1}): "
                    "check the labels or the last layer's width."
                )
            return "classification", classes, None
        if labels.dtype.kind in "iub" and set(np.unique(labels).tolist()) <= {0, 1}:
            note = "one output with 0/1 labels: binary classification, threshold 0.5"
            return "classification", labels.astype(np.int64), note
    targets = labels.reshape(n, -1).astype(np.float32)
    if targets.shape[1] != width:
        raise QuantizationError(f"y has {targets.shape[1]} targets per sample but the model has {width} outputs.")
    if not np.isfinite(targets).all():
        raise QuantizationError("y holds NaN or infinite targets: drop those samples before evaluating.")
    return "regression", targets, None


def _is_one_hot(labels: np.ndarray) -> bool:
    return labels.dtype.kind in "iubf" and bool(np.isin(labels, (0, 1)).all()) and bool((labels.sum(axis=1) == 1).all())


def predict(task: str, outputs: np.ndarray) -> np.ndarray:
    """Class indices (argmax, or a 0.5 threshold on one sigmoid output) or, for regression, the outputs."""
    if task == "regression":
        return outputs[:, 0] if outputs.shape[1] == 1 else outputs
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)  # one sigmoid output
    return outputs.argmax(axis=1)


def errors(outputs: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """(MAE, RMSE) over every output of every sample."""
    difference = outputs.astype(np.float64) - targets
    return float(np.mean(np.abs(difference))), float(np.sqrt(np.mean(difference**2)))
