"""CONV_2D and FULLY_CONNECTED lowered to C: kernels/tinyml_conv.c.

Decided here, at generation, so the device does not: the input offset folded into the bias (the kernels then
multiply raw int8 values, see tinyml_conv.h), every TFLite Prepare figure (per-channel multipliers, padding with
dilation, activation bounds), and whether a convolution reads its input in place (1x1, stride 1) or needs the
im2col scratch buffer, which every convolution of the model shares.
"""
from __future__ import annotations

import numpy as np

from ...errors import QuantizationError
from . import fixed_point
from .op_context import (ConvGeometry, Emitter, Lowerer, OpContext, bias_array, check_int8, hwc,
                         per_channel_multipliers, size)

SCRATCH = "tinyml_conv_scratch"


def emit_convolution(op: OpContext, geometry: ConvGeometry, kernel: str) -> None:
    """The generic convolution call (tinyml_conv_params): filter, bias, per-channel multipliers and the shared
    parameters. DEPTHWISE_CONV_2D's lowering uses it; CONV_2D has its own, lower_conv."""
    emit, prefix = op.emit, op.prefix
    emit.array("int8_t", f"{prefix}_filter", geometry.filter.values())
    bias_name = bias_array(emit, prefix, geometry.bias)
    per_channel_multipliers(emit, prefix, geometry.data, geometry.filter, geometry.output, geometry.fields["out_c"])
    emit.params("tinyml_conv_params", f"{prefix}_params", geometry.fields)
    emit.calls.append(f"  {kernel}(&{prefix}_params, {op.input_pointers[0]}, {prefix}_filter, {bias_name}, "
                      f"{prefix}_multiplier, {prefix}_shift, {op.output_pointer});")


def folded_bias(bias: np.ndarray | None, weights: np.ndarray, input_offset: int) -> np.ndarray:
    """bias + input_offset * (sum of each output's weights), wrapped to int32 as the device's int32 adds wrap:
    sum((x + offset) * w) + bias == sum(x * w) + this, so the kernels' inner loops skip the offset."""
    rows = weights.reshape(weights.shape[0], -1).astype(np.int64)
    folded = rows.sum(axis=1) * int(input_offset)
    if bias is not None:
        folded = folded + bias.astype(np.int64).reshape(-1)
    return ((folded + 2**31) % 2**32 - 2**31).astype(np.int64)


def shared_scratch(emit: Emitter, size_bytes: int) -> str:
    """The im2col buffer every convolution shares (they run one at a time), sized for the largest: one static
    array, its declaration rewritten when a larger convolution comes along."""
    start = f"static int8_t {SCRATCH}["
    for i, line in enumerate(emit.constants):
        if line.startswith(start):
            if int(line[len(start):line.index("]")]) < size_bytes:
                emit.constants[i] = f"{start}{size_bytes}];"
            return SCRATCH
    emit.constants.append(f"{start}{size_bytes}];")
    return SCRATCH


SCRATCH_BUDGET = 1024  # bytes of im2col rows worth holding: past a few rows each filter's setup is amortised


def scratch_rows(depth: int, pixels: int) -> int:
    """How many im2col patches of `depth` bytes a convolution gathers at once: at least 2 (the kernel's row pair),
    more while they fit SCRATCH_BUDGET, so each filter pair's bias and scales load once per batch of pixels; an
    even count, as an odd batch ends with a pair that recomputes a row (3 rows cost 4)."""
    return min(pixels, max(2, SCRATCH_BUDGET // depth // 2 * 2))


def emit_both_layouts(emit: Emitter, name: str, weights: np.ndarray) -> None:
    """FC weights interleaved for the DSP kernel and in plain rows for the others, one of them compiled
    (`#if TINYML_FC_INTERLEAVED`, tinyml_conv.h): flash holds one copy, so it is counted once."""
    emit.constants.append("#if TINYML_FC_INTERLEAVED")
    emit.array("int8_t", name, interleave_rows(weights))
    emit.constants.append("#else")
    emit.array("int8_t", name, weights)
    emit.constants.append("#endif")
    emit.weights_bytes -= weights.size


def interleave_rows(weights: np.ndarray) -> np.ndarray:
    """FC weights [n][k] in the order fc_row_interleaved reads them: per group of 4 rows, 4 columns of each row in
    turn (one pointer then walks 4 filters), the group's last k % 4 columns row after row; the n % 4 last rows
    follow whole. A permutation, so the flash cost is unchanged."""
    n, k = weights.shape
    groups, k4 = n // 4, k // 4 * 4
    if groups == 0:
        return weights.reshape(-1)
    quads = weights[:groups * 4].reshape(groups, 4, k)
    main = quads[:, :, :k4].reshape(groups, 4, k4 // 4, 4).transpose(0, 2, 1, 3).reshape(groups, -1)
    tail = quads[:, :, k4:].reshape(groups, -1)
    return np.concatenate([np.concatenate([main, tail], axis=1).reshape(-1), weights[groups * 4:].reshape(-1)])


def right_shifts(pairs: list[tuple[int, int]]) -> int:
    """1 when every shift is <= -1 (every multiplier below 1/2, as in every MLPerf Tiny model): the kernels then
    requantize with one 64-bit sum and a shift (tinyml_conv.c right_shift_requantize) instead of the general form."""
    return int(all(shift <= -1 for _, shift in pairs))


def _effective(filter_size: int, dilation: int) -> int:
    """The span of a dilated filter, as TFLite's ComputePaddingHeightWidth uses it."""
    return (filter_size - 1) * dilation + 1


def lower_conv(op: OpContext) -> None:
    """CONV_2D with any stride, padding and dilation (TFLite's reference conv.h, bit-exact)."""
    data, filt, bias, out = op.tensor(0), op.tensor(1), op.optional(2), op.output
    check_int8("CONV_2D", data, filt, out)
    if filt.data is None or any(z != 0 for z in filt.zero_points):
        raise QuantizationError("CONV_2D needs constant, symmetric int8 weights; convert with quantization='int8'")
    in_h, in_w, in_c = hwc(data.shape, "CONV_2D input")
    out_h, out_w, out_c = hwc(out.shape, "CONV_2D output")
    filter_h, filter_w = filt.shape[1], filt.shape[2]
    if filt.shape[3] != in_c:
        raise QuantizationError(f"CONV_2D with groups (filter depth {filt.shape[3]}, input {in_c}) is not "
                                "supported — use groups=1 in the Conv2D layer")
    dilation_h = max(int(op.option("dilationHFactor")), 1)
    dilation_w = max(int(op.option("dilationWFactor")), 1)
    span_h, span_w = _effective(filter_h, dilation_h), _effective(filter_w, dilation_w)
    same = op.option("padding") == 0  # schema Padding.SAME
    stride_h, stride_w = int(op.option("strideH")), int(op.option("strideW"))
    if (fixed_point.output_size(same, in_h, span_h, stride_h),
            fixed_point.output_size(same, in_w, span_w, stride_w)) != (out_h, out_w):
        raise QuantizationError(f"CONV_2D output shape {out.shape} does not match its padding and strides")
    pad_h = fixed_point.compute_padding(stride_h, in_h, span_h, out_h)
    pad_w = fixed_point.compute_padding(stride_w, in_w, span_w, out_w)
    act_min, act_max = fixed_point.activation_range(int(op.option("fusedActivationFunction")), out.scale,
                                                    out.zero_point)
    emit, prefix = op.emit, op.prefix
    weights = filt.values()
    emit.array("int8_t", f"{prefix}_filter", weights)
    emit.array("int32_t", f"{prefix}_bias", folded_bias(
        bias.values() if bias is not None and bias.data is not None else None, weights, -data.zero_point))
    # conv.cc PopulateConvolutionQuantizationParams: double(in) * double(filter[c]) / double(out) per channel.
    pairs = [fixed_point.quantize_multiplier(data.scale * (filt.scales[c] if len(filt.scales) > 1 else filt.scale)
                                             / out.scale) for c in range(out_c)]
    emit.array("int32_t", f"{prefix}_multiplier", [m for m, _ in pairs])
    emit.array("int32_t", f"{prefix}_shift", [s for _, s in pairs])
    in_place = filter_h == filter_w == stride_h == stride_w == 1 and pad_h == pad_w == 0
    depth = filter_h * filter_w * in_c
    rows = scratch_rows(depth, out_h * out_w)
    emit.params("tinyml_conv2d_params", f"{prefix}_params", {
        "in_h": in_h, "in_w": in_w, "in_c": in_c, "out_h": out_h, "out_w": out_w, "out_c": out_c,
        "filter_h": filter_h, "filter_w": filter_w, "stride_h": stride_h, "stride_w": stride_w,
        "dilation_h": dilation_h, "dilation_w": dilation_w, "pad_h": pad_h, "pad_w": pad_w,
        "input_zero_point": data.zero_point, "output_offset": out.zero_point, "act_min": act_min,
        "act_max": act_max, "right_shifts": right_shifts(pairs), "scratch_rows": rows})
    scratch = "0" if in_place else shared_scratch(emit, rows * depth)
    emit.calls.append(f"  tinyml_conv_2d(&{prefix}_params, {op.input_pointers[0]}, {prefix}_filter, {prefix}_bias, "
                      f"{prefix}_multiplier, {prefix}_shift, {op.output_pointer}, {scratch});")


def lower_fully_connected(op: OpContext) -> None:
    """FULLY_CONNECTED on any input whose size is a multiple of the weights' depth (Dense on N x T x C too):
    each row of in_n values is one batch."""
    data, filt, bias, out = op.tensor(0), op.tensor(1), op.optional(2), op.output
    check_int8("FULLY_CONNECTED", data, filt, out)
    if filt.data is None or len(filt.shape) != 2:
        raise QuantizationError("FULLY_CONNECTED needs constant 2-D int8 weights; convert with quantization='int8'")
    out_n, in_n = filt.shape
    if size(data) % in_n or size(out) != size(data) // in_n * out_n:
        raise QuantizationError(f"FULLY_CONNECTED on {data.shape} with {in_n}-deep weights gives {out.shape}, "
                                "which TFLite would not — convert the model again")
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
    weights = filt.values()
    batches = size(data) // in_n
    # One input row with symmetric weights (a Dense layer on one sample): on a DSP core tinyml_conv.c's
    # fc_row_interleaved reads the weights interleaved by 4 rows; elsewhere (the host) plain rows vectorise.
    interleaved = batches == 1 and filt.zero_point == 0
    if interleaved:
        emit_both_layouts(emit, f"{prefix}_filter", weights)
    else:
        emit.array("int8_t", f"{prefix}_filter", weights)
    model_bias = bias.values() if bias is not None and bias.data is not None else None
    if filt.zero_point == 0:
        bias_name = emit.array("int32_t", f"{prefix}_bias", folded_bias(model_bias, weights, -data.zero_point))
    else:
        bias_name = bias_array(emit, prefix, bias)
    emit.array("int32_t", f"{prefix}_multiplier", [m for m, _ in pairs])
    emit.array("int32_t", f"{prefix}_shift", [s for _, s in pairs])
    emit.params("tinyml_fc_params", f"{prefix}_params", {
        "batches": batches, "in_n": in_n, "out_n": out_n, "input_offset": -data.zero_point,
        "filter_offset": -filt.zero_point, "output_offset": out.zero_point, "per_channel": int(per_channel),
        "act_min": act_min, "act_max": act_max, "right_shifts": right_shifts(pairs), "interleaved": int(interleaved)})
    emit.calls.append(f"  tinyml_fully_connected(&{prefix}_params, {op.input_pointers[0]}, {prefix}_filter, "
                      f"{bias_name}, {prefix}_multiplier, {prefix}_shift, {op.output_pointer});")


LOWERERS: dict[str, Lowerer] = {"CONV_2D": lower_conv, "FULLY_CONNECTED": lower_fully_connected}
