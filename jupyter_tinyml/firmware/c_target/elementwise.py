"""ADD, SUB and MUL lowered to C (kernels/tinyml_ops.c tinyml_binary): two int8 operands, either of them a constant,
broadcast against each other up to 4-D as TFLite's BroadcastAdd/Sub/Mul4DSlow do. The quantization parameters are
add.cc/sub.cc/mul.cc Prepare's: ADD and SUB bring both inputs to twice the larger scale with 20 bits of headroom
(here as one 256-entry int32 table per input: about 5x fewer instructions per element on the Cortex-M4, 2 KB of
flash per op), MUL multiplies the offset values and requantizes once."""
from __future__ import annotations

from ...errors import QuantizationError
from ...model.tflite import Tensor
from . import fixed_point
from .integer_math import multiply_by_quantized_multiplier
from .op_context import Lowerer, OpContext, check_int8, label

KINDS = {"ADD": 0, "SUB": 1, "MUL": 2}


def broadcast_strides(a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]) -> tuple[list[int], list[int],
                                                                                                 list[int]]:
    """(4-D output shape, element strides of a, of b): a broadcast axis has stride 0. Shapes align on the right."""
    if len(out) > 4:
        raise QuantizationError(f"broadcasting in {len(out)} dimensions: the C target broadcasts up to 4")
    shape = [1] * (4 - len(out)) + list(out)

    def strides(s: tuple[int, ...]) -> list[int]:
        padded = [1] * (4 - len(s)) + list(s)
        result, step = [0] * 4, 1
        for axis in reversed(range(4)):
            if padded[axis] not in (1, shape[axis]):
                raise QuantizationError(f"shapes {list(a)} and {list(b)} do not broadcast to {list(out)}")
            result[axis] = step if padded[axis] == shape[axis] and shape[axis] != 1 else 0
            step *= padded[axis]
        return result

    return shape, strides(a), strides(b)


def _operand(op: OpContext, position: int, tensor: Tensor) -> str:
    """The C pointer of an operand: an activation's, or the constant emitted as an array."""
    if tensor.data is None:
        return op.input_pointers[position]
    return op.emit.array("int8_t", f"{op.prefix}_operand{position}", tensor.values())


def _binary(name: str) -> Lowerer:
    def lower_binary(op: OpContext) -> None:
        a, b, out = op.tensor(0), op.tensor(1), op.output
        check_int8(name, a, b, out)
        for t in (a, b, out):
            if len(t.scales) != 1:
                raise QuantizationError(f"{name} on per-channel quantized {label(t)!r}: TFLite's {name} takes one "
                                        "scale per tensor")
        shape, stride_a, stride_b = broadcast_strides(a.shape, b.shape, out.shape)
        act_min, act_max = fixed_point.activation_range(int(op.option("fusedActivationFunction")), out.scale,
                                                        out.zero_point)
        fields: dict[str, int | str] = {"kind": KINDS[name]}
        fields.update({f"shape[{i}]": v for i, v in enumerate(shape)})
        fields.update({f"stride1[{i}]": v for i, v in enumerate(stride_a)})
        fields.update({f"stride2[{i}]": v for i, v in enumerate(stride_b)})
        fields["contiguous"] = int(a.shape == b.shape == out.shape)  # no broadcasting: one flat loop
        fields.update({"input1_offset": -a.zero_point, "input2_offset": -b.zero_point,
                       "output_offset": out.zero_point})
        tables = ["0", "0"]
        if name == "MUL":
            mo, so = fixed_point.quantize_multiplier(a.scale * b.scale / out.scale)
        else:
            # add.cc/sub.cc Prepare: both inputs to twice the larger scale, 20 bits of headroom. Each input's
            # rescaled value depends on its int8 value only: a 256-entry table per input, exact by construction.
            left_shift = 20
            twice_max = 2 * max(a.scale, b.scale)
            for i, t in enumerate((a, b)):
                m, s = fixed_point.quantize_multiplier(t.scale / twice_max)
                values = [multiply_by_quantized_multiplier((v - t.zero_point) * (1 << left_shift), m, s)
                          for v in range(-128, 128)]
                tables[i] = op.emit.array("int32_t", f"{op.prefix}_table{i + 1}", values)
            mo, so = fixed_point.quantize_multiplier(twice_max / ((1 << left_shift) * out.scale))
        fields.update({"output_multiplier": mo, "output_shift": so, "act_min": act_min, "act_max": act_max})
        op.emit.params("tinyml_binary_params", f"{op.prefix}_params", fields)  # ".shape[0] = 1": C99 designators
        op.emit.calls.append(f"  tinyml_binary(&{op.prefix}_params, {tables[0]}, {tables[1]}, {_operand(op, 0, a)}, "
                             f"{_operand(op, 1, b)}, {op.output_pointer});")
    return lower_binary


LOWERERS: dict[str, Lowerer] = {name: _binary(name) for name in KINDS}
