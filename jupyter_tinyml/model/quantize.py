"""Keras -> TFLite conversion, batched evaluation, and the float-vs-quantized comparison.

The convert stage inserts a few lines that call these functions, and a person can call them directly:

    tflite = convert(model, x_train)                      # full int8: int8 weights, activations, input, output
    result = evaluate(tflite, x_test, y_test)             # accuracy (or MAE/RMSE) of the bytes as they will run
    report = compare(model, tflite, x_test, y_test, representative_data=x_train)

TensorFlow and LiteRT are imported inside the functions: importing jupyter_tinyml must stay fast.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import QuantizationError

QUANTIZATION_MODES = ("int8", "int8-float-io", "float16", "dynamic", "none")
# Modes whose activations are int8: they need representative data and must not keep float ops inside.
INT8_MODES = ("int8", "int8-float-io")
KERAS_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")

_INTEGER_TENSOR_TYPES = ("int8", "uint8", "int16")


@dataclass
class LayerError:
    """How far one quantized tensor is from the float model's, in quantization steps.

    rmse_over_scale: RMSE between the float tensor and the dequantized int8 tensor divided by the tensor's
    scale (TensorFlow's QuantizationDebugger metric). About 0.29 (1/sqrt(12)) is ideal rounding error;
    much above 1 means the layer loses information.
    """

    tensor: str
    op: str
    rmse_over_scale: float
    scale: float
    num_elements: int  # elements of this tensor for one sample


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


@dataclass
class QuantizationComparison:
    """Float model vs its quantized TFLite model on the same test data.

    Classification fills the accuracy, per-class and confusion fields; regression fills the MAE/RMSE ones.
    `layer_errors` is sorted worst first. `per_class_*` is recall per true class (NaN for a class with no test
    sample). `notes` says how figures were obtained (label handling, which data calibrated the layer errors).
    """

    task: str
    n_samples: int
    float_bytes: int
    quantized_bytes: int
    quantization: str
    float_accuracy: float | None = None
    quantized_accuracy: float | None = None
    agreement: float | None = None
    class_names: list[str] = field(default_factory=list)
    per_class_float: list[float] = field(default_factory=list)
    per_class_quantized: list[float] = field(default_factory=list)
    confusion_float: np.ndarray | None = None  # rows: true class, columns: predicted class
    confusion_quantized: np.ndarray | None = None
    float_mae: float | None = None
    quantized_mae: float | None = None
    float_rmse: float | None = None
    quantized_rmse: float | None = None
    layer_errors: list[LayerError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def worst_layer(self) -> LayerError | None:
        return self.layer_errors[0] if self.layer_errors else None

    def summary(self) -> dict[str, Any]:
        """JSON-able headline figures (what summary.json and logs keep)."""
        worst = self.worst_layer
        return {
            "task": self.task,
            "quantization": self.quantization,
            "n_samples": self.n_samples,
            "float_accuracy": self.float_accuracy,
            "quantized_accuracy": self.quantized_accuracy,
            "agreement": self.agreement,
            "float_mae": self.float_mae,
            "quantized_mae": self.quantized_mae,
            "float_rmse": self.float_rmse,
            "quantized_rmse": self.quantized_rmse,
            "float_bytes": self.float_bytes,
            "quantized_bytes": self.quantized_bytes,
            "worst_layer": None
            if worst is None
            else {"tensor": worst.tensor, "op": worst.op, "rmse_over_scale": worst.rmse_over_scale},
        }

    def _headline(self) -> list[tuple[str, str]]:
        rows = [("Quantization", f"{self.quantization}, {self.n_samples} test samples")]
        if self.task == "classification" and self.float_accuracy is not None and self.quantized_accuracy is not None:
            change = 100 * (self.quantized_accuracy - self.float_accuracy)
            accuracy = f"float {self.float_accuracy:.3f} -> quantized {self.quantized_accuracy:.3f}"
            accuracy += f" ({change:+.1f} points)"
            rows.append(("Accuracy", accuracy))
            rows.append(("Agreement", f"{self.agreement:.3f} of samples get the same class"))
        elif self.float_mae is not None and self.quantized_mae is not None:
            rows.append(("MAE", f"float {self.float_mae:.4g} -> quantized {self.quantized_mae:.4g}"))
            rows.append(("RMSE", f"float {self.float_rmse:.4g} -> quantized {self.quantized_rmse:.4g}"))
        ratio = self.float_bytes / self.quantized_bytes if self.quantized_bytes else float("nan")
        size = f"float {self.float_bytes:,} B -> quantized {self.quantized_bytes:,} B ({ratio:.1f}x smaller)"
        rows.append(("Size", size))
        worst = self.worst_layer
        if worst is not None:
            rows.append(("Worst tensor", f"{worst.op} {worst.tensor}: RMSE {worst.rmse_over_scale:.2f} steps"))
        return rows

    def __repr__(self) -> str:
        return "QuantizationComparison(\n" + "".join(f"  {k}: {v}\n" for k, v in self._headline()) + ")"

    def _repr_html_(self) -> str:
        """The same static report the QuantizationReport widget falls back to (nbconvert, plain viewers)."""
        from .report import report_html

        return report_html(self)


# ---------------------------------------------------------------------------------------------------- convert


def convert(
    model: Any,
    representative_data: Any = None,
    quantization: str = "int8",
    *,
    max_samples: int = 300,
    seed: int = 0,
) -> bytes:
    """Convert a Keras model to TFLite bytes.

    model: a Keras model, a path to a `.keras`/`.h5` file, or a SavedModel directory (one input, one output).
    representative_data: samples shaped like the model input (e.g. x_train); needed by "int8" and
        "int8-float-io", which run at most `max_samples` of them (picked at random with `seed`) through the
        float model to fix each tensor's int8 scale. A generator function, as the TFLite converter takes it,
        is passed on unchanged. Ignored by the other modes.
    quantization:
        "int8"          full integer: int8 weights and activations, int8 input and output (microcontrollers)
        "int8-float-io" int8 inside, float32 input and output
        "float16"       float16 weights, float32 compute
        "dynamic"       int8 weights, float activations (dynamic range)
        "none"          float32
    Raises QuantizationError for an unknown mode, missing or mis-shaped representative data, or a model the
    converter cannot turn into the requested kind (naming the op when the converter does, or when an int8
    mode would keep an op in float).
    """
    if quantization not in QUANTIZATION_MODES:
        modes = ", ".join(repr(m) for m in QUANTIZATION_MODES)
        raise QuantizationError(f"Unknown quantization {quantization!r}: use one of {modes}.")
    if quantization in INT8_MODES and representative_data is None:
        raise QuantizationError(
            f"quantization={quantization!r} needs representative data to fix the int8 scales: "
            "pass representative_data=x_train."
        )
    if int(max_samples) < 1:
        raise QuantizationError(f"max_samples must be at least 1, got {max_samples}.")

    import tensorflow as tf

    converter, input_shape = _converter(model)
    if quantization in INT8_MODES:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative_dataset(representative_data, input_shape, max_samples, seed)
        # Only int8 builtin kernels: what TFLite Micro and CMSIS-NN run.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if quantization == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    elif quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

    content = _run_converter(converter, quantization)
    if quantization in INT8_MODES:
        _reject_float_ops(content, quantization)
    return content


def _converter(model: Any) -> tuple[Any, tuple | None]:
    """A TFLiteConverter for a Keras model, .keras/.h5 file or SavedModel directory, and the input shape."""
    import tensorflow as tf

    if isinstance(model, (str, Path)):
        path = Path(model)
        if path.is_dir():
            if not (path / "saved_model.pb").exists():
                raise QuantizationError(
                    f"{path} is a directory without saved_model.pb: pass a SavedModel directory, a .keras file "
                    "or the Keras model."
                )
            return tf.lite.TFLiteConverter.from_saved_model(str(path)), _saved_model_input_shape(path)
        model = _load_keras(path)
    if not hasattr(model, "predict"):
        raise QuantizationError(
            f"Cannot convert a {type(model).__name__}: pass a Keras model, a path to a .keras/.h5 file "
            "or a SavedModel directory."
        )
    return tf.lite.TFLiteConverter.from_keras_model(model), _keras_input_shape(model)


def _load_keras(path: Path) -> Any:
    if not path.exists():
        raise QuantizationError(f"No model at {path}: pass a Keras model, a .keras/.h5 file or a SavedModel directory.")
    if path.suffix.lower() not in KERAS_FILE_SUFFIXES:
        raise QuantizationError(
            f"{path} is not a Keras model file: pass a .keras/.h5 file, a SavedModel directory or the Keras model."
        )
    import keras

    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as error:  # a bad file can fail in many layers of Keras; the person needs the file named
        raise QuantizationError(f"Keras could not load {path}: {_first_line(error)}") from error


def _keras_input_shape(model: Any) -> tuple | None:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return None  # a subclassed model that was never built: the converter reports it
    if len(inputs) != 1:
        raise QuantizationError(f"The model has {len(inputs)} inputs; this module handles models with one input.")
    return tuple(inputs[0].shape)


def _saved_model_input_shape(path: Path) -> tuple | None:
    import tensorflow as tf

    try:
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        specs = list(signature.structured_input_signature[1].values()) or list(signature.structured_input_signature[0])
    except Exception:  # the converter gives the precise reason a SavedModel is unusable
        return None
    if len(specs) != 1:
        raise QuantizationError(f"The SavedModel has {len(specs)} inputs; this module handles models with one input.")
    return tuple(specs[0].shape)


def _sample(data: Any, max_samples: int, seed: int, what: str) -> np.ndarray:
    """At most max_samples rows of data, picked at random with a fixed seed, as float32."""
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


def _representative_dataset(
    data: Any, input_shape: tuple | None, max_samples: int, seed: int
) -> Callable[[], Iterator[list[np.ndarray]]]:
    if callable(data):
        return data  # already the converter's own generator function
    samples = _sample(data, max_samples, seed, "representative_data")
    if input_shape is not None:
        _check_sample_shape(samples.shape, input_shape, "representative_data")

    def representative_dataset() -> Iterator[list[np.ndarray]]:
        for sample in samples:
            yield [sample[np.newaxis]]  # one sample at a time, with a batch axis

    return representative_dataset


def _check_sample_shape(got: tuple, model_shape: tuple | list, what: str) -> None:
    """Raise unless got[1:] equals the model's per-sample shape (None or -1 there matches anything)."""
    expected = tuple(None if d is None or d < 0 else int(d) for d in tuple(model_shape)[1:])
    per_sample = tuple(int(d) for d in got[1:])
    if len(per_sample) == len(expected) and all(e is None or e == g for e, g in zip(expected, per_sample)):
        return
    dims = ["any" if e is None else str(e) for e in expected]
    shown = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
    hint = ""
    if len(per_sample) + 1 == len(expected) and expected[-1] == 1:
        hint = " Add the channel axis with x[..., np.newaxis]."
    raise QuantizationError(
        f"{what} has samples of shape {per_sample} but the model expects {shown} per sample "
        f"(array shape {tuple(got)}).{hint}"
    )


def _run_converter(converter: Any, quantization: str) -> bytes:
    # Keras 3 prints "Saved artifact at /tmp/..." for the temporary SavedModel the converter writes: noise in
    # a notebook, so stdout is kept for the duration.
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bytes(converter.convert())
    except QuantizationError:
        raise
    except Exception as error:  # ConverterError, or whatever the representative dataset raised during calibration
        raise QuantizationError(_converter_message(str(error), quantization)) from error


_OP_IN_MESSAGE = re.compile(r"'(tfl?)\.(\w+)' op")


def _converter_message(message: str, quantization: str) -> str:
    """One line from the converter's many: the op it names, and what to do about it."""
    match = _OP_IN_MESSAGE.search(message)
    if match is None:
        return f"Conversion to {quantization!r} failed: {_first_line(message)}"
    op = match.group(2)
    if op.startswith("TensorList"):
        return (
            f"Conversion to {quantization!r} failed at op {op}: recurrent layers (LSTM, GRU) with a loop over "
            "time have no TFLite builtin form; build them with unroll=True (short windows) or use Conv1D."
        )
    if "neither a custom op nor a flex op" in message:
        return (
            f"Conversion to {quantization!r} failed: op {op} has no TFLite builtin kernel (it would need TensorFlow "
            "'flex' ops, which microcontrollers lack); replace the layer or activation that uses it."
        )
    return f"Conversion to {quantization!r} failed at op {op}: {_first_line(message)}"


def _reject_float_ops(content: bytes, quantization: str) -> None:
    """Raise when an int8 model kept ops in float.

    With TFLITE_BUILTINS_INT8 the converter does not fail on an op without an int8 kernel (SIN, CUMSUM, ...):
    it keeps the op in float between DEQUANTIZE and QUANTIZE, which int8-only firmware cannot run.
    """
    try:
        ops = interpreter_for(content)._get_ops_details()
    except Exception:  # private API of the interpreter: without it there is nothing to check
        return
    float_ops = []
    for op in ops:
        results = [np.dtype(t).name for t in op.get("result_types", [])]
        if op["op_name"] != "DEQUANTIZE" and any(r in ("float32", "float16") for r in results):
            float_ops.append(op["op_name"])
    if float_ops:
        names = ", ".join(dict.fromkeys(float_ops))
        raise QuantizationError(
            f"Op {names} has no int8 kernel, so quantization={quantization!r} would leave it in float32: replace the "
            "layer that uses it, or use quantization='dynamic' for a host-only model."
        )


def _first_line(error: Any) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


# --------------------------------------------------------------------------------------------------- evaluate


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
    interpreter = interpreter_for(_tflite_bytes(tflite))
    outputs = _run(interpreter, x, int(batch_size))
    n, width = outputs.shape
    task, truth, _ = _read_labels(y, n, width)
    predictions = _predict(task, outputs)
    if task == "classification":
        accuracy = None if truth is None else float(np.mean(predictions == truth))
        return Evaluation(task=task, outputs=outputs, predictions=predictions, accuracy=accuracy, labels=truth)
    mae, rmse = (None, None) if truth is None else _errors(outputs, truth)
    return Evaluation(task=task, outputs=outputs, predictions=predictions, mae=mae, rmse=rmse)


def _tflite_bytes(tflite: bytes | str | Path) -> bytes:
    if isinstance(tflite, (bytes, bytearray, memoryview)):
        content, name = bytes(tflite), "The given bytes"
    elif isinstance(tflite, (str, Path)):
        path = Path(tflite)
        if not path.is_file():
            raise QuantizationError(f"No .tflite file at {path}: pass the model bytes or the path convert() wrote.")
        content, name = path.read_bytes(), str(path)
    else:
        raise QuantizationError(
            f"Cannot read a TFLite model from a {type(tflite).__name__}: pass bytes or a path to a .tflite file."
        )
    if content[4:8] != b"TFL3":
        raise QuantizationError(
            f"{name} is not a TFLite model (no TFL3 identifier at byte 4): pass what convert() returned."
        )
    return content


def interpreter_for(content: bytes, *, reference: bool = False) -> Any:
    """A LiteRT interpreter for the model. reference=True uses TFLite's reference kernels, which a
    microcontroller's kernels match (the default optimized ones may differ by an output step or two)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # older setups: TensorFlow's own (deprecated) interpreter
        import tensorflow as tf

        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    options = {"experimental_op_resolver_type": OpResolverType.BUILTIN_REF} if reference else {}
    try:
        return Interpreter(model_content=content, **options)
    except Exception as error:  # ValueError/RuntimeError from a corrupt flatbuffer or an unknown op
        raise QuantizationError(f"The TFLite interpreter cannot load this model: {_first_line(error)}") from error


def _run(interpreter: Any, x: Any, batch_size: int) -> np.ndarray:
    """Dequantized outputs, shape (n, width), running x in chunks of batch_size samples per invoke()."""
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise QuantizationError(
            f"The model has {len(inputs)} inputs and {len(outputs)} outputs; evaluate handles one of each."
        )
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
        if part.shape[0] != current:
            if fixed_batch is None:
                interpreter.resize_tensor_input(source["index"], part.shape)
            interpreter.allocate_tensors()
            current = part.shape[0]
        interpreter.set_tensor(source["index"], part)
        interpreter.invoke()
        scores = interpreter.get_tensor(target["index"])[:rows].reshape(rows, -1)
        if result is None:
            result = np.empty((n, scores.shape[1]), scores.dtype)
        result[start : start + rows] = scores
    assert result is not None
    return _dequantize(result, target)


def _model_input(x: Any, detail: dict, signature: tuple) -> np.ndarray:
    """x checked against the input tensor's shape and brought to its dtype (quantized if integer)."""
    data = np.asarray(x)
    if data.dtype.kind in "USO":
        raise QuantizationError(f"x holds {data.dtype} values: pass a numeric array shaped like the model input.")
    if data.ndim == 0 or len(data) == 0:
        raise QuantizationError("x is empty: pass at least one sample shaped like the model input.")
    _check_sample_shape(data.shape, signature, "x")
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


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.dtype(detail["dtype"]).name in _INTEGER_TENSOR_TYPES and scale:
        return (values.astype(np.float32) - zero_point) * np.float32(scale)
    return values.astype(np.float32)


def _read_labels(y: Any, n: int, width: int) -> tuple[str, np.ndarray | None, str | None]:
    """(task, truth, note): truth is class indices (classification) or targets shaped (n, width) (regression)."""
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


def _predict(task: str, outputs: np.ndarray) -> np.ndarray:
    if task == "regression":
        return outputs[:, 0] if outputs.shape[1] == 1 else outputs
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)  # one sigmoid output
    return outputs.argmax(axis=1)


def _errors(outputs: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    difference = outputs.astype(np.float64) - targets
    return float(np.mean(np.abs(difference))), float(np.sqrt(np.mean(difference**2)))


# ---------------------------------------------------------------------------------------------------- compare


def compare(
    model: Any,
    tflite: bytes | str | Path,
    x_test: Any,
    y_test: Any,
    *,
    representative_data: Any = None,
    max_debug_samples: int = 64,
    class_names: list[str] | None = None,
) -> QuantizationComparison:
    """Compare the float model with its quantized TFLite model on the same test data.

    model: the Keras model the .tflite was converted from (or its .keras/.h5 file, or SavedModel directory,
        whose float predictions then come from its float32 TFLite conversion).
    tflite: the quantized model's bytes or path. y_test: labels as `evaluate` reads them.
    float_bytes is the size of the model converted with quantization="none" (what a float build would flash).
    Per-tensor errors come from TensorFlow's QuantizationDebugger, only for int8 models: it re-quantizes the
    model with `representative_data` (pass what you converted with, e.g. x_train; default x_test), and runs
    `max_debug_samples` test samples through both the float and int8 paths of every layer.
    """
    model = _load_keras(Path(model)) if isinstance(model, (str, Path)) and not Path(model).is_dir() else model
    content = _tflite_bytes(tflite)
    quantized = evaluate(content, x_test, None)
    x = np.asarray(x_test)
    n, width = quantized.outputs.shape
    task, truth, note = _read_labels(y_test, n, width)  # bad labels fail here, before the slower conversions
    float_content = convert(model, quantization="none")
    float_outputs = _float_outputs(model, x, float_content)
    if float_outputs.shape[1] != width:
        raise QuantizationError(
            f"The model gives {float_outputs.shape[1]} outputs per sample but the .tflite gives {width}: "
            "pass the model the .tflite was converted from."
        )
    mode = detect_quantization(content)
    result = QuantizationComparison(
        task=task, n_samples=n, float_bytes=len(float_content), quantized_bytes=len(content), quantization=mode
    )
    if note:
        result.notes.append(note)

    float_predictions, quantized_predictions = _predict(task, float_outputs), _predict(task, quantized.outputs)
    if task == "classification":
        classes = 2 if width == 1 else width
        if class_names is not None and len(class_names) != classes:
            raise QuantizationError(f"class_names has {len(class_names)} names but the model has {classes} classes.")
        result.class_names = [str(name) for name in (class_names if class_names is not None else range(classes))]
        result.agreement = float(np.mean(float_predictions == quantized_predictions))
        if truth is not None:
            result.float_accuracy = float(np.mean(float_predictions == truth))
            result.quantized_accuracy = float(np.mean(quantized_predictions == truth))
            result.confusion_float = _confusion(truth, float_predictions, classes)
            result.confusion_quantized = _confusion(truth, quantized_predictions, classes)
            result.per_class_float = _recall(result.confusion_float)
            result.per_class_quantized = _recall(result.confusion_quantized)
    elif truth is not None:
        result.float_mae, result.float_rmse = _errors(float_outputs, truth)
        result.quantized_mae, result.quantized_rmse = _errors(quantized.outputs, truth)

    if mode in INT8_MODES:
        debug = _sample(x, int(max_debug_samples), 0, "x_test")
        calibration = (
            debug
            if representative_data is None
            else _sample(representative_data, int(max_debug_samples), 0, "representative_data")
        )
        try:
            result.layer_errors = measure_layer_errors(model, calibration, debug)
        except QuantizationError:
            raise
        except Exception as error:  # the debugger is experimental: the rest of the comparison still stands
            warnings.warn(
                f"Per-tensor errors unavailable, QuantizationDebugger failed: {_first_line(error)}", stacklevel=2
            )
            result.notes.append("per-tensor errors unavailable: the QuantizationDebugger failed")
        else:
            source = "x_test" if representative_data is None else "representative_data"
            result.notes.append(
                f"per-tensor errors: a copy re-quantized on {len(calibration)} samples of {source}, "
                f"measured on {len(debug)} test samples"
            )
    return result


def _float_outputs(model: Any, x: np.ndarray, float_content: bytes) -> np.ndarray:
    if hasattr(model, "predict"):
        outputs = np.asarray(model.predict(x.astype(np.float32), batch_size=256, verbose=0))
    else:  # a SavedModel directory: its float32 TFLite conversion computes the same function
        outputs = _run(interpreter_for(float_content), x, 256)
    return outputs.reshape(len(x), -1).astype(np.float32)


def _confusion(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    return np.bincount(truth * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def _recall(confusion: np.ndarray) -> list[float]:
    totals = confusion.sum(axis=1)
    return [float(confusion[k, k] / totals[k]) if totals[k] else float("nan") for k in range(len(confusion))]


def detect_quantization(tflite: bytes | str | Path) -> str:
    """Which kind of model these bytes are: one of QUANTIZATION_MODES (or "int16x8" for 16-bit activations).

    Read from the model itself: an int8 input is "int8"; a float input with a QUANTIZE op is "int8-float-io";
    float16 weights "float16"; int8 weights with float activations "dynamic". A dynamic-range model whose
    weights were all too small for the converter to quantize (under 1,024 elements) reads as "none".
    """
    interpreter = interpreter_for(_tflite_bytes(tflite))
    input_type = np.dtype(interpreter.get_input_details()[0]["dtype"]).name
    if input_type in ("int8", "uint8"):
        return "int8"
    if input_type == "int16":
        return "int16x8"
    tensor_types = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    try:
        op_names = {op["op_name"] for op in interpreter._get_ops_details()}
    except Exception:  # private API: fall back on tensor types alone
        op_names = set()
    if "QUANTIZE" in op_names:
        return "int8-float-io"  # float input quantized to int8 activations inside
    if "float16" in tensor_types:
        return "float16"
    if "int8" in tensor_types:
        return "dynamic"  # int8 weights, float activations
    return "none"


def measure_layer_errors(model: Any, representative_data: np.ndarray, debug_data: np.ndarray) -> list[LayerError]:
    """Per-tensor int8 error of `model`, worst first, measured with TensorFlow's QuantizationDebugger.

    The debugger quantizes the model (calibrated on representative_data) with a NumericVerify op after every
    quantized tensor, which subtracts the float result of the same layer (float weights, fed the dequantized
    int8 input) from the dequantized int8 one: each figure is that layer's own error, not one accumulated from
    earlier layers. rmse_over_scale = sqrt(mean squared difference over debug_data) / the tensor's scale.
    """
    import tensorflow as tf

    converter, input_shape = _converter(model)
    samples = _sample(representative_data, len(representative_data), 0, "representative_data")
    debug = _sample(debug_data, len(debug_data), 0, "x_test")
    if input_shape is not None:
        _check_sample_shape(debug.shape, input_shape, "x_test")
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative_dataset(samples, input_shape, len(samples), 0)

    def debug_dataset() -> Iterator[list[np.ndarray]]:
        yield [debug]  # one invoke for all samples: the metrics are means over every element anyway

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice, used inside the debugger
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=debug_dataset)
        debugger.run()
    # layer_statistics_dump is the debugger's public way to pair each metric with its op name and scale.
    table = io.StringIO()
    debugger.layer_statistics_dump(table)
    table.seek(0)
    errors = []
    for row in csv.DictReader(table):
        scale = float(row["scale"])
        mse = float(row["mean_squared_error"])
        ratio = math.sqrt(mse) / scale if scale > 0 else float("inf")
        errors.append(
            LayerError(
                tensor=row["tensor_name"],
                op=row["op_name"],
                rmse_over_scale=ratio,
                scale=scale,
                num_elements=int(round(float(row["num_elements"]) / len(debug))),
            )
        )
    errors.sort(key=lambda e: (math.isnan(e.rmse_over_scale), -e.rmse_over_scale))
    return errors
