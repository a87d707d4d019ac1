"""The other ops lowered to C (kernels/tinyml_ops.c): ADD, MEAN, SOFTMAX, QUANTIZE, and the ops that only move
bytes (RESHAPE, EXPAND_DIMS, SQUEEZE)."""
from __future__ import annotations

import numpy as np

from ...errors import QuantizationError
from ..c_code import float_literal
from . import fixed_point
from .op_context import Lowerer, OpContext, check_int8, label, size


def _copy(name: str) -> Lowerer:
    def lower_copy(op: OpContext) -> None:
        data, out = op.tensor(0), op.output
        check_int8(name, data, out)
        if data.scales != out.scales or data.zero_points != out.zero_points or size(data) != size(out):
            raise QuantizationError(f"{name} changes the quantization of {label(data)!r}; the C target copies bytes "
                                    "only")
        op.emit.calls.append(f"  tinyml_copy({op.input_pointers[0]}, {op.output_pointer}, {size(out)});")
    return lower_copy


def _add(op: OpContext) -> None:
    a, b, out = op.tensor(0), op.tensor(1), op.output
    check_int8("ADD", a, b, out)
    if a.shape != b.shape or size(a) != size(out) or a.data is not None or b.data is not None:
        raise QuantizationError(f"ADD of shapes {a.shape} and {b.shape}: the C target adds two activations of the "
                                "same shape only (no broadcasting, no constants)")
    left_shift = 20
    twice_max = 2 * max(a.scale, b.scale)
    m1, s1 = fixed_point.quantize_multiplier(a.scale / twice_max)
    m2, s2 = fixed_point.quantize_multiplier(b.scale / twice_max)
    mo, so = fixed_point.quantize_multiplier(twice_max / ((1 << left_shift) * out.scale))
    act_min, act_max = fixed_point.activation_range(int(op.option("fusedActivationFunction")), out.scale,
                                                    out.zero_point)
    op.emit.params("tinyml_add_params", f"{op.prefix}_params", {
        "size": size(out), "input1_offset": -a.zero_point, "input2_offset": -b.zero_point,
        "output_offset": out.zero_point, "left_shift": left_shift, "input1_multiplier": m1, "input2_multiplier": m2,
        "output_multiplier": mo, "input1_shift": s1, "input2_shift": s2, "output_shift": so,
        "act_min": act_min, "act_max": act_max})
    op.emit.calls.append(f"  tinyml_add(&{op.prefix}_params, {op.input_pointers[0]}, {op.input_pointers[1]}, "
                         f"{op.output_pointer});")


def _mean(op: OpContext) -> None:
    data, axis, out = op.tensor(0), op.optional(1), op.output
    check_int8("MEAN", data, out)
    axes = sorted(int(a) % 4 for a in axis.values().reshape(-1)) if axis is not None and axis.data is not None else []
    if len(data.shape) != 4 or axes != [1, 2] or data.shape[0] != 1:
        raise QuantizationError(f"MEAN over axes {axes} of shape {data.shape}: the C target averages over height "
                                "and width of a batch-1 NHWC tensor only (GlobalAveragePooling2D)")
    # keep_dims only changes the output shape: LiteRT's reference MEAN takes QuantizedMeanOrSum either way.
    multiplier, shift = fixed_point.quantize_multiplier(data.scale / out.scale)
    same = np.float32(data.scale) == np.float32(out.scale) and data.zero_point == out.zero_point
    op.emit.params("tinyml_mean_params", f"{op.prefix}_params", {
        "h": data.shape[1], "w": data.shape[2], "c": data.shape[3], "same_quantization": int(bool(same)),
        "input_zero_point": data.zero_point,
        "output_zero_point": out.zero_point, "multiplier": multiplier, "shift": shift})
    op.emit.calls.append(f"  tinyml_mean_hw(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")


def _softmax(op: OpContext) -> None:
    data, out = op.tensor(0), op.output
    check_int8("SOFTMAX", data, out)
    beta = float(op.option("beta"))
    depth = data.shape[-1]
    op.emit.params("tinyml_softmax_params", f"{op.prefix}_params", {
        "outer": size(data) // depth, "depth": depth,
        "beta_times_input_scale": float_literal(beta * data.scale),
        "inverse_output_scale": float_literal(1.0 / out.scale), "output_zero_point": out.zero_point})
    op.emit.calls.append(f"  tinyml_softmax(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")


def _quantize(op: OpContext) -> None:
    data, out = op.tensor(0), op.output
    if data.dtype != "int8" or out.dtype != "int8":
        raise QuantizationError(f"QUANTIZE from {data.dtype} to {out.dtype}: the C target requantizes int8 to int8 "
                                "only — convert with int8 input and output")
    multiplier, shift = fixed_point.quantize_multiplier(data.scale / out.scale)
    op.emit.params("tinyml_requantize_params", f"{op.prefix}_params", {
        "size": size(out), "input_zero_point": data.zero_point, "output_zero_point": out.zero_point,
        "multiplier": multiplier, "shift": shift})
    op.emit.calls.append(f"  tinyml_requantize(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")


LOWERERS: dict[str, Lowerer] = {
    "ADD": _add,
    "EXPAND_DIMS": _copy("EXPAND_DIMS"),
    "MEAN": _mean,
    "QUANTIZE": _quantize,
    "RESHAPE": _copy("RESHAPE"),
    "SOFTMAX": _softmax,
    "SQUEEZE": _copy("SQUEEZE"),
}
