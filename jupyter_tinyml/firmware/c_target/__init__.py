"""The portable C target: a full-integer int8 .tflite as plain C99, no interpreter and no flatbuffer on the device.

`generate_c(tflite)` reads the model on the host, computes everything TFLite computes in Prepare (per-channel
multipliers and shifts, padding, activation bounds) and writes weights as `static const` arrays, a static memory
plan (one 16-byte-aligned arena, buffers reused by lifetime) and one kernel call per operator in execution order.
The kernels (kernels/, one file per op family) follow TFLite's reference int8 kernels, so outputs equal the
interpreter's with the reference op resolver, SOFTMAX, LOGISTIC and TANH included (no float exponential on the
device).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

from ...model.tflite import Graph, TFLite
from .lowering import SUPPORTED_OPS, Lowered, lower
from .memory_plan import Buffer

__all__ = ["CModel", "SUPPORTED_OPS", "generate_c", "kernel_files"]


@dataclass
class CModel:
    """The generated sources and what they cost.

    files: filename -> text: "model_c.h", "model_c.c" and every file of kernels/ (KERNEL_FILES); a build compiles
    each ".c" among them.
    arena_bytes: the memory plan's total; activation_bytes: the sum of every planned buffer (no reuse).
    weights_bytes: all `static const` data (weights, biases, multipliers, shifts).
    ops: the operators in execution order; plan: tensor name -> (offset, size).
    """

    name: str
    files: dict[str, str]
    arena_bytes: int
    activation_bytes: int
    weights_bytes: int
    ops: list[str]
    plan: dict[str, tuple[int, int]]
    input_bytes: int
    output_bytes: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    buffers: list[Buffer] = field(default_factory=list, repr=False)

    def __repr__(self) -> str:
        return (f"CModel({self.name!r}: {len(self.ops)} ops, arena {self.arena_bytes:,} bytes "
                f"(activations {self.activation_bytes:,} without reuse), weights {self.weights_bytes:,} bytes)")


def kernel_files() -> dict[str, str]:
    """The kernels' sources and headers, by file name: every file of kernels/, so a kernel split across files
    needs no list kept in step elsewhere."""
    folder = resources.files(__package__).joinpath("kernels")
    return {entry.name: entry.read_text(encoding="utf-8") for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith((".c", ".h"))}


def generate_c(tflite: TFLite | Graph, *, name: str = "model") -> CModel:
    """The C sources for a full-integer int8 model (int8 input and output, one of each): its bytes, path or Graph.

    Raises QuantizationError naming the op for an operator the C target has no kernel for, and for a model
    that is not full-integer int8.
    """
    lowered: Lowered = lower(tflite, name)
    return CModel(
        name=name,
        files={"model_c.h": lowered.header, "model_c.c": lowered.source, **kernel_files()},
        arena_bytes=lowered.arena_bytes,
        activation_bytes=sum(b.size for b in lowered.buffers),
        weights_bytes=lowered.weights_bytes,
        ops=lowered.ops,
        plan={b.name: (b.offset, b.size) for b in lowered.buffers},
        input_bytes=lowered.input_bytes,
        output_bytes=lowered.output_bytes,
        input_scale=lowered.input_scale,
        input_zero_point=lowered.input_zero_point,
        output_scale=lowered.output_scale,
        output_zero_point=lowered.output_zero_point,
        buffers=lowered.buffers,
    )
