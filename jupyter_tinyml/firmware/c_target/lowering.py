"""From a .tflite to C text: each operator becomes one kernel call with its parameters computed on the host.

Pure: the model's Graph (tflite.read) in, source text out. The quantization parameters follow what TFLite's
kernels compute in Prepare (conv.cc/depthwise_conv.cc PopulateConvolutionQuantizationParams, fully_connected.cc
GetQuantizedConvolutionMultipler, add.cc, reduce.cc, quantize.cc), so the integer arithmetic on the device is
the reference kernels' own.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...errors import CorruptModelError, QuantizationError
from ...model.tflite import Graph, Operator, Tensor, TFLite, model_bytes, read
from ..c_code import c_comment, c_string, float_literal
from . import fixed_point
from .memory_plan import Buffer, plan

SUPPORTED_OPS = ("ADD", "AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS", "FULLY_CONNECTED",
                 "MAX_POOL_2D", "MEAN", "QUANTIZE", "RESHAPE", "SOFTMAX", "SQUEEZE")
_PER_ROW = 16


@dataclass
class Lowered:
    """What `lower` produced; `generate_c` wraps it in a CModel."""

    header: str
    source: str
    arena_bytes: int
    weights_bytes: int
    ops: list[str]
    buffers: list[Buffer]
    input_bytes: int
    output_bytes: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int


@dataclass
class _Emitter:
    constants: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    weights_bytes: int = 0

    def array(self, ctype: str, name: str, values: Sequence[int] | np.ndarray) -> str:
        flat = [int(v) for v in np.asarray(values).reshape(-1)]
        rows = [", ".join(str(v) for v in flat[i:i + _PER_ROW]) for i in range(0, len(flat), _PER_ROW)]
        self.constants.append(f"static const {ctype} {name}[{len(flat)}] = {{\n  " + ",\n  ".join(rows) + "\n};")
        self.weights_bytes += len(flat) * (1 if ctype == "int8_t" else 4)
        return name

    def params(self, ctype: str, name: str, fields: dict[str, int | str]) -> str:
        body = ", ".join(f".{key} = {value}" for key, value in fields.items())
        self.constants.append(f"static const {ctype} {name} = {{{body}}};")
        return name


# Schema Padding.SAME: the other value, VALID, pads nothing.
_PADDING_SAME = 0


def _label(tensor: Tensor) -> str:
    return tensor.name or f"t{tensor.index}"


def _size(tensor: Tensor) -> int:
    return int(np.prod(tensor.shape)) if tensor.shape else 1


@dataclass(frozen=True)
class OpContext:
    """What one lowerer needs to emit one operator: where to emit, the op and its tensors, and the C expressions
    that point at each input ("0" for a constant or an omitted one) and at the output."""

    emit: _Emitter
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


def _check_wiring(operator: Operator, position: int, tensors: Sequence[Tensor], first: dict[int, int],
                  graph_in: int) -> None:
    """Refuse an operator a damaged file wired wrongly: no output, an activation read before any operator writes
    it, or an int8 tensor with a zero scale (every multiplier divides by it)."""
    where = f"{operator.name} (operator {position})"
    if not operator.outputs or operator.outputs[0] < 0:
        raise CorruptModelError(f"{where} has no output tensor")
    for t in operator.inputs:
        if (t >= 0 and t != graph_in and tensors[t].data is None and tensors[t].dtype == "int8"
                and first.get(t, position) >= position):
            raise CorruptModelError(f"{where} reads tensor {t} ({_label(tensors[t])[:60]!r}), which no earlier "
                                    "operator writes")
    for t in (*operator.inputs, *operator.outputs):
        if t >= 0 and tensors[t].dtype == "int8" and tensors[t].scales and min(tensors[t].scales) <= 0:
            raise CorruptModelError(f"{where}: tensor {t} ({_label(tensors[t])[:60]!r}) has a quantization "
                                    "scale of 0")


def _hwc(shape: tuple[int, ...], what: str) -> tuple[int, int, int]:
    if len(shape) != 4 or shape[0] != 1:
        raise QuantizationError(f"{what} has shape {shape}; the C target runs batch-1 NHWC tensors only")
    return shape[1], shape[2], shape[3]


def lower(tflite: TFLite | Graph, name: str = "model") -> Lowered:
    """The C header and source for the model (its bytes, path or Graph); raises QuantizationError for what the C
    target cannot run."""
    graph = tflite if isinstance(tflite, Graph) else read(model_bytes(tflite))
    if len(graph.subgraphs) != 1:
        raise QuantizationError("the model has several subgraphs (control flow); the C target runs one — "
                                "remove tf.cond/while loops from the model and convert again")
    tensors = graph.tensors
    operators = _without_shape_arithmetic(list(graph.operators), tensors)
    op_names = [operator.name for operator in operators]
    unsupported = sorted({n for n in op_names if n not in SUPPORTED_OPS})
    if unsupported:
        note = (" (DEQUANTIZE only appears in models with float input or output: convert with int8 input and "
                "output)" if "DEQUANTIZE" in unsupported else "")
        raise QuantizationError(f"the C target has no kernel for {', '.join(unsupported)}{note} — it supports "
                                f"{', '.join(SUPPORTED_OPS)}; replace the layers that make "
                                f"{'it' if len(unsupported) == 1 else 'them'} or use the Arduino target")
    if not operators:
        raise QuantizationError("the model has no operators, so there is nothing to run — convert the model again")
    if len(graph.input_indices) != 1 or len(graph.output_indices) != 1:
        raise QuantizationError("the C target runs models with exactly one input and one output")
    graph_in, graph_out = graph.input_indices[0], graph.output_indices[0]
    for which, index in (("input", graph_in), ("output", graph_out)):
        tensor = tensors[index]
        if tensor.dtype != "int8" or len(tensor.scales) != 1:
            raise QuantizationError(f"the model's {which} is {tensor.dtype}, not per-tensor int8 — convert with "
                                    "quantization='int8' (full integer, int8 input and output) for the C target")

    # Lifetimes of the activations that live in the arena (not the caller's input and output buffers).
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for position, operator in enumerate(operators):
        for t in operator.outputs:
            first.setdefault(t, position)
            last[t] = max(last.get(t, position), position)
        for t in operator.inputs:
            if t >= 0 and tensors[t].data is None and t in first:
                last[t] = max(last[t], position)
    planned = [Buffer(t, _label(tensors[t]), _size(tensors[t]), first[t], last[t]) for t in first
               if t not in (graph_in, graph_out)]
    for b in planned:
        if tensors[b.tensor].dtype != "int8":
            raise QuantizationError(f"tensor {b.name!r} is {tensors[b.tensor].dtype}; the C target keeps int8 "
                                    "activations only — convert with quantization='int8'")
    buffers, arena_bytes = plan(planned)
    offsets = {b.tensor: b.offset for b in buffers}

    def pointer(t: int) -> str:
        if t == graph_in:
            return "input"
        if t == graph_out:
            return "output"
        return f"(arena + {offsets[t]})"

    def activation(t: int) -> bool:
        return t >= 0 and tensors[t].data is None and tensors[t].dtype == "int8"

    emit = _Emitter()
    for position, operator in enumerate(operators):
        _check_wiring(operator, position, tensors, first, graph_in)
        out = operator.outputs[0]
        try:
            _LOWERERS[operator.name](OpContext(
                emit=emit, prefix=f"op{position}", operator=operator,
                inputs=[tensors[t] if t >= 0 else None for t in operator.inputs], output=tensors[out],
                input_pointers=[pointer(t) if activation(t) else "0" for t in operator.inputs],
                output_pointer=pointer(out)))
        except (ArithmeticError, IndexError, KeyError, TypeError, ValueError) as error:
            # The checks above and in tflite.read catch the damage seen so far; one that slips past them (a shape
            # that contradicts its op) is still the file's fault, not a reason for a traceback.
            raise CorruptModelError(f"{operator.name} (operator {position}) does not fit its tensors "
                                    f"({type(error).__name__}: {QuantizationError.first_line(error)[:120]})") from None
        emit.calls[-1] = f"  /* {position}: {operator.name} */\n{emit.calls[-1]}"

    source_in, source_out = tensors[graph_in], tensors[graph_out]
    distinct = sorted(set(op_names))
    model_name = c_string(name)  # refuses names that are not printable ASCII
    header = (
        f"/* model_c.h — generated by jupyter-tinyml from the .tflite ({len(operators)} ops); do not edit. */\n"
        "#ifndef TINYML_MODEL_C_H_\n#define TINYML_MODEL_C_H_\n\n#include <stdint.h>\n\n"
        f"#define TINYML_INPUT_BYTES  {_size(source_in)}\n"
        f"#define TINYML_OUTPUT_BYTES {_size(source_out)}\n"
        f"#define TINYML_ARENA_BYTES  {arena_bytes}\n\n"
        "extern const float tinyml_input_scale;  extern const int32_t tinyml_input_zero_point;\n"
        "extern const float tinyml_output_scale; extern const int32_t tinyml_output_zero_point;\n"
        "extern const char *const tinyml_model_name;\n"
        "extern const char *const tinyml_op_names;\n\n"
        "/* Runs the model on TINYML_INPUT_BYTES int8 values; writes TINYML_OUTPUT_BYTES. 0 on success. */\n"
        "int tinyml_invoke(const int8_t *input, int8_t *output);\n\n"
        "#endif /* TINYML_MODEL_C_H_ */\n"
    )
    plan_lines = "\n".join(f" *   {b.offset:>7} +{b.size:>7}  ops {b.first}..{b.last}  "
                           f"{c_comment(b.name[:60])}" for b in buffers)
    arena = ("" if arena_bytes == 0 else
             "#if defined(__GNUC__)\n#define TINYML_ALIGNED __attribute__((aligned(16)))\n#else\n"
             "#define TINYML_ALIGNED\n#endif\n"
             f"/* The memory plan: offset +size, the ops that use it, the tensor.\n{plan_lines}\n */\n"
             "static int8_t arena[TINYML_ARENA_BYTES] TINYML_ALIGNED;\n\n")
    source = (
        "/* model_c.c — generated by jupyter-tinyml from the .tflite; do not edit.\n"
        " * Weights, biases and requantization multipliers were computed on the host; each op is one call. */\n"
        '#include "model_c.h"\n#include "tinyml_kernels.h"\n\n'
        f"const float tinyml_input_scale = {float_literal(source_in.scale)};\n"
        f"const int32_t tinyml_input_zero_point = {source_in.zero_point};\n"
        f"const float tinyml_output_scale = {float_literal(source_out.scale)};\n"
        f"const int32_t tinyml_output_zero_point = {source_out.zero_point};\n"
        f'const char *const tinyml_model_name = "{model_name}";\n'
        f'const char *const tinyml_op_names = "{",".join(distinct)}";\n\n'
        + arena
        + "\n".join(emit.constants) + "\n\n"
        "int tinyml_invoke(const int8_t *input, int8_t *output) {\n"
        + "\n".join(emit.calls) + "\n  return 0;\n}\n"
    )
    return Lowered(header, source, arena_bytes, emit.weights_bytes, op_names, buffers, _size(source_in),
                   _size(source_out), source_in.scale, source_in.zero_point, source_out.scale, source_out.zero_point)


def _without_shape_arithmetic(operators: list[Operator], tensors: Sequence[Tensor]) -> list[Operator]:
    """The operators minus those that only compute a RESHAPE's target shape (Keras 3 Flatten with a dynamic batch
    emits SHAPE -> STRIDED_SLICE -> PACK): every shape is static in the file, so the C target needs none of them."""
    keep = [True] * len(operators)
    consumers: dict[int, list[tuple[int, int]]] = {}
    for position, operator in enumerate(operators):
        for slot, t in enumerate(operator.inputs):
            consumers.setdefault(t, []).append((position, slot))
    for position in reversed(range(len(operators))):
        if operators[position].name not in _SHAPE_ARITHMETIC:
            continue
        if all(tensors[t].dtype in ("int32", "int64") and consumers.get(t) and
               all((operators[p].name == "RESHAPE" and slot == 1) or (not keep[p]) for p, slot in consumers[t])
               for t in operators[position].outputs):
            keep[position] = False
    return [operator for operator, kept in zip(operators, keep) if kept]


_SHAPE_ARITHMETIC = frozenset({"SHAPE", "STRIDED_SLICE", "PACK", "CONCATENATION", "GATHER", "SLICE"})


# ------------------------------------------------------------------------------------------------ the ops

Lowerer = Callable[[OpContext], None]


def _check_int8(op: str, *tensors: Tensor | None) -> None:
    for tensor in tensors:
        if tensor is not None and tensor.dtype != "int8":
            raise QuantizationError(f"{op} on a {tensor.dtype} tensor ({_label(tensor)!r}); the C target runs int8 "
                                    "ops only — convert with quantization='int8'")


def _per_channel(emit: _Emitter, prefix: str, data: Tensor, filt: Tensor, out: Tensor, channels: int) -> None:
    """conv.cc / depthwise_conv.cc: effective scale = double(in) * double(filter[c]) / double(out) per channel."""
    multipliers, shifts = [], []
    for c in range(channels):
        filter_scale = filt.scales[c] if len(filt.scales) > 1 else filt.scales[0]
        m, s = fixed_point.quantize_multiplier(data.scale * filter_scale / out.scale)
        multipliers.append(m)
        shifts.append(s)
    emit.array("int32_t", f"{prefix}_multiplier", multipliers)
    emit.array("int32_t", f"{prefix}_shift", shifts)


def _bias(emit: _Emitter, prefix: str, bias: Tensor | None) -> str:
    if bias is None or bias.data is None:
        return "0"
    return emit.array("int32_t", f"{prefix}_bias", bias.values())


def _conv_like(op: OpContext, depthwise: bool) -> None:
    name = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    data, filt, bias, out = op.tensor(0), op.tensor(1), op.optional(2), op.output
    _check_int8(name, data, filt, out)
    dilation_h, dilation_w = op.option("dilationHFactor"), op.option("dilationWFactor")
    if dilation_h not in (0, 1) or dilation_w not in (0, 1):
        raise QuantizationError(f"{name} with dilation {dilation_h}x{dilation_w}: the C "
                                "target supports dilation 1 only — remove dilation_rate from the layer")
    if filt.data is None or any(z != 0 for z in filt.zero_points):
        raise QuantizationError(f"{name} needs constant, symmetric int8 weights; convert with quantization='int8'")
    in_h, in_w, in_c = _hwc(data.shape, f"{name} input")
    out_h, out_w, out_c = _hwc(out.shape, f"{name} output")
    filter_h, filter_w = filt.shape[1], filt.shape[2]
    if depthwise:
        if out_c % in_c:
            raise QuantizationError(f"{name} with {in_c} input and {out_c} output channels is not a channel multiple")
    elif filt.shape[3] != in_c:
        raise QuantizationError(f"{name} with groups (filter depth {filt.shape[3]}, input {in_c}) is not supported")
    same = op.option("padding") == _PADDING_SAME
    stride_h, stride_w = int(op.option("strideH")), int(op.option("strideW"))
    expected = (fixed_point.output_size(same, in_h, filter_h, stride_h),
                fixed_point.output_size(same, in_w, filter_w, stride_w))
    if expected != (out_h, out_w):
        raise QuantizationError(f"{name} output shape {out.shape} does not match its padding and strides")
    act_min, act_max = fixed_point.activation_range(int(op.option("fusedActivationFunction")), out.scale,
                                                    out.zero_point)
    emit, prefix = op.emit, op.prefix
    emit.array("int8_t", f"{prefix}_filter", filt.values())
    bias_name = _bias(emit, prefix, bias)
    _per_channel(emit, prefix, data, filt, out, out_c)
    emit.params("tinyml_conv_params", f"{prefix}_params", {
        "in_h": in_h, "in_w": in_w, "in_c": in_c, "out_h": out_h, "out_w": out_w, "out_c": out_c,
        "filter_h": filter_h, "filter_w": filter_w, "stride_h": stride_h, "stride_w": stride_w,
        "pad_h": fixed_point.compute_padding(stride_h, in_h, filter_h, out_h),
        "pad_w": fixed_point.compute_padding(stride_w, in_w, filter_w, out_w),
        "depth_multiplier": out_c // in_c if depthwise else 1,
        "input_offset": -data.zero_point, "output_offset": out.zero_point, "act_min": act_min, "act_max": act_max})
    kernel = "tinyml_depthwise_conv_2d" if depthwise else "tinyml_conv_2d"
    emit.calls.append(f"  {kernel}(&{prefix}_params, {op.input_pointers[0]}, {prefix}_filter, {bias_name}, "
                      f"{prefix}_multiplier, {prefix}_shift, {op.output_pointer});")


def _conv(op: OpContext) -> None:
    _conv_like(op, depthwise=False)


def _depthwise(op: OpContext) -> None:
    _conv_like(op, depthwise=True)


def _fully_connected(op: OpContext) -> None:
    data, filt, bias, out = op.tensor(0), op.tensor(1), op.optional(2), op.output
    _check_int8("FULLY_CONNECTED", data, filt, out)
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
    bias_name = _bias(emit, prefix, bias)
    emit.array("int32_t", f"{prefix}_multiplier", [m for m, _ in pairs])
    emit.array("int32_t", f"{prefix}_shift", [s for _, s in pairs])
    emit.params("tinyml_fc_params", f"{prefix}_params", {
        "batches": _size(data) // in_n, "in_n": in_n, "out_n": out_n, "input_offset": -data.zero_point,
        "filter_offset": -filt.zero_point, "output_offset": out.zero_point, "per_channel": int(per_channel),
        "act_min": act_min, "act_max": act_max})
    emit.calls.append(f"  tinyml_fully_connected(&{prefix}_params, {op.input_pointers[0]}, {prefix}_filter, "
                      f"{bias_name}, {prefix}_multiplier, {prefix}_shift, {op.output_pointer});")


def _pool(kernel: str, name: str) -> Lowerer:
    def lower_pool(op: OpContext) -> None:
        data, out = op.tensor(0), op.output
        _check_int8(name, data, out)
        in_h, in_w, c = _hwc(data.shape, f"{name} input")
        out_h, out_w, _ = _hwc(out.shape, f"{name} output")
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


def _copy(name: str) -> Lowerer:
    def lower_copy(op: OpContext) -> None:
        data, out = op.tensor(0), op.output
        _check_int8(name, data, out)
        if data.scales != out.scales or data.zero_points != out.zero_points or _size(data) != _size(out):
            raise QuantizationError(f"{name} changes the quantization of {_label(data)!r}; the C target copies bytes "
                                    "only")
        op.emit.calls.append(f"  tinyml_copy({op.input_pointers[0]}, {op.output_pointer}, {_size(out)});")
    return lower_copy


def _add(op: OpContext) -> None:
    a, b, out = op.tensor(0), op.tensor(1), op.output
    _check_int8("ADD", a, b, out)
    if a.shape != b.shape or _size(a) != _size(out) or a.data is not None or b.data is not None:
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
        "size": _size(out), "input1_offset": -a.zero_point, "input2_offset": -b.zero_point,
        "output_offset": out.zero_point, "left_shift": left_shift, "input1_multiplier": m1, "input2_multiplier": m2,
        "output_multiplier": mo, "input1_shift": s1, "input2_shift": s2, "output_shift": so,
        "act_min": act_min, "act_max": act_max})
    op.emit.calls.append(f"  tinyml_add(&{op.prefix}_params, {op.input_pointers[0]}, {op.input_pointers[1]}, "
                         f"{op.output_pointer});")


def _mean(op: OpContext) -> None:
    data, axis, out = op.tensor(0), op.optional(1), op.output
    _check_int8("MEAN", data, out)
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
    _check_int8("SOFTMAX", data, out)
    beta = float(op.option("beta"))
    depth = data.shape[-1]
    op.emit.params("tinyml_softmax_params", f"{op.prefix}_params", {
        "outer": _size(data) // depth, "depth": depth,
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
        "size": _size(out), "input_zero_point": data.zero_point, "output_zero_point": out.zero_point,
        "multiplier": multiplier, "shift": shift})
    op.emit.calls.append(f"  tinyml_requantize(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")


_LOWERERS: dict[str, Lowerer] = {
    "ADD": _add,
    "AVERAGE_POOL_2D": _pool("tinyml_average_pool_2d", "AVERAGE_POOL_2D"),
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _depthwise,
    "EXPAND_DIMS": _copy("EXPAND_DIMS"),
    "FULLY_CONNECTED": _fully_connected,
    "MAX_POOL_2D": _pool("tinyml_max_pool_2d", "MAX_POOL_2D"),
    "MEAN": _mean,
    "QUANTIZE": _quantize,
    "RESHAPE": _copy("RESHAPE"),
    "SOFTMAX": _softmax,
    "SQUEEZE": _copy("SQUEEZE"),
}
