"""The ops that move or requantize bytes, lowered to C (kernels/tinyml_ops.c): RESHAPE, EXPAND_DIMS, SQUEEZE (a
copy), QUANTIZE (int8 to int8), CONCATENATION, PAD, PADV2 and TRANSPOSE; and the one table that joins every op
family of this file's siblings (activations, elementwise, reductions, transpose_conv) for lowering.py."""
from __future__ import annotations

import numpy as np

from ...errors import QuantizationError
from ...model.tflite import Tensor
from . import fixed_point
from .activations import LOWERERS as ACTIVATION_LOWERERS
from .elementwise import LOWERERS as ELEMENTWISE_LOWERERS
from .op_context import Lowerer, OpContext, check_int8, label, size
from .reductions import LOWERERS as REDUCTION_LOWERERS
from .transpose_conv import LOWERERS as TRANSPOSE_CONV_LOWERERS


def _same_quantization(a: Tensor, b: Tensor) -> bool:
    return (np.float32(a.scale) == np.float32(b.scale) and a.zero_point == b.zero_point
            and len(a.scales) == len(b.scales) == 1)


def _copy(name: str) -> Lowerer:
    def lower_copy(op: OpContext) -> None:
        data, out = op.tensor(0), op.output
        check_int8(name, data, out)
        shape = op.optional(1)
        if name == "RESHAPE" and size(data) != size(out) and shape is not None and shape.data is None:
            # The output shape in the file is not the one the model computes: the converter left it to be
            # worked out at run time from a free batch axis, which a generator with static shapes cannot do.
            raise QuantizationError(f"RESHAPE to a shape computed at run time from the free batch axis (the file "
                                    f"says {list(out.shape)} for {size(data)} values) — build the model with a "
                                    "fixed batch size of 1 (keras.Input(shape=..., batch_size=1)) and convert again")
        if data.scales != out.scales or data.zero_points != out.zero_points or size(data) != size(out):
            raise QuantizationError(f"{name} changes the quantization of {label(data)!r}; the C target copies bytes "
                                    "only")
        op.emit.calls.append(f"  tinyml_copy({op.input_pointers[0]}, {op.output_pointer}, {size(out)});")
    return lower_copy


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


def _concatenation(op: OpContext) -> None:
    """concatenation.cc: int8 inputs share the output's scale and zero point (the converter makes them), so the
    op copies rows: each input contributes its slice of the axis for every outer index."""
    out = op.output
    parts = [op.tensor(i) for i in range(len(op.operator.inputs))]
    check_int8("CONCATENATION", *parts, out)
    for part in parts:
        if not _same_quantization(part, out):
            raise QuantizationError(f"CONCATENATION of {label(part)!r} with another scale than its output's: TFLite "
                                    "requires one scale for int8 — convert the model again")
    axis = int(op.option("axis")) % len(out.shape)
    outer = int(np.prod(out.shape[:axis]))
    pointers = [op.emit.array("int8_t", f"{op.prefix}_part{i}", t.values()) if t.data is not None
                else op.input_pointers[i] for i, t in enumerate(parts)]
    rows = [size(t) // outer for t in parts]
    # A block of its own: the graph input may be a part, and it is no constant for a static initializer.
    op.emit.calls.append(
        f"  {{\n    const int8_t *const parts[{len(parts)}] = {{{', '.join(pointers)}}};\n"
        f"    static const int rows[{len(parts)}] = {{{', '.join(map(str, rows))}}};\n"
        f"    tinyml_concatenation(parts, rows, {len(parts)}, {outer}, {op.output_pointer});\n  }}")


def _pad(name: str) -> Lowerer:
    """pad.cc: PAD fills with the output's zero point (a real 0), PADV2 with its constant value."""
    def lower_pad(op: OpContext) -> None:
        data, paddings, out = op.tensor(0), op.tensor(1), op.output
        check_int8(name, data, out)
        if paddings.data is None:
            raise QuantizationError(f"{name} with paddings computed at run time: the C target needs constant "
                                    "paddings — convert the model again")
        if not _same_quantization(data, out):
            raise QuantizationError(f"{name} changes the quantization of {label(data)!r}; TFLite keeps it")
        rank = len(data.shape)
        if rank > 4:
            raise QuantizationError(f"{name} of a {rank}-D tensor: the C target pads up to 4-D")
        pads = [[int(v) for v in row] for row in paddings.values().reshape(rank, 2)]
        if any(v < 0 for row in pads for v in row):
            raise QuantizationError(f"{name} with negative paddings {pads}")
        value = out.zero_point
        if name == "PADV2" and op.optional(2) is not None:
            constant = op.tensor(2)
            check_int8(name, constant)
            value = int(constant.values().reshape(-1)[0])
        shape = [1] * (4 - rank) + list(data.shape)
        pads = [[0, 0]] * (4 - rank) + pads
        fields: dict[str, int | str] = {f"in_shape[{i}]": v for i, v in enumerate(shape)}
        fields.update({f"before[{i}]": p[0] for i, p in enumerate(pads)})
        fields.update({f"out_shape[{i}]": shape[i] + p[0] + p[1] for i, p in enumerate(pads)})
        fields["value"] = value
        op.emit.params("tinyml_pad_params", f"{op.prefix}_params", fields)
        op.emit.calls.append(f"  tinyml_pad(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")
    return lower_pad


def _transpose(op: OpContext) -> None:
    """TRANSPOSE (Keras Permute) up to 4-D: output index (a, b, c, d) reads the input at the permuted strides."""
    data, perm, out = op.tensor(0), op.tensor(1), op.output
    check_int8("TRANSPOSE", data, out)
    if perm.data is None:
        raise QuantizationError("TRANSPOSE with a permutation computed at run time: the C target needs a constant "
                                "one — convert the model again")
    if not _same_quantization(data, out):
        raise QuantizationError(f"TRANSPOSE changes the quantization of {label(data)!r}; TFLite keeps it")
    rank = len(data.shape)
    order = [int(v) % rank for v in perm.values().reshape(-1)]
    if rank > 4 or sorted(order) != list(range(rank)):
        raise QuantizationError(f"TRANSPOSE by {order} of a {rank}-D tensor: the C target permutes up to 4-D")
    strides = [int(np.prod(data.shape[axis + 1:])) for axis in range(rank)]
    pad = 4 - rank
    fields: dict[str, int | str] = {f"shape[{i}]": v for i, v in enumerate([1] * pad + [data.shape[a] for a in order])}
    fields.update({f"stride[{i}]": v for i, v in enumerate([0] * pad + [strides[a] for a in order])})
    op.emit.params("tinyml_transpose_params", f"{op.prefix}_params", fields)
    op.emit.calls.append(f"  tinyml_transpose(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")


LOWERERS: dict[str, Lowerer] = {
    **ACTIVATION_LOWERERS,
    **ELEMENTWISE_LOWERERS,
    **REDUCTION_LOWERERS,
    **TRANSPOSE_CONV_LOWERERS,
    "CONCATENATION": _concatenation,
    "EXPAND_DIMS": _copy("EXPAND_DIMS"),
    "PAD": _pad("PAD"),
    "PADV2": _pad("PADV2"),
    "QUANTIZE": _quantize,
    "RESHAPE": _copy("RESHAPE"),
    "SQUEEZE": _copy("SQUEEZE"),
    "TRANSPOSE": _transpose,
}
