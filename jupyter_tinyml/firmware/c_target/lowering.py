"""From a .tflite to C text: each operator becomes one kernel call with its parameters computed on the host.

Pure: the model's Graph (tflite.read) in, source text out. The quantization parameters follow what TFLite's
kernels compute in Prepare (conv.cc/depthwise_conv.cc PopulateConvolutionQuantizationParams, fully_connected.cc
GetQuantizedConvolutionMultipler, add.cc, reduce.cc, quantize.cc), so the integer arithmetic on the device is
the reference kernels' own.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...errors import CorruptModelError, QuantizationError
from ...model.tflite import Graph, Operator, Tensor, TFLite, model_bytes, read
from ..c_code import c_comment, c_string, float_literal
from .conv_lowering import LOWERERS as CONV_LOWERERS
from .depthwise_lowering import LOWERERS as DEPTHWISE_LOWERERS
from .memory_plan import Buffer, plan
from .op_context import Emitter, Lowerer, OpContext, label, size
from .other_ops import LOWERERS as OTHER_LOWERERS
from .shape_folding import without_shape_arithmetic

# Each op family is lowered in its own module (kernels in the matching kernels/ file); one table joins them.
_LOWERERS: dict[str, Lowerer] = {**CONV_LOWERERS, **DEPTHWISE_LOWERERS, **OTHER_LOWERERS}
SUPPORTED_OPS = tuple(sorted(_LOWERERS))


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


def layer_name(tensor_name: str) -> str | None:
    """The Keras layer that made a tensor, from the scope in its TFLite name: "sequential/conv1d/Relu;..." ->
    "conv1d"; None for a name without a layer scope ("StatefulPartitionedCall_1:0", the model's output). Keras 3
    traces the model inside a scope that TF makes unique by appending "_1" to every level ("sequential_1/conv1d_1/"
    for the layer conv1d): when the model's level has it, the layer's loses it."""
    parts = tensor_name.split(";")[0].split("/")
    if len(parts) < 3:
        return None
    model, layer = parts[0], parts[1]
    return layer[:-2] if model.endswith("_1") and layer.endswith("_1") else layer


def layer_of(operator: Operator, tensors: Sequence[Tensor]) -> str:
    """Which layer an operator comes from, for a message: "layer 'conv1d'", from its output's name or else its
    constants' (the converter names the model's output tensor after the call, not the layer)."""
    candidates = [operator.outputs[0]] if operator.outputs else []
    candidates += [t for t in operator.inputs if t >= 0 and tensors[t].data is not None]
    for t in candidates:
        name = layer_name(tensors[t].name)
        if name:
            return f"layer {name!r}"
    return "the layer that makes the model's output"


def _layers(op_name: str, operators: Sequence[Operator], tensors: Sequence[Tensor]) -> str:
    """Where the operators `op_name` come from, in model order: "layer 'a'" or "layer 'a', layer 'b'"."""
    return ", ".join(dict.fromkeys(layer_of(o, tensors) for o in operators if o.name == op_name))


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
            raise CorruptModelError(f"{where} reads tensor {t} ({label(tensors[t])[:60]!r}), which no earlier "
                                    "operator writes")
    for t in (*operator.inputs, *operator.outputs):
        if t >= 0 and tensors[t].dtype == "int8" and tensors[t].scales and min(tensors[t].scales) <= 0:
            raise CorruptModelError(f"{where}: tensor {t} ({label(tensors[t])[:60]!r}) has a quantization "
                                    "scale of 0")


def lower(tflite: TFLite | Graph, name: str = "model") -> Lowered:
    """The C header and source for the model (its bytes, path or Graph); raises QuantizationError for what the C
    target cannot run."""
    graph = tflite if isinstance(tflite, Graph) else read(model_bytes(tflite))
    if len(graph.subgraphs) != 1:
        raise QuantizationError("the model has several subgraphs (control flow); the C target runs one — "
                                "remove tf.cond/while loops from the model and convert again")
    tensors = graph.tensors
    operators = without_shape_arithmetic(list(graph.operators), tensors)
    op_names = [operator.name for operator in operators]
    unsupported = sorted({n for n in op_names if n not in SUPPORTED_OPS})
    if unsupported:
        note = (" (DEQUANTIZE only appears in models with float input or output: convert with int8 input and "
                "output)" if "DEQUANTIZE" in unsupported else "")
        if {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"} & set(unsupported):
            note += (" (the converter wraps a dilated convolution in SPACE_TO_BATCH_ND/BATCH_TO_SPACE_ND when the "
                     "batch size is free: build the model with keras.Input(..., batch_size=1), and the C target runs "
                     "it as one dilated CONV_2D)")
        where = ", ".join(f"{n} ({_layers(n, operators, tensors)})" for n in unsupported)
        raise QuantizationError(f"the C target has no kernel for {where}{note} — replace "
                                f"{'that layer' if len(unsupported) == 1 else 'those layers'}, or use "
                                f"target='tflm' (or 'auto', which falls back to TFLite Micro); the C target "
                                f"supports {', '.join(SUPPORTED_OPS)}")
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
    planned = [Buffer(t, label(tensors[t]), size(tensors[t]), first[t], last[t]) for t in first
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

    emit = Emitter()
    for position, operator in enumerate(operators):
        _check_wiring(operator, position, tensors, first, graph_in)
        out = operator.outputs[0]
        try:
            _LOWERERS[operator.name](OpContext(
                emit=emit, prefix=f"op{position}", operator=operator,
                inputs=[tensors[t] if t >= 0 else None for t in operator.inputs], output=tensors[out],
                input_pointers=[pointer(t) if activation(t) else "0" for t in operator.inputs],
                output_pointer=pointer(out)))
        except QuantizationError as error:
            # Name the layer the user wrote, not only the op the converter made of it.
            text = str(error)
            head = f"{operator.name} in {layer_of(operator, tensors)}"
            raise QuantizationError(head + text[len(operator.name):] if text.startswith(operator.name)
                                    else f"{head}: {text}") from None
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
        f"#define TINYML_INPUT_BYTES  {size(source_in)}\n"
        f"#define TINYML_OUTPUT_BYTES {size(source_out)}\n"
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
    return Lowered(header, source, arena_bytes, emit.weights_bytes, op_names, buffers, size(source_in),
                   size(source_out), source_in.scale, source_in.zero_point, source_out.scale, source_out.zero_point)


# ------------------------------------------------------------------------------------------------ the ops
