"""Shape arithmetic folded at generation: every shape is static in the file, so the operators that only compute a
shape at run time are dropped before lowering. Keras 3 emits such chains for a free batch axis: Flatten and Dense
on a 3-D input (SHAPE -> STRIDED_SLICE/GATHER -> REDUCE_PROD -> PACK/CONCATENATION -> RESHAPE's shape) and
Conv2DTranspose (SHAPE -> STRIDED_SLICE -> PACK -> TRANSPOSE_CONV's output shape). The kernels take their shapes
from the tensors' static shapes, so the chain's value is never needed on the device."""
from __future__ import annotations

from collections.abc import Sequence

from ...model.tflite import Operator, Tensor

# (op, input slot) that read a shape: their kernels use the output tensor's static shape instead.
SHAPE_SLOTS = frozenset({("RESHAPE", 1), ("TRANSPOSE_CONV", 0)})
# The integer ops such chains are made of; any of them is dropped when all it computes is a shape.
SHAPE_ARITHMETIC = frozenset({"SHAPE", "STRIDED_SLICE", "PACK", "CONCATENATION", "GATHER", "SLICE", "REDUCE_PROD",
                              "MUL", "ADD", "SUB", "FLOOR_DIV", "DIV", "CAST", "FILL", "EXPAND_DIMS", "SQUEEZE",
                              "RESHAPE", "UNPACK", "MAXIMUM", "MINIMUM"})


def without_shape_arithmetic(operators: list[Operator], tensors: Sequence[Tensor]) -> list[Operator]:
    """The operators minus those whose outputs are integer tensors read only as shapes (SHAPE_SLOTS), directly or
    through other such operators."""
    keep = [True] * len(operators)
    consumers: dict[int, list[tuple[int, int]]] = {}
    for position, operator in enumerate(operators):
        for slot, t in enumerate(operator.inputs):
            consumers.setdefault(t, []).append((position, slot))
    for position in reversed(range(len(operators))):
        if operators[position].name not in SHAPE_ARITHMETIC:
            continue
        if all(tensors[t].dtype in ("int32", "int64") and consumers.get(t) and
               all((operators[p].name, slot) in SHAPE_SLOTS or not keep[p] for p, slot in consumers[t])
               for t in operators[position].outputs):
            keep[position] = False
    return [operator for operator, kept in zip(operators, keep) if kept]
