"""How far each int8 tensor is from the float model's, measured with TensorFlow's QuantizationDebugger."""
from __future__ import annotations

import csv
import io
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..native_logs import native_output_kept
from .convert import converter_for, representative_dataset
from .samples import check_sample_shape, sample_rows


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
    layer: str = ""  # the Keras layer this tensor belongs to, as model.summary() names it ("" when not found)


def scope_of(tensor: str) -> str:
    """The name scope a TFLite tensor's name gives its layer: 'sequential_1/dense_1/MatMul;...' -> 'dense_1'.

    TFLite joins the names of fused ops with ';' and puts the model's scope first; the traced graph's scopes are
    made unique by TensorFlow ('dense' traced a second time is 'dense_1'), so this is not yet the Keras name."""
    parts = [part for part in tensor.split(";")[0].split("/") if part]
    if len(parts) >= 3:
        return "/".join(parts[1:-1])
    return parts[0] if len(parts) == 2 else ""


def keras_layer_names(model: Any, errors: list[LayerError]) -> list[str]:
    """The Keras layer (as `model.summary()` names it) of each tensor in `errors`, taken in the model's op order.

    The traced graph's scopes carry TensorFlow's uniqueness suffixes ('dense' -> 'dense_1', 'dense_1' ->
    'dense_1_2'), so a scope can read like another layer's name. Each scope is matched to the first layer, from
    the last one matched onwards, whose name it is (or is with one '_N' suffix) and whose output has as many values
    per sample; the model's output tensor ('StatefulPartitionedCall:0') belongs to the layer the model ends with.
    "" where nothing matches (a model whose layers cannot be listed)."""
    layers = [(layer.name, _values_per_sample(layer)) for layer in getattr(model, "layers", [])
              if type(layer).__name__ != "InputLayer"]
    if not layers:
        return ["" for _ in errors]
    # Scopes with a suffix on the model's own scope ('sequential_1') mean every layer scope was made unique too.
    top = errors[0].tensor.split("/")[0] if errors and "/" in errors[0].tensor else ""
    suffixed = bool(re.fullmatch(re.escape(str(getattr(model, "name", ""))) + r"_\d+", top))
    names, start = [], 0
    for error in errors:
        scope = scope_of(error.tensor).split("/")[0]
        found = _match(scope, error.num_elements, layers, start, suffixed)
        if found is None and not scope:  # the model's output tensor: the layer the model ends with
            found = next((index for index in range(len(layers) - 1, start - 1, -1)
                          if layers[index][1] in (None, error.num_elements)), None)
        if found is not None:
            start = found
        names.append(layers[found][0] if found is not None else "")
    return names


def _match(scope: str, values: int, layers: list[tuple[str, int | None]], start: int, suffixed: bool) -> int | None:
    exact = [index for index in range(start, len(layers)) if layers[index][0] == scope]
    with_suffix = [index for index in range(start, len(layers))
                   if re.fullmatch(re.escape(layers[index][0]) + r"_\d+", scope)]
    for candidates in ((with_suffix, exact) if suffixed else (exact, with_suffix)):
        fitting = [index for index in candidates if layers[index][1] in (None, values)]
        if fitting:
            return fitting[0]
    return None


def _values_per_sample(layer: Any) -> int | None:
    """Values per sample of the layer's output (None when Keras cannot say, e.g. a layer never called)."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return None
    dims = list(shape)[1:]
    return math.prod(int(dim) for dim in dims) if all(dim is not None for dim in dims) else None


def measure_layer_errors(model: Any, representative_data: np.ndarray, debug_data: np.ndarray) -> list[LayerError]:
    """Per-tensor int8 error of `model`, worst first, measured with TensorFlow's QuantizationDebugger.

    The debugger quantizes the model (calibrated on representative_data) with a NumericVerify op after every
    quantized tensor, which subtracts the float result of the same layer (float weights, fed the dequantized
    int8 input) from the dequantized int8 one: each figure is that layer's own error, not one accumulated from
    earlier layers. rmse_over_scale = sqrt(mean squared difference over debug_data) / the tensor's scale.
    """
    import tensorflow as tf

    converter, input_shape = converter_for(model)
    samples = sample_rows(representative_data, len(representative_data), 0, "representative_data")
    debug = sample_rows(debug_data, len(debug_data), 0, "x_test")
    if input_shape is not None:
        check_sample_shape(debug.shape, input_shape, "x_test")
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(samples, input_shape, len(samples), 0)

    def debug_dataset() -> Iterator[list[np.ndarray]]:
        yield [debug]  # one invoke for all samples: the metrics are means over every element anyway

    with native_output_kept(), warnings.catch_warnings():
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
    for error, layer in zip(errors, keras_layer_names(model, errors)):  # the dump lists tensors in op order
        error.layer = layer
    errors.sort(key=lambda e: (math.isnan(e.rmse_over_scale), -e.rmse_over_scale))
    return errors
