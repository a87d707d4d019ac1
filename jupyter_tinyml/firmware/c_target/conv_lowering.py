"""CONV_2D and FULLY_CONNECTED lowered to C: kernels/tinyml_conv.c."""
from __future__ import annotations

import numpy as np

from ...errors import QuantizationError
from . import fixed_point
from .op_context import (ConvGeometry, Lowerer, OpContext, bias_array, check_int8, conv_geometry,
                         per_channel_multipliers, size)


def emit_convolution(op: OpContext, geometry: ConvGeometry, kernel: str) -> None:
    """The generic convolution call: filter, bias, per-channel multipliers and the shared parameters."""
    emit, prefix = op.emit, op.prefix
    emit.array("int8_t", f"{prefix}_filter", geometry.filter.values())
    bias_name = bias_array(emit, prefix, geometry.bias)
    per_channel_multipliers(emit, prefix, geometry.data, geometry.filter, geometry.output, geometry.fields["out_c"])
    emit.params("tinyml_conv_params", f"{prefix}_params", geometry.fields)
    emit.calls.append(f"  {kernel}(&{prefix}_params, {op.input_pointers[0]}, {prefix}_filter, {bias_name}, "
                      f"{prefix}_multiplier, {prefix}_shift, {op.output_pointer});")


def lower_conv(op: OpContext) -> None:
    emit_convolution(op, conv_geometry(op, depthwise=False), "tinyml_conv_2d")


def lower_fully_connected(op: OpContext) -> None:
    data, filt, bias, out = op.tensor(0), op.tensor(1), op.optional(2), op.output
    check_int8("FULLY_CONNECTED", data, filt, out)
    if filt.data is None or len(filt.shape) != 2:
        raise QuantizationError("FULLY_CONNECTED needs constant 2-D int8 weights; convert with quantization='int8'")
    out_n, in_n = filt.shape
    per_channel = len(filt.scales) > 1
    if per_channel:
        pairs = [fixed_point.quantize_multiplier(data.scale * s / out.scale) for s in filt.scales]
    else:
        # fully_connected.cc GetQuantizedConvolutionMultipler: the float32 product of the two scales, then double.
        product = float(np.float32(data.scale) * np.float32(filt.scale))
        pairs = [fixed_point.quantize_multiplier(product / out.scale)]
    act_min, act_max = fixed_point.activation_range(int(op.option("fusedActivationFunction")), out.scale,
                                                    out.zero_point)
    emit, prefix = op.emit, op.prefix
    emit.array("int8_t", f"{prefix}_filter", filt.values())
    bias_name = bias_array(emit, prefix, bias)
    emit.array("int32_t", f"{prefix}_multiplier", [m for m, _ in pairs])
    emit.array("int32_t", f"{prefix}_shift", [s for _, s in pairs])
    emit.params("tinyml_fc_params", f"{prefix}_params", {
        "batches": size(data) // in_n, "in_n": in_n, "out_n": out_n, "input_offset": -data.zero_point,
        "filter_offset": -filt.zero_point, "output_offset": out.zero_point, "per_channel": int(per_channel),
        "act_min": act_min, "act_max": act_max})
    emit.calls.append(f"  tinyml_fully_connected(&{prefix}_params, {op.input_pointers[0]}, {prefix}_filter, "
                      f"{bias_name}, {prefix}_multiplier, {prefix}_shift, {op.output_pointer});")


LOWERERS: dict[str, Lowerer] = {"CONV_2D": lower_conv, "FULLY_CONNECTED": lower_fully_connected}
