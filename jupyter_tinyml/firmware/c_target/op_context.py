"""What every lowerer works with: where it emits C (Emitter), the one operator it lowers with its tensors and C
pointers (OpContext), and the small checks and sizes they all use. A module of its own so that the ops can live
in several modules (lowering.py's core ops, and the others) without private names crossing between them."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...errors import QuantizationError
from ...model.tflite import Operator, Tensor
from . import fixed_point

_PER_ROW = 16
_C_TYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4}


@dataclass
class Emitter:
    """The generated source being built: constants (weights, parameters) and the kernel calls, in op order."""

    constants: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    weights_bytes: int = 0

    def array(self, ctype: str, name: str, values: Sequence[int] | np.ndarray) -> str:
        flat = [int(v) for v in np.asarray(values).reshape(-1)]
        rows = [", ".join(str(v) for v in flat[i:i + _PER_ROW]) for i in range(0, len(flat), _PER_ROW)]
        self.constants.append(f"static const {ctype} {name}[{len(flat)}] = {{\n  " + ",\n  ".join(rows) + "\n};")
        self.weights_bytes += len(flat) * _C_TYPE_BYTES[ctype]
        return name

    def params(self, ctype: str, name: str, fields: dict[str, int | str]) -> str:
        body = ", ".join(f".{key} = {value}" for key, value in fields.items())
        self.constants.append(f"static const {ctype} {name} = {{{body}}};")
        return name


# Schema Padding.SAME: the other value, VALID, pads nothing.
PADDING_SAME = 0


def label(tensor: Tensor) -> str:
    return tensor.name or f"t{tensor.index}"


def size(tensor: Tensor) -> int:
    return int(np.prod(tensor.shape)) if tensor.shape else 1


@dataclass(frozen=True)
class OpContext:
    """What one lowerer needs to emit one operator: where to emit, the op and its tensors, and the C expressions
    that point at each input ("0" for a constant or an omitted one) and at the output."""

    emit: Emitter
    prefix: str  # the op's C name prefix, "op<position>"
    operator: Operator
    inputs: list[Tensor | None]  # None for an omitted optional input (index -1)
    output: Tensor
    input_pointers: list[str]
    output_pointer: str

    def option(self, key: str) -> int | float:
        """The operator's builtin option `key` (the schema's field name)."""
        if key not in self.operator.options:
            raise QuantizationError(f"{self.operator.name} has no {key!r} option in the file; convert the model again")
        value = self.operator.options[key]
        return value if isinstance(value, float) else int(value)

    def tensor(self, position: int) -> Tensor:
        """Input `position`, which the op requires."""
        tensor = self.inputs[position] if position < len(self.inputs) else None
        if tensor is None:
            raise QuantizationError(f"{self.operator.name} lacks its input {position}; convert the model again")
        return tensor

    def optional(self, position: int) -> Tensor | None:
        return self.inputs[position] if position < len(self.inputs) else None


def check_int8(op: str, *tensors: Tensor | None) -> None:
    for tensor in tensors:
        if tensor is not None and tensor.dtype != "int8":
            raise QuantizationError(f"{op} on a {tensor.dtype} tensor ({label(tensor)!r}); the C target runs int8 "
                                    "ops only — convert with quantization='int8'")


def hwc(shape: tuple[int, ...], what: str) -> tuple[int, int, int]:
    if len(shape) != 4 or shape[0] != 1:
        raise QuantizationError(f"{what} has shape {shape}; the C target runs batch-1 NHWC tensors only")
    return shape[1], shape[2], shape[3]


# One operator's lowering: emits its constants and its one kernel call.
Lowerer = Callable[[OpContext], None]


def per_channel_values(data: Tensor, filt: Tensor, out: Tensor, channels: int) -> tuple[list[int], list[int]]:
    """conv.cc / depthwise_conv.cc: effective scale = double(in) * double(filter[c]) / double(out) per channel, as
    (multipliers, shifts)."""
    pairs = [fixed_point.quantize_multiplier(data.scale * (filt.scales[c] if len(filt.scales) > 1 else filt.scales[0])
                                             / out.scale) for c in range(channels)]
    return [m for m, _ in pairs], [s for _, s in pairs]


def per_channel_multipliers(emit: Emitter, prefix: str, data: Tensor, filt: Tensor, out: Tensor, channels: int) -> None:
    """The per-channel multipliers and shifts as the `<prefix>_multiplier` and `<prefix>_shift` arrays."""
    multipliers, shifts = per_channel_values(data, filt, out, channels)
    emit.array("int32_t", f"{prefix}_multiplier", multipliers)
    emit.array("int32_t", f"{prefix}_shift", shifts)


def bias_array(emit: Emitter, prefix: str, bias: Tensor | None) -> str:
    """The bias as a C array, or "0" when the op has none."""
    if bias is None or bias.data is None:
        return "0"
    return emit.array("int32_t", f"{prefix}_bias", bias.values())


@dataclass(frozen=True)
class ConvGeometry:
    """CONV_2D's or DEPTHWISE_CONV_2D's tensors and every number TFLite's Prepare computes for it, checked: the
    kernels' shared parameters (`fields`, tinyml_conv_params) and the tensors they come from."""

    name: str
    data: Tensor
    filter: Tensor
    bias: Tensor | None
    output: Tensor
    fields: dict[str, int]


def conv_geometry(op: OpContext, depthwise: bool) -> ConvGeometry:
    """The checked geometry of a convolution; QuantizationError for what the C target cannot run."""
    name = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    data, filt, bias, out = op.tensor(0), op.tensor(1), op.optional(2), op.output
    check_int8(name, data, filt, out)
    dilation_h, dilation_w = op.option("dilationHFactor"), op.option("dilationWFactor")
    if dilation_h not in (0, 1) or dilation_w not in (0, 1):
        raise QuantizationError(f"{name} with dilation {dilation_h}x{dilation_w}: the C "
                                "target supports dilation 1 only — remove dilation_rate from the layer")
    if filt.data is None or any(z != 0 for z in filt.zero_points):
        raise QuantizationError(f"{name} needs constant, symmetric int8 weights; convert with quantization='int8'")
    in_h, in_w, in_c = hwc(data.shape, f"{name} input")
    out_h, out_w, out_c = hwc(out.shape, f"{name} output")
    filter_h, filter_w = filt.shape[1], filt.shape[2]
    if depthwise:
        if out_c % in_c:
            raise QuantizationError(f"{name} with {in_c} input and {out_c} output channels is not a channel multiple")
    elif filt.shape[3] != in_c:
        raise QuantizationError(f"{name} with groups (filter depth {filt.shape[3]}, input {in_c}) is not supported")
    same = op.option("padding") == PADDING_SAME
    stride_h, stride_w = int(op.option("strideH")), int(op.option("strideW"))
    expected = (fixed_point.output_size(same, in_h, filter_h, stride_h),
                fixed_point.output_size(same, in_w, filter_w, stride_w))
    if expected != (out_h, out_w):
        raise QuantizationError(f"{name} output shape {out.shape} does not match its padding and strides")
    act_min, act_max = fixed_point.activation_range(int(op.option("fusedActivationFunction")), out.scale,
                                                    out.zero_point)
    fields = {
        "in_h": in_h, "in_w": in_w, "in_c": in_c, "out_h": out_h, "out_w": out_w, "out_c": out_c,
        "filter_h": filter_h, "filter_w": filter_w, "stride_h": stride_h, "stride_w": stride_w,
        "pad_h": fixed_point.compute_padding(stride_h, in_h, filter_h, out_h),
        "pad_w": fixed_point.compute_padding(stride_w, in_w, filter_w, out_w),
        "depth_multiplier": out_c // in_c if depthwise else 1,
        "input_offset": -data.zero_point, "output_offset": out.zero_point, "act_min": act_min, "act_max": act_max}
    return ConvGeometry(name, data, filt, bias, out, fields)
