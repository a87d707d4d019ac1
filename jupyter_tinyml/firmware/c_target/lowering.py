"""From a .tflite to C text: each operator becomes one kernel call with its parameters computed on the host.

Pure: bytes in, source text out. The quantization parameters follow what TFLite's kernels compute in Prepare
(conv.cc/depthwise_conv.cc PopulateConvolutionQuantizationParams, fully_connected.cc
GetQuantizedConvolutionMultipler, add.cc, reduce.cc, quantize.cc), so the integer arithmetic on the device is
the reference kernels' own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ...errors import QuantizationError
from ...model.tflite import TFLite, _enum_names, _opcode_name, _root, _schema, model_bytes
from ..c_code import c_string, float_literal
from . import fixed_point
from .memory_plan import Buffer, plan

SUPPORTED_OPS = ("ADD", "AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS", "FULLY_CONNECTED",
                 "MAX_POOL_2D", "MEAN", "QUANTIZE", "RESHAPE", "SOFTMAX", "SQUEEZE")
_PER_ROW = 16


@dataclass
class _Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: list[float]
    zero_points: list[int]
    data: np.ndarray | None  # constant tensors only

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def scale(self) -> float:
        return self.scales[0] if self.scales else 0.0

    @property
    def zero_point(self) -> int:
        return self.zero_points[0] if self.zero_points else 0


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

    def array(self, ctype: str, name: str, values: Any) -> str:
        flat = [int(v) for v in np.asarray(values).reshape(-1)]
        rows = [", ".join(str(v) for v in flat[i:i + _PER_ROW]) for i in range(0, len(flat), _PER_ROW)]
        self.constants.append(f"static const {ctype} {name}[{len(flat)}] = {{\n  " + ",\n  ".join(rows) + "\n};")
        self.weights_bytes += len(flat) * (1 if ctype == "int8_t" else 4)
        return name

    def params(self, ctype: str, name: str, fields: dict[str, Any]) -> str:
        body = ", ".join(f".{key} = {value}" for key, value in fields.items())
        self.constants.append(f"static const {ctype} {name} = {{{body}}};")
        return name


def _tensor(model: Any, subgraph: Any, index: int) -> _Tensor:
    tensor = subgraph.Tensors(index)
    quantization = tensor.Quantization()
    scales: list[float] = []
    zero_points: list[int] = []
    if quantization is not None and quantization.ScaleLength():
        scales = [float(s) for s in quantization.ScaleAsNumpy()]
        zero_points = [int(z) for z in quantization.ZeroPointAsNumpy()] if quantization.ZeroPointLength() else [0]
    dtype = _enum_names("TensorType").get(tensor.Type(), f"type{tensor.Type()}").lower()
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    data = None
    buffer = model.Buffers(tensor.Buffer())
    if buffer is not None and buffer.DataLength() > 0:
        raw = buffer.DataAsNumpy().tobytes()
        data = np.frombuffer(raw, dtype={"int8": np.int8, "int32": np.int32, "int64": np.int64,
                                         "float32": np.float32, "uint8": np.uint8}[dtype]).reshape(shape)
    name = tensor.Name().decode("utf-8", "replace") if tensor.Name() else f"t{index}"
    return _Tensor(index, name, shape, dtype, scales, zero_points, data)


def _options(operator: Any, cls_name: str) -> Any:
    table = operator.BuiltinOptions()
    options = getattr(_schema(), cls_name)()
    if table is not None:
        options.Init(table.Bytes, table.Pos)
    return options


def _hwc(shape: tuple[int, ...], what: str) -> tuple[int, int, int]:
    if len(shape) != 4 or shape[0] != 1:
        raise QuantizationError(f"{what} has shape {shape}; the C target runs batch-1 NHWC tensors only")
    return shape[1], shape[2], shape[3]


def lower(tflite: TFLite, name: str = "model") -> Lowered:
    """The C header and source for the model; raises QuantizationError for what the C target cannot run."""
    data = model_bytes(tflite)
    model = _root(data)
    if model.SubgraphsLength() != 1:
        raise QuantizationError("the model has several subgraphs (control flow); the C target runs one — "
                                "remove tf.cond/while loops from the model and convert again")
    subgraph = model.Subgraphs(0)
    operators = [subgraph.Operators(o) for o in range(subgraph.OperatorsLength())]
    op_names = [_opcode_name(model.OperatorCodes(op.OpcodeIndex()))[0] for op in operators]
    tensors = {i: _tensor(model, subgraph, i) for i in range(subgraph.TensorsLength())}
    operators, op_names = _without_shape_arithmetic(operators, op_names, tensors)
    unsupported = sorted({n for n in op_names if n not in SUPPORTED_OPS})
    if unsupported:
        note = (" (DEQUANTIZE only appears in models with float input or output: convert with int8 input and "
                "output)" if "DEQUANTIZE" in unsupported else "")
        raise QuantizationError(f"the C target has no kernel for {', '.join(unsupported)}{note} — it supports "
                                f"{', '.join(SUPPORTED_OPS)}; replace the layers that make "
                                f"{'it' if len(unsupported) == 1 else 'them'} or use the Arduino target")
    if not operators:
        raise QuantizationError("the model has no operators, so there is nothing to run — convert the model again")
    if subgraph.InputsLength() != 1 or subgraph.OutputsLength() != 1:
        raise QuantizationError("the C target runs models with exactly one input and one output")
    graph_in, graph_out = subgraph.Inputs(0), subgraph.Outputs(0)
    for which, index in (("input", graph_in), ("output", graph_out)):
        tensor = tensors[index]
        if tensor.dtype != "int8" or len(tensor.scales) != 1:
            raise QuantizationError(f"the model's {which} is {tensor.dtype}, not per-tensor int8 — convert with "
                                    "quantization='int8' (full integer, int8 input and output) for the C target")

    # Lifetimes of the activations that live in the arena (not the caller's input and output buffers).
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for position, operator in enumerate(operators):
        for t in operator.OutputsAsNumpy():
            first.setdefault(int(t), position)
            last[int(t)] = max(last.get(int(t), position), position)
        for t in operator.InputsAsNumpy():
            t = int(t)
            if t >= 0 and tensors[t].data is None and t in first:
                last[t] = max(last[t], position)
    planned = [Buffer(t, tensors[t].name, tensors[t].size, first[t], last[t]) for t in first
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
    for position, (operator, op_name) in enumerate(zip(operators, op_names)):
        ins = [int(t) for t in operator.InputsAsNumpy()]
        out = int(operator.OutputsAsNumpy()[0])
        _LOWERERS[op_name](emit, f"op{position}", operator, [tensors[t] if t >= 0 else None for t in ins],
                           tensors[out], [pointer(t) if activation(t) else "0" for t in ins], pointer(out))
        emit.calls[-1] = f"  /* {position}: {op_name} */\n{emit.calls[-1]}"

    source_in, source_out = tensors[graph_in], tensors[graph_out]
    distinct = sorted(set(op_names))
    model_name = c_string(name)  # refuses names that are not printable ASCII
    header = (
        f"/* model_c.h — generated by jupyter-tinyml from the .tflite ({len(operators)} ops); do not edit. */\n"
        "#ifndef TINYML_MODEL_C_H_\n#define TINYML_MODEL_C_H_\n\n#include <stdint.h>\n\n"
        f"#define TINYML_INPUT_BYTES  {source_in.size}\n"
        f"#define TINYML_OUTPUT_BYTES {source_out.size}\n"
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
                           f"{b.name[:60].encode('ascii', 'replace').decode().replace('*/', '* /')}" for b in buffers)
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
    return Lowered(header, source, arena_bytes, emit.weights_bytes, op_names, buffers, source_in.size,
                   source_out.size, source_in.scale, source_in.zero_point, source_out.scale, source_out.zero_point)


def _without_shape_arithmetic(operators: list, op_names: list[str], tensors: dict[int, _Tensor]) -> tuple[list, list]:
    """The operators minus those that only compute a RESHAPE's target shape (Keras 3 Flatten with a dynamic batch
    emits SHAPE -> STRIDED_SLICE -> PACK): every shape is static in the file, so the C target needs none of them."""
    keep = [True] * len(operators)
    consumers: dict[int, list[tuple[int, int]]] = {}
    for position, operator in enumerate(operators):
        for slot, t in enumerate(operator.InputsAsNumpy()):
            consumers.setdefault(int(t), []).append((position, slot))
    for position in reversed(range(len(operators))):
        if op_names[position] not in _SHAPE_ARITHMETIC:
            continue
        outputs = [int(t) for t in operators[position].OutputsAsNumpy()]
        if all(tensors[t].dtype in ("int32", "int64") and consumers.get(t) and
               all((op_names[p] == "RESHAPE" and slot == 1) or (not keep[p]) for p, slot in consumers[t])
               for t in outputs):
            keep[position] = False
    return ([op for op, k in zip(operators, keep) if k], [n for n, k in zip(op_names, keep) if k])


_SHAPE_ARITHMETIC = frozenset({"SHAPE", "STRIDED_SLICE", "PACK", "CONCATENATION", "GATHER", "SLICE"})


# ------------------------------------------------------------------------------------------------ the ops

Lowerer = Callable[[_Emitter, str, Any, list, _Tensor, list, str], None]


def _check_int8(op: str, *tensors: _Tensor | None) -> None:
    for tensor in tensors:
        if tensor is not None and tensor.dtype != "int8":
            raise QuantizationError(f"{op} on a {tensor.dtype} tensor ({tensor.name!r}); the C target runs int8 "
                                    "ops only — convert with quantization='int8'")


def _per_channel(emit: _Emitter, prefix: str, data: _Tensor, filt: _Tensor, out: _Tensor, channels: int) -> None:
    """conv.cc / depthwise_conv.cc: effective scale = double(in) * double(filter[c]) / double(out) per channel."""
    multipliers, shifts = [], []
    for c in range(channels):
        filter_scale = filt.scales[c] if len(filt.scales) > 1 else filt.scales[0]
        m, s = fixed_point.quantize_multiplier(data.scale * filter_scale / out.scale)
        multipliers.append(m)
        shifts.append(s)
    emit.array("int32_t", f"{prefix}_multiplier", multipliers)
    emit.array("int32_t", f"{prefix}_shift", shifts)


def _bias(emit: _Emitter, prefix: str, bias: _Tensor | None) -> str:
    if bias is None or bias.data is None:
        return "0"
    return emit.array("int32_t", f"{prefix}_bias", bias.data)


def _conv_like(emit: _Emitter, prefix: str, operator: Any, ins: list, out: _Tensor, ptrs: list, out_ptr: str,
               depthwise: bool) -> None:
    op = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    data, filt, bias = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    _check_int8(op, data, filt, out)
    options = _options(operator, "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
    if options.DilationHFactor() not in (0, 1) or options.DilationWFactor() not in (0, 1):
        raise QuantizationError(f"{op} with dilation {options.DilationHFactor()}x{options.DilationWFactor()}: the C "
                                "target supports dilation 1 only — remove dilation_rate from the layer")
    if filt.data is None or any(z != 0 for z in filt.zero_points):
        raise QuantizationError(f"{op} needs constant, symmetric int8 weights; convert with quantization='int8'")
    in_h, in_w, in_c = _hwc(data.shape, f"{op} input")
    out_h, out_w, out_c = _hwc(out.shape, f"{op} output")
    filter_h, filter_w = filt.shape[1], filt.shape[2]
    if depthwise:
        if out_c % in_c:
            raise QuantizationError(f"{op} with {in_c} input and {out_c} output channels is not a channel multiple")
    elif filt.shape[3] != in_c:
        raise QuantizationError(f"{op} with groups (filter depth {filt.shape[3]}, input {in_c}) is not supported")
    same = options.Padding() == _schema().Padding.SAME
    stride_h, stride_w = options.StrideH(), options.StrideW()
    expected = (fixed_point.output_size(same, in_h, filter_h, stride_h),
                fixed_point.output_size(same, in_w, filter_w, stride_w))
    if expected != (out_h, out_w):
        raise QuantizationError(f"{op} output shape {out.shape} does not match its padding and strides")
    act_min, act_max = fixed_point.activation_range(options.FusedActivationFunction(), out.scale, out.zero_point)
    emit.array("int8_t", f"{prefix}_filter", filt.data)
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
    emit.calls.append(f"  {kernel}(&{prefix}_params, {ptrs[0]}, {prefix}_filter, {bias_name}, "
                      f"{prefix}_multiplier, {prefix}_shift, {out_ptr});")


def _conv(emit, prefix, operator, ins, out, ptrs, out_ptr):  # type: ignore[no-untyped-def]
    _conv_like(emit, prefix, operator, ins, out, ptrs, out_ptr, depthwise=False)


def _depthwise(emit, prefix, operator, ins, out, ptrs, out_ptr):  # type: ignore[no-untyped-def]
    _conv_like(emit, prefix, operator, ins, out, ptrs, out_ptr, depthwise=True)


def _fully_connected(emit, prefix, operator, ins, out, ptrs, out_ptr):  # type: ignore[no-untyped-def]
    data, filt, bias = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    _check_int8("FULLY_CONNECTED", data, filt, out)
    if filt.data is None or len(filt.shape) != 2:
        raise QuantizationError("FULLY_CONNECTED needs constant 2-D int8 weights; convert with quantization='int8'")
    options = _options(operator, "FullyConnectedOptions")
    out_n, in_n = filt.shape
    per_channel = len(filt.scales) > 1
    if per_channel:
        pairs = [fixed_point.quantize_multiplier(data.scale * s / out.scale) for s in filt.scales]
    else:
        # fully_connected.cc GetQuantizedConvolutionMultipler: the float32 product of the two scales, then double.
        product = float(np.float32(data.scale) * np.float32(filt.scale))
        pairs = [fixed_point.quantize_multiplier(product / out.scale)]
    act_min, act_max = fixed_point.activation_range(options.FusedActivationFunction(), out.scale, out.zero_point)
    emit.array("int8_t", f"{prefix}_filter", filt.data)
    bias_name = _bias(emit, prefix, bias)
    emit.array("int32_t", f"{prefix}_multiplier", [m for m, _ in pairs])
    emit.array("int32_t", f"{prefix}_shift", [s for _, s in pairs])
    emit.params("tinyml_fc_params", f"{prefix}_params", {
        "batches": data.size // in_n, "in_n": in_n, "out_n": out_n, "input_offset": -data.zero_point,
        "filter_offset": -filt.zero_point, "output_offset": out.zero_point, "per_channel": int(per_channel),
        "act_min": act_min, "act_max": act_max})
    emit.calls.append(f"  tinyml_fully_connected(&{prefix}_params, {ptrs[0]}, {prefix}_filter, {bias_name}, "
                      f"{prefix}_multiplier, {prefix}_shift, {out_ptr});")


def _pool(kernel: str, op: str) -> Lowerer:
    def lower_pool(emit, prefix, operator, ins, out, ptrs, out_ptr):  # type: ignore[no-untyped-def]
        data = ins[0]
        _check_int8(op, data, out)
        options = _options(operator, "Pool2DOptions")
        in_h, in_w, c = _hwc(data.shape, f"{op} input")
        out_h, out_w, _ = _hwc(out.shape, f"{op} output")
        filter_h, filter_w = options.FilterHeight(), options.FilterWidth()
        stride_h, stride_w = options.StrideH(), options.StrideW()
        act_min, act_max = fixed_point.activation_range(options.FusedActivationFunction(), out.scale, out.zero_point)
        emit.params("tinyml_pool_params", f"{prefix}_params", {
            "in_h": in_h, "in_w": in_w, "c": c, "out_h": out_h, "out_w": out_w,
            "filter_h": filter_h, "filter_w": filter_w, "stride_h": stride_h, "stride_w": stride_w,
            "pad_h": fixed_point.compute_padding(stride_h, in_h, filter_h, out_h),
            "pad_w": fixed_point.compute_padding(stride_w, in_w, filter_w, out_w),
            "act_min": act_min, "act_max": act_max})
        emit.calls.append(f"  {kernel}(&{prefix}_params, {ptrs[0]}, {out_ptr});")
    return lower_pool


def _copy(op: str) -> Lowerer:
    def lower_copy(emit, prefix, operator, ins, out, ptrs, out_ptr):  # type: ignore[no-untyped-def]
        data = ins[0]
        _check_int8(op, data, out)
        if data.scales != out.scales or data.zero_points != out.zero_points or data.size != out.size:
            raise QuantizationError(f"{op} changes the quantization of {data.name!r}; the C target copies bytes only")
        emit.calls.append(f"  tinyml_copy({ptrs[0]}, {out_ptr}, {out.size});")
    return lower_copy


def _add(emit, prefix, operator, ins, out, ptrs, out_ptr):  # type: ignore[no-untyped-def]
    a, b = ins[0], ins[1]
    _check_int8("ADD", a, b, out)
    if a.shape != b.shape or a.size != out.size or a.data is not None or b.data is not None:
        raise QuantizationError(f"ADD of shapes {a.shape} and {b.shape}: the C target adds two activations of the "
                                "same shape only (no broadcasting, no constants)")
    options = _options(operator, "AddOptions")
    left_shift = 20
    twice_max = 2 * max(a.scale, b.scale)
    m1, s1 = fixed_point.quantize_multiplier(a.scale / twice_max)
    m2, s2 = fixed_point.quantize_multiplier(b.scale / twice_max)
    mo, so = fixed_point.quantize_multiplier(twice_max / ((1 << left_shift) * out.scale))
    act_min, act_max = fixed_point.activation_range(options.FusedActivationFunction(), out.scale, out.zero_point)
    emit.params("tinyml_add_params", f"{prefix}_params", {
        "size": out.size, "input1_offset": -a.zero_point, "input2_offset": -b.zero_point,
        "output_offset": out.zero_point, "left_shift": left_shift, "input1_multiplier": m1, "input2_multiplier": m2,
        "output_multiplier": mo, "input1_shift": s1, "input2_shift": s2, "output_shift": so,
        "act_min": act_min, "act_max": act_max})
    emit.calls.append(f"  tinyml_add(&{prefix}_params, {ptrs[0]}, {ptrs[1]}, {out_ptr});")


def _mean(emit, prefix, operator, ins, out, ptrs, out_ptr):  # type: ignore[no-untyped-def]
    data, axis = ins[0], ins[1]
    _check_int8("MEAN", data, out)
    axes = sorted(int(a) % 4 for a in axis.data.reshape(-1)) if axis is not None and axis.data is not None else []
    if len(data.shape) != 4 or axes != [1, 2] or data.shape[0] != 1:
        raise QuantizationError(f"MEAN over axes {axes} of shape {data.shape}: the C target averages over height "
                                "and width of a batch-1 NHWC tensor only (GlobalAveragePooling2D)")
    # keep_dims only changes the output shape: LiteRT's reference MEAN takes QuantizedMeanOrSum either way.
    multiplier, shift = fixed_point.quantize_multiplier(data.scale / out.scale)
    same = np.float32(data.scale) == np.float32(out.scale) and data.zero_point == out.zero_point
    emit.params("tinyml_mean_params", f"{prefix}_params", {
        "h": data.shape[1], "w": data.shape[2], "c": data.shape[3], "same_quantization": int(bool(same)),
        "input_zero_point": data.zero_point,
        "output_zero_point": out.zero_point, "multiplier": multiplier, "shift": shift})
    emit.calls.append(f"  tinyml_mean_hw(&{prefix}_params, {ptrs[0]}, {out_ptr});")


def _softmax(emit, prefix, operator, ins, out, ptrs, out_ptr):  # type: ignore[no-untyped-def]
    data = ins[0]
    _check_int8("SOFTMAX", data, out)
    beta = float(_options(operator, "SoftmaxOptions").Beta())
    depth = data.shape[-1]
    emit.params("tinyml_softmax_params", f"{prefix}_params", {
        "outer": data.size // depth, "depth": depth,
        "beta_times_input_scale": float_literal(beta * data.scale),
        "inverse_output_scale": float_literal(1.0 / out.scale), "output_zero_point": out.zero_point})
    emit.calls.append(f"  tinyml_softmax(&{prefix}_params, {ptrs[0]}, {out_ptr});")


def _quantize(emit, prefix, operator, ins, out, ptrs, out_ptr):  # type: ignore[no-untyped-def]
    data = ins[0]
    if data.dtype != "int8" or out.dtype != "int8":
        raise QuantizationError(f"QUANTIZE from {data.dtype} to {out.dtype}: the C target requantizes int8 to int8 "
                                "only — convert with int8 input and output")
    multiplier, shift = fixed_point.quantize_multiplier(data.scale / out.scale)
    emit.params("tinyml_requantize_params", f"{prefix}_params", {
        "size": out.size, "input_zero_point": data.zero_point, "output_zero_point": out.zero_point,
        "multiplier": multiplier, "shift": shift})
    emit.calls.append(f"  tinyml_requantize(&{prefix}_params, {ptrs[0]}, {out_ptr});")


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
