"""MEAN and REDUCE_MAX lowered to C (kernels/tinyml_ops.c): a reduction over any axes that are next to each other
once size-1 axes are set aside, so one kernel covers GlobalAveragePooling1D/2D, a channel mean, GlobalMaxPooling and
keepdims or not — the input is seen as [outer][reduced][inner]."""
from __future__ import annotations

import numpy as np

from ...errors import QuantizationError
from ...model.tflite import Tensor
from . import fixed_point
from .op_context import Lowerer, OpContext, check_int8, label


def _axes(op: OpContext, data: Tensor) -> list[int]:
    axis = op.optional(1)
    if axis is None or axis.data is None:
        raise QuantizationError(f"{op.operator.name} with axes computed at run time: the C target needs constant "
                                "axes — convert the model again")
    rank = len(data.shape)
    return sorted({int(a) % rank for a in axis.values().reshape(-1)})


def outer_reduced_inner(name: str, shape: tuple[int, ...], axes: list[int]) -> tuple[int, int, int]:
    """(outer, reduced, inner) element counts, when the reduced axes form one block once size-1 axes are dropped."""
    kept = [(i, d) for i, d in enumerate(shape) if d != 1]
    reduced = [i for i, (axis, _) in enumerate(kept) if axis in axes]
    if not reduced:
        return int(np.prod(shape)), 1, 1
    if reduced != list(range(reduced[0], reduced[-1] + 1)):
        raise QuantizationError(f"{name} over axes {axes} of shape {list(shape)}: the C target reduces axes next to "
                                "each other only — reduce in two steps or transpose first")
    dims = [d for _, d in kept]
    return (int(np.prod(dims[:reduced[0]])), int(np.prod(dims[reduced[0]:reduced[-1] + 1])),
            int(np.prod(dims[reduced[-1] + 1:])))


def _mean(op: OpContext) -> None:
    data, out = op.tensor(0), op.output
    check_int8("MEAN", data, out)
    axes = _axes(op, data)
    outer, count, inner = outer_reduced_inner("MEAN", data.shape, axes)
    same = np.float32(data.scale) == np.float32(out.scale) and data.zero_point == out.zero_point
    # reduce.cc: when input and output share scale and zero point, the plain integer Mean (truncating division);
    # otherwise QuantizedMeanOrSum, which folds 1/count into the multiplier: shift = floor(log2(count)), at most 32
    # and at most 31 + shift, then multiplier * 2^shift / count.
    multiplier, shift = fixed_point.quantize_multiplier(data.scale / out.scale)
    if not same:
        count_shift = min(count.bit_length() - 1, 32, 31 + shift)
        multiplier = (multiplier << count_shift) // count
        shift -= count_shift
    op.emit.params("tinyml_reduce_params", f"{op.prefix}_params", {
        "outer": outer, "count": count, "inner": inner, "same_quantization": int(bool(same)),
        "input_zero_point": data.zero_point, "output_zero_point": out.zero_point, "multiplier": multiplier,
        "shift": shift})
    op.emit.calls.append(f"  tinyml_mean(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")


def _reduce_max(op: OpContext) -> None:
    data, out = op.tensor(0), op.output
    check_int8("REDUCE_MAX", data, out)
    if np.float32(data.scale) != np.float32(out.scale) or data.zero_point != out.zero_point:
        raise QuantizationError(f"REDUCE_MAX of {label(data)!r} changes the quantization; TFLite keeps it and so "
                                "does the C target — convert the model again")
    outer, count, inner = outer_reduced_inner("REDUCE_MAX", data.shape, _axes(op, data))
    op.emit.params("tinyml_reduce_params", f"{op.prefix}_params", {"outer": outer, "count": count, "inner": inner})
    op.emit.calls.append(f"  tinyml_reduce_max(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")


LOWERERS: dict[str, Lowerer] = {"MEAN": _mean, "REDUCE_MAX": _reduce_max}
