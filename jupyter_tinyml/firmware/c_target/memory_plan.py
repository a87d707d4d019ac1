"""The static memory plan: activation buffers placed in one arena by lifetime, greedy first-fit by size.

A pure function of (size, first use, last use) per buffer, like TFLite Micro's GreedyMemoryPlanner: the largest
buffers are placed first, each at the lowest offset that does not overlap a placed buffer alive at the same time.
"""
from __future__ import annotations

from dataclasses import dataclass

ALIGNMENT = 16


@dataclass(frozen=True)
class Buffer:
    """One activation tensor in the arena: bytes, first and last op index that touch it, offset."""

    tensor: int
    name: str
    size: int
    first: int
    last: int
    offset: int = 0


def _aligned(value: int) -> int:
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def plan(buffers: list[Buffer]) -> tuple[list[Buffer], int]:
    """(the buffers with offsets, arena total in bytes). Offsets and the total are multiples of 16."""
    placed: list[Buffer] = []
    for buffer in sorted(buffers, key=lambda b: (-b.size, b.first, b.tensor)):
        alive = sorted((p for p in placed if p.first <= buffer.last and buffer.first <= p.last),
                       key=lambda p: p.offset)
        offset = 0
        for other in alive:
            if offset + buffer.size <= other.offset:
                break
            offset = max(offset, _aligned(other.offset + other.size))
        placed.append(Buffer(buffer.tensor, buffer.name, buffer.size, buffer.first, buffer.last, offset))
    total = max((_aligned(b.offset + b.size) for b in placed), default=0)
    return sorted(placed, key=lambda b: b.offset), total
