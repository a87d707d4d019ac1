"""DEPTHWISE_CONV_2D and the pooling ops lowered to C: kernels/tinyml_depthwise.c (the general kernel, pools) and
kernels/tinyml_depthwise_dm1.{c,h} (depth multiplier 1, which DS-CNN and MobileNet use, its constants packed here)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import fixed_point
from .conv_lowering import emit_convolution
from .op_context import ConvGeometry, Lowerer, OpContext, check_int8, conv_geometry, hwc, per_channel_values

# tinyml_depthwise_dm1.h takes 4 channels at a time.
_GROUP = 4


def _as_int32(words: np.ndarray) -> np.ndarray:
    return np.where(words >= 1 << 31, words - (1 << 32), words)


# tinyml_requantize_right's domain (tinyml_fixed_point.h): right shifts 1..22, accumulators within 2^29.
_MAX_RIGHT_SHIFT = 22
_MAX_ACCUMULATOR = 1 << 29


def _addend(shift: int, output_offset: int) -> int:
    """tinyml_right_shift_addend(-shift, output_offset) for a negative shift, else 0 (unused)."""
    return (1 << (-shift - 1)) + output_offset * (1 << -shift) if shift < 0 else 0


def pack_depthwise_stream(weights: np.ndarray, bias: np.ndarray, multipliers: np.ndarray, shifts: np.ndarray,
                          output_offset: int) -> np.ndarray:
    """A depth-multiplier-1 op's constants as the one int32 stream tinyml_depthwise_dm1.h walks: per full group of 4
    channels, the weights per tap as [w0 | w2] and [w1 | w3] (int16 halves, low first: the order in which SXTAB16
    unpacks 4 input bytes, so the Cortex-M4 never unpacks a weight), then the 4 biases, multipliers, right shifts
    (-shift) and addends (tinyml_right_shift_addend with the output offset); then per leftover channel its weights,
    bias, multiplier, right shift and addend. Packed here because a code generator knows the weights before the
    device runs; one pointer then reaches every constant of a channel group.

    weights: [taps, channels] int8; bias, multipliers, shifts: [channels]."""
    taps, channels = weights.shape
    groups = channels // _GROUP
    w = weights.astype(np.int64)
    addends = [_addend(int(s), output_offset) for s in shifts]
    per_channel = np.stack([np.asarray(bias, dtype=np.int64), np.asarray(multipliers, dtype=np.int64),
                            -np.asarray(shifts, dtype=np.int64), np.asarray(addends, dtype=np.int64)])
    rows = len(per_channel)
    full = w[:, :groups * _GROUP].reshape(taps, groups, _GROUP).transpose(1, 0, 2)  # [group, tap, 4]
    pairs = np.stack([full[..., 0] & 0xFFFF | (full[..., 2] & 0xFFFF) << 16,
                      full[..., 1] & 0xFFFF | (full[..., 3] & 0xFFFF) << 16], axis=-1).reshape(groups, 2 * taps)
    params = (per_channel[:, :groups * _GROUP].reshape(rows, groups, _GROUP).transpose(1, 0, 2)
              .reshape(groups, rows * _GROUP))
    leftover = np.concatenate([w[:, groups * _GROUP:].T, per_channel[:, groups * _GROUP:].T], axis=1)
    return _as_int32(np.concatenate([np.concatenate([pairs, params], axis=1).reshape(-1), leftover.reshape(-1)]))


def right_shifts_only(weights: np.ndarray, bias: np.ndarray, shifts: Sequence[int]) -> bool:
    """Whether tinyml_requantize_right is exact for every output of the op: every shift in -22..-1, and every
    accumulator (|bias| + the sum of |weight| * 255 over the taps) within 2^29."""
    bound = np.abs(np.asarray(bias, dtype=np.int64)) + 255 * np.abs(weights.astype(np.int64)).sum(axis=0)
    return all(-_MAX_RIGHT_SHIFT <= s < 0 for s in shifts) and int(bound.max(initial=0)) < _MAX_ACCUMULATOR


# At most this many clipped-window shapes get their own unrolled copy in an op's border function (each is about
# 300 bytes of code); a DS-CNN or MobileNet layer has 3 to 8. Only ops whose clipped windows are at least this share
# of the output get them.
_MAX_BORDER_SHAPES = 9
_BORDER_SHARE = 0.2


def _mask(position: int, fields: dict[str, int], axis: str) -> int:
    """The bit mask of a 3-tap window's valid taps at output `position` along axis "h" or "w" (0: none valid)."""
    start = position * fields[f"stride_{axis}"] - fields[f"pad_{axis}"]
    return sum(1 << t for t in range(3) if 0 <= start + t < fields[f"in_{axis}"])


def _valid_taps(axis: str, fields: dict[str, int]) -> set[int]:
    return {_mask(o, fields, axis) for o in range(fields[f"out_{axis}"])}


def border_shapes(fields: dict[str, int]) -> list[tuple[int, int]]:
    """The (rows, cols) valid-tap masks of the op's clipped 3x3 windows, the whole window (7, 7) and the empty ones
    excepted: the pairs the generated border function unrolls — when clipped windows are at least a fifth of the
    output (DS-CNN's 5-pixel-wide maps: nearly half), not for a large map's thin border, where the code would cost
    more flash than it saves time."""
    rows, cols = _valid_taps("h", fields), _valid_taps("w", fields)
    full_rows = sum(1 for o in range(fields["out_h"]) if _mask(o, fields, "h") == 7)
    full_cols = sum(1 for o in range(fields["out_w"]) if _mask(o, fields, "w") == 7)
    if full_rows * full_cols > (1 - _BORDER_SHARE) * fields["out_h"] * fields["out_w"]:
        return []
    return sorted((r, c) for r in rows - {0} for c in cols - {0} if (r, c) != (7, 7))[:_MAX_BORDER_SHAPES]


def _generated_functions(prefix: str, f: dict[str, int], right_only: int) -> str:
    """A 3x3 op's own C functions (tinyml_dw_run_fn, tinyml_dw_window_fn): tinyml_dw3x3_run and tinyml_dw3x3_window
    with the op's shape and offsets as literals, which the compiler specialises; the border function unrolls each
    clipped window shape of border_shapes in a switch, any other takes the masked form."""
    channels = f["out_c"]
    shape = f"{prefix}_stream, {channels}, {f['in_w'] * channels}L"
    offsets = f"{right_only}, {f['input_offset']}, {f['output_offset']}, {f['act_min']}, {f['act_max']}"
    window = f"{shape}, {offsets});"
    cases = "".join(f"    case {r << 3 | c}: tinyml_dw3x3_window(input, base, out, {r}u, {c}u, {window} return;\n"
                    for r, c in border_shapes(f))
    return (f"/* {prefix}'s 3x3 windows, whole and clipped, with its shape as literals (tinyml_depthwise_dm1.h). */\n"
            f"TINYML_DW_GENERATED void {prefix}_interior(const int8_t *in, int8_t *out, int count) {{\n"
            f"  tinyml_dw3x3_run(in, out, count, {shape}, {f['stride_w'] * channels}L, {offsets});\n}}\n"
            f"TINYML_DW_GENERATED void {prefix}_border(const int8_t *input, long base, int8_t *out, unsigned rows, "
            f"unsigned cols) {{\n"
            f"  switch (rows << 3 | cols) {{  /* each clipped shape this op has, unrolled */\n{cases}"
            f"    default: tinyml_dw3x3_window(input, base, out, rows, cols, {window}\n  }}\n}}")


def _emit_depthwise_dm1(op: OpContext, geometry: ConvGeometry) -> None:
    """The stream, the parameters, for a 3x3 filter the op's own functions, and the call."""
    emit, prefix, f = op.emit, op.prefix, geometry.fields
    channels, taps = f["out_c"], f["filter_h"] * f["filter_w"]
    weights = np.asarray(geometry.filter.values()).reshape(taps, channels)
    bias = (np.asarray(geometry.bias.values()).reshape(-1) if geometry.bias is not None and geometry.bias.data
            is not None else np.zeros(channels, dtype=np.int64))
    multipliers, shifts = per_channel_values(geometry.data, geometry.filter, geometry.output, geometry.fields["out_c"])
    emit.array("int32_t", f"{prefix}_stream", pack_depthwise_stream(weights, bias, np.array(multipliers),
                                                                    np.array(shifts), f["output_offset"]))
    emit.params("tinyml_conv_params", f"{prefix}_params", f)
    functions = "0, 0"
    if (f["filter_h"], f["filter_w"]) == (3, 3):
        # Functions in the constants' list: the generated source's one place before tinyml_invoke.
        emit.constants.append(_generated_functions(prefix, f, int(right_shifts_only(weights, bias, shifts))))
        functions = f"{prefix}_interior, {prefix}_border"
    emit.calls.append(f"  tinyml_depthwise_conv_dm1(&{prefix}_params, {op.input_pointers[0]}, {prefix}_stream, "
                      f"{op.output_pointer}, {functions});")


def lower_depthwise(op: OpContext) -> None:
    geometry = conv_geometry(op, depthwise=True)
    if geometry.fields["depth_multiplier"] == 1:
        _emit_depthwise_dm1(op, geometry)
    else:
        emit_convolution(op, geometry, "tinyml_depthwise_conv_2d")


def _pool(kernel: str, name: str) -> Lowerer:
    def lower_pool(op: OpContext) -> None:
        data, out = op.tensor(0), op.output
        check_int8(name, data, out)
        in_h, in_w, c = hwc(data.shape, f"{name} input")
        out_h, out_w, _ = hwc(out.shape, f"{name} output")
        filter_h, filter_w = int(op.option("filterHeight")), int(op.option("filterWidth"))
        stride_h, stride_w = int(op.option("strideH")), int(op.option("strideW"))
        act_min, act_max = fixed_point.activation_range(int(op.option("fusedActivationFunction")), out.scale,
                                                        out.zero_point)
        op.emit.params("tinyml_pool_params", f"{op.prefix}_params", {
            "in_h": in_h, "in_w": in_w, "c": c, "out_h": out_h, "out_w": out_w,
            "filter_h": filter_h, "filter_w": filter_w, "stride_h": stride_h, "stride_w": stride_w,
            "pad_h": fixed_point.compute_padding(stride_h, in_h, filter_h, out_h),
            "pad_w": fixed_point.compute_padding(stride_w, in_w, filter_w, out_w),
            "act_min": act_min, "act_max": act_max})
        op.emit.calls.append(f"  {kernel}(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")
    return lower_pool


LOWERERS: dict[str, Lowerer] = {
    "AVERAGE_POOL_2D": _pool("tinyml_average_pool_2d", "AVERAGE_POOL_2D"),
    "DEPTHWISE_CONV_2D": lower_depthwise,
    "MAX_POOL_2D": _pool("tinyml_max_pool_2d", "MAX_POOL_2D"),
}
