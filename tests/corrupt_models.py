"""Seeded corruptions of a valid .tflite, the kinds a broken download, a bad disk or a hand edit leave behind:
truncation, byte flips, zeroed regions, swapped vtable entries, another file identifier, an empty file and huge
declared sizes. Deterministic for a seed, so a failure names the corruption that caused it."""
from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from typing import Any

Corruption = Callable[[bytes, random.Random], bytes]


def _tables(model: bytes) -> tuple[list[int], list[int]]:
    """(table positions, vector positions) of the flatbuffer, found with the TFLite schema's own reader."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    root = schema.Model.GetRootAs(model, 0)
    tables, vectors = [root._tab.Pos], []

    def visit(table: Any, vector_field: int | None = None) -> None:
        """Note a table and, when it has one, the vector at its field offset `vector_field`."""
        tables.append(table._tab.Pos)
        offset = table._tab.Offset(vector_field) if vector_field is not None else 0
        if offset:
            vectors.append(table._tab.Vector(offset))

    for s in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(s)
        visit(subgraph)
        for t in range(subgraph.TensorsLength()):
            visit(subgraph.Tensors(t), 4)  # shape
        for o in range(subgraph.OperatorsLength()):
            visit(subgraph.Operators(o), 6)  # inputs
    for b in range(root.BuffersLength()):
        visit(root.Buffers(b), 4)  # data
    for c in range(root.OperatorCodesLength()):
        visit(root.OperatorCodes(c))
    return tables, vectors


def truncated(model: bytes, rng: random.Random) -> bytes:
    return model[: rng.randrange(0, len(model))]


def flipped(model: bytes, rng: random.Random) -> bytes:
    data = bytearray(model)
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def random_bytes(model: bytes, rng: random.Random) -> bytes:
    data = bytearray(model)
    for _ in range(rng.randint(1, 16)):
        data[rng.randrange(8, len(data))] = rng.randrange(256)
    return bytes(data)


def zeroed(model: bytes, rng: random.Random) -> bytes:
    data = bytearray(model)
    start = rng.randrange(8, len(data))
    length = rng.choice((4, 16, 64, 256))
    data[start : start + length] = bytes(len(data[start : start + length]))
    return bytes(data)


def swapped_vtable(model: bytes, rng: random.Random) -> bytes:
    """Two field offsets of one table's vtable exchanged: each field now points at another's data."""
    data = bytearray(model)
    tables, _ = _tables(model)
    for _ in range(rng.randint(1, 3)):
        table = rng.choice(tables)
        vtable = table - struct.unpack_from("<i", data, table)[0]
        fields = (struct.unpack_from("<H", data, vtable)[0] - 4) // 2
        if fields >= 2:
            a, b = rng.sample(range(fields), 2)
            pa, pb = vtable + 4 + 2 * a, vtable + 4 + 2 * b
            data[pa : pa + 2], data[pb : pb + 2] = data[pb : pb + 2], data[pa : pa + 2]
    return bytes(data)


def other_identifier(model: bytes, rng: random.Random) -> bytes:
    identifier = rng.choice((b"TFL2", b"tfl3", b"\0\0\0\0", b"PK\x03\x04", bytes(rng.randrange(256) for _ in range(4))))
    return model[:4] + identifier + model[8:]


def empty(model: bytes, rng: random.Random) -> bytes:
    return rng.choice((b"", b"\0" * 8, model[:8], b"\0\0\0\0TFL3"))


def huge_sizes(model: bytes, rng: random.Random) -> bytes:
    """A vector's declared length (or a tensor dimension) set far beyond the file."""
    data = bytearray(model)
    _, vectors = _tables(model)
    vector = rng.choice(vectors)
    huge = rng.choice((0x7FFFFFFF, 0xFFFFFFFF, 1 << 24, 1 << 30, 65536))
    if rng.random() < 0.5:
        struct.pack_into("<I", data, vector - 4, huge)  # the length word before the vector
    else:
        struct.pack_into("<I", data, vector, huge)  # the first element (a shape dimension, an index, a byte run)
    return bytes(data)


CORRUPTIONS: tuple[Corruption, ...] = (truncated, flipped, random_bytes, zeroed, swapped_vtable, other_identifier,
                                       empty, huge_sizes)


def corrupted_models(model: bytes, count: int, seed: int = 12) -> Iterator[tuple[str, bytes]]:
    """`count` corruptions of `model`, each kind in turn: (label "kind#n", bytes), the same for the same seed."""
    rng = random.Random(seed)
    for n in range(count):
        corruption = CORRUPTIONS[n % len(CORRUPTIONS)]
        yield f"{corruption.__name__}#{n}", corruption(model, rng)
