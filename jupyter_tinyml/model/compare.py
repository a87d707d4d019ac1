"""The float model against its quantized TFLite model on the same test data: what did quantization cost?

    report = compare(model, tflite, x_test, y_test, representative_data=x_train)

The result draws itself as the quantization report (model/report.py); this module imports the report, the
report reads the result by its fields and never imports this module.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import QuantizationError
from .convert import INT8_MODES, convert, load_keras
from .evaluate import errors, evaluate, interpreter_for, predict, read_labels, run_batches
from .layer_errors import LayerError, measure_layer_errors
from .report import report_html
from .samples import sample_rows
from .tflite import model_bytes, read

_FLOAT_BATCH = 256


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
            else {"tensor": worst.tensor, "layer": worst.layer, "op": worst.op,
                  "rmse_over_scale": worst.rmse_over_scale},
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
            where = (f"{worst.layer} ({worst.op}, TFLite {worst.tensor})" if worst.layer
                     else f"{worst.op} {worst.tensor}")
            rows.append(("Worst layer", f"{where}: RMSE {worst.rmse_over_scale:.2f} steps"))
        return rows

    def __repr__(self) -> str:
        return "QuantizationComparison(\n" + "".join(f"  {k}: {v}\n" for k, v in self._headline()) + ")"

    def _repr_html_(self) -> str:
        """The same static report the QuantizationReport widget shows (nbconvert, plain viewers)."""
        return report_html(self)


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
    model = load_keras(Path(model)) if isinstance(model, (str, Path)) and not Path(model).is_dir() else model
    content = model_bytes(tflite)
    quantized = evaluate(content, x_test, None)
    x = np.asarray(x_test)
    n, width = quantized.outputs.shape
    task, truth, note = read_labels(y_test, n, width)  # bad labels fail here, before the slower conversions
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

    float_predictions, quantized_predictions = predict(task, float_outputs), predict(task, quantized.outputs)
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
        result.float_mae, result.float_rmse = errors(float_outputs, truth)
        result.quantized_mae, result.quantized_rmse = errors(quantized.outputs, truth)

    if mode in INT8_MODES:
        _add_layer_errors(result, model, x, representative_data, int(max_debug_samples))
    return result


def _add_layer_errors(result: QuantizationComparison, model: Any, x: np.ndarray, representative_data: Any,
                      max_debug_samples: int) -> None:
    debug = sample_rows(x, max_debug_samples, 0, "x_test")
    calibration = (debug if representative_data is None
                   else sample_rows(representative_data, max_debug_samples, 0, "representative_data"))
    try:
        result.layer_errors = measure_layer_errors(model, calibration, debug)
    except QuantizationError:
        raise
    except Exception as error:  # the debugger is experimental: the rest of the comparison still stands
        warnings.warn(f"Per-tensor errors unavailable, QuantizationDebugger failed: "
                      f"{QuantizationError.first_line(error)}", stacklevel=3)
        result.notes.append("per-tensor errors unavailable: the QuantizationDebugger failed")
    else:
        source = "x_test" if representative_data is None else "representative_data"
        result.notes.append(f"per-layer error: TensorFlow's QuantizationDebugger compared every int8 tensor with its "
                            f"float counterpart in a copy re-quantized on {len(calibration)} samples of {source}, "
                            f"measured on {len(debug)} test samples")


def _float_outputs(model: Any, x: np.ndarray, float_content: bytes) -> np.ndarray:
    if hasattr(model, "predict"):
        outputs = np.asarray(model.predict(x.astype(np.float32), batch_size=_FLOAT_BATCH, verbose=0))
    else:  # a SavedModel directory: its float32 TFLite conversion computes the same function
        outputs = run_batches(interpreter_for(float_content), x, _FLOAT_BATCH)
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
    graph = read(model_bytes(tflite))
    input_type = graph.inputs[0].dtype
    if input_type in ("int8", "uint8"):
        return "int8"
    if input_type == "int16":
        return "int16x8"
    tensor_types = {tensor.dtype for tensor in graph.tensors}
    if "QUANTIZE" in {operator.name for operator in graph.operators}:
        return "int8-float-io"  # float input quantized to int8 activations inside
    if "float16" in tensor_types:
        return "float16"
    if "int8" in tensor_types:
        return "dynamic"  # int8 weights, float activations
    return "none"
