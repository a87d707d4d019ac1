"""TRANSPOSE_CONV (Conv2DTranspose) lowered to C: kernels/tinyml_transpose_conv.c. transpose_conv.cc's Prepare:
the padding from the output size (ComputePaddingHeightWidth with the output as the "input" of the forward
convolution), per-channel multipliers as a convolution's."""
from __future__ import annotations

from ...errors import QuantizationError
from . import fixed_point
from .op_context import (PADDING_SAME, Lowerer, OpContext, bias_array, check_int8, hwc, per_channel_multipliers)


def lower_transpose_conv(op: OpContext) -> None:
    filt, data, bias, out = op.tensor(1), op.tensor(2), op.optional(3), op.output
    check_int8("TRANSPOSE_CONV", data, filt, out)
    if filt.data is None or len(filt.shape) != 4 or any(z != 0 for z in filt.zero_points):
        raise QuantizationError("TRANSPOSE_CONV needs constant symmetric int8 weights — convert with "
                                "quantization='int8'")
    in_h, in_w, in_c = hwc(data.shape, "TRANSPOSE_CONV input")
    out_h, out_w, out_c = hwc(out.shape, "TRANSPOSE_CONV output")
    filter_c, filter_h, filter_w, filter_in = filt.shape
    if filter_c != out_c or filter_in != in_c:
        raise QuantizationError(f"TRANSPOSE_CONV weights {filt.shape} do not fit input {data.shape} and output "
                                f"{out.shape}")
    stride_h, stride_w = int(op.option("strideH")), int(op.option("strideW"))
    same = int(op.option("padding")) == PADDING_SAME
    pad_h = fixed_point.compute_padding(stride_h, out_h, filter_h,
                                        fixed_point.output_size(same, out_h, filter_h, stride_h))
    pad_w = fixed_point.compute_padding(stride_w, out_w, filter_w,
                                        fixed_point.output_size(same, out_w, filter_w, stride_w))
    activation = int(op.operator.options.get("fusedActivationFunction", 0))
    act_min, act_max = fixed_point.activation_range(activation, out.scale, out.zero_point)
    emit, prefix = op.emit, op.prefix
    emit.array("int8_t", f"{prefix}_filter", filt.values())
    bias_name = bias_array(emit, prefix, bias)
    per_channel_multipliers(emit, prefix, data, filt, out, out_c)
    emit.params("tinyml_transpose_conv_params", f"{prefix}_params", {
        "in_h": in_h, "in_w": in_w, "in_c": in_c, "out_h": out_h, "out_w": out_w, "out_c": out_c,
        "filter_h": filter_h, "filter_w": filter_w, "stride_h": stride_h, "stride_w": stride_w, "pad_h": pad_h,
        "pad_w": pad_w, "input_offset": -data.zero_point, "output_offset": out.zero_point,
        "act_min": act_min, "act_max": act_max})
    emit.calls.append(f"  tinyml_transpose_conv(&{prefix}_params, {op.input_pointers[2]}, {prefix}_filter, "
                      f"{bias_name}, {prefix}_multiplier, {prefix}_shift, {op.output_pointer});")


LOWERERS: dict[str, Lowerer] = {"TRANSPOSE_CONV": lower_transpose_conv}
