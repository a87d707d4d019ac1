"""How far each int8 tensor is from the float model's, measured with TensorFlow's QuantizationDebugger."""
from __future__ import annotations

import contextlib
import csv
import io
import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

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
