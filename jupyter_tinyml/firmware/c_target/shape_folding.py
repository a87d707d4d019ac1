"""Shape arithmetic folded at generation: every shape is static in the file, so the operators that only compute a
RESHAPE's target shape at run time (Keras 3's Flatten with a dynamic batch: SHAPE -> STRIDED_SLICE -> PACK) are
dropped before lowering."""
from __future__ import annotations

from collections.abc import Sequence

from ...model.tflite import Operator, Tensor

def without_shape_arithmetic(operators: list[Operator], tensors: Sequence[Tensor]) -> list[Operator]:
    """The operators minus those that only compute a RESHAPE's target shape (Keras 3 Flatten with a dynamic batch
    emits SHAPE -> STRIDED_SLICE -> PACK): every shape is static in the file, so the C target needs none of them."""
    keep = [True] * len(operators)
    consumers: dict[int, list[tuple[int, int]]] = {}
    for position, operator in enumerate(operators):
        for slot, t in enumerate(operator.inputs):
            consumers.setdefault(t, []).append((position, slot))
    for position in reversed(range(len(operators))):
        if operators[position].name not in SHAPE_ARITHMETIC:
            continue
        if all(tensors[t].dtype in ("int32", "int64") and consumers.get(t) and
               all((operators[p].name == "RESHAPE" and slot == 1) or (not keep[p]) for p, slot in consumers[t])
               for t in operators[position].outputs):
            keep[position] = False
    return [operator for operator, kept in zip(operators, keep) if kept]


SHAPE_ARITHMETIC = frozenset({"SHAPE", "STRIDED_SLICE", "PACK", "CONCATENATION", "GATHER", "SLICE"})
