"""The one reader of a .tflite: `read(bytes) -> Graph`, parsed once and then asked.

Contract (what other modules use; nothing else here walks the flatbuffer):

    graph = read(model_bytes(x))     # x: bytes, a path, or anything model_bytes takes; cached per content
    graph.ops                        # tuple[OpInfo]: operator kinds (name, version, count, supported_by_tflm)
    graph.inputs, graph.outputs      # tuple[TensorInfo]: the main subgraph's inputs/outputs, interpreter order
    graph.operators                  # tuple[Operator]: the main subgraph's operators in execution order, each
                                     #   with name, version, custom, inputs/outputs (tensor indices, -1 = none)
                                     #   and options (the schema's builtin options by field name, e.g. "strideH")
    graph.tensors                    # tuple[Tensor]: name, shape, dtype, quantization, constant data
    graph.input_indices, graph.output_indices, graph.subgraphs, graph.buffers, graph.size
    graph.unsupported_ops            # names TFLite Micro has no kernel for
    graph.per_channel_fully_connected  # positions of FULLY_CONNECTED ops with per-channel weight scales

Builtin ops are named as in TFLite's BuiltinOperator enum ("CONV_2D"), custom ops by their custom code; tensor
types as lower-case TensorType names ("int8", "float32"). The schema is the generated module that ships in
`tflite_micro`; it is imported on first read, so `import jupyter_tinyml` stays fast.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Union

from ..errors import CorruptModelError, QuantizationError

if TYPE_CHECKING:
    import numpy as np

TFLite = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]

FILE_IDENTIFIER = b"TFL3"
# Bytes per value of the tensor types a microcontroller model holds.
DTYPE_BYTES = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "float16": 2, "int32": 4, "uint32": 4,
               "float32": 4, "int64": 8, "uint64": 8, "float64": 8}
# How many parsed models `read` keeps: a notebook works on a handful at a time.
GRAPH_CACHE_SIZE = 16
# The most bytes one tensor may declare: far beyond any microcontroller, so a larger one is a damaged size field
# (and would make the arena search or the C generator allocate gigabytes).
MAX_TENSOR_BYTES = 1 << 31

_DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class OpInfo:
    """One operator kind the model uses: builtin name (e.g. "CONV_2D"), its version, how many times it occurs."""

    name: str
    version: int
    count: int
    supported_by_tflm: bool = True


def element_count(shape: tuple[int, ...]) -> int:
    """Values in a tensor of `shape`; an unknown (-1) or empty dimension counts as 1, a scalar is one value."""
    return math.prod(max(int(size), 1) for size in shape) if shape else 1


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "float32", ...
    scale: float | None = None  # None when not quantized
    zero_point: int | None = None

    @property
    def count(self) -> int:
        """Values per sample (see element_count)."""
        return element_count(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes per sample; 0 for a type with no fixed width (string, resource)."""
        return self.count * DTYPE_BYTES.get(self.dtype, 0)


@dataclass(frozen=True)
class Quantization:
    """A tensor's quantization: one scale and zero point per tensor, or one per channel along
    `quantized_dimension`. real = scale * (quantized - zero_point)."""

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    quantized_dimension: int = 0


@dataclass(frozen=True)
class Tensor:
    """A tensor of a subgraph. `data` holds a constant's raw little-endian bytes, None for an activation."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None
    buffer: int
    data: bytes | None
    variable: bool = False  # state an operator updates in place (an LSTM's), never an operator's output

    @property
    def count(self) -> int:
        return element_count(self.shape)

    @property
    def scales(self) -> tuple[float, ...]:
        return self.quantization.scales if self.quantization else ()

    @property
    def zero_points(self) -> tuple[int, ...]:
        return self.quantization.zero_points if self.quantization else ()

    @property
    def scale(self) -> float:
        """The first (per-tensor) scale, 0.0 when not quantized."""
        return self.scales[0] if self.scales else 0.0

    @property
    def zero_point(self) -> int:
        return self.zero_points[0] if self.zero_points else 0

    def values(self) -> np.ndarray:
        """The constant's values in its shape (read-only); ValueError for an activation or a type numpy lacks."""
        import numpy as np

        if self.data is None:
            raise ValueError(f"tensor {self.name!r} is not a constant: it has no values in the model")
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype).newbyteorder("<")).reshape(self.shape)


@dataclass(frozen=True)
class Operator:
    """One operator node: its kind, tensor indices (-1 for an omitted optional input) and builtin options."""

    name: str
    version: int
    custom: bool
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    # The schema's builtin options by field name ("padding", "strideH", "fusedActivationFunction", "beta", ...);
    # enums stay as the schema's integers. Empty for an op without options.
    options: Mapping[str, Any]


@dataclass(frozen=True)
class Subgraph:
    operators: tuple[Operator, ...]
    tensors: tuple[Tensor, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Graph:
    """A parsed .tflite. The main subgraph (index 0) is the one the interpreter runs; `operators`, `tensors`,
    `input_indices` and `output_indices` are its own, `ops` counts the kinds of every subgraph."""

    size: int  # bytes of the flatbuffer, which is what the model takes in flash
    subgraphs: tuple[Subgraph, ...]
    buffers: tuple[bytes, ...]
    ops: tuple[OpInfo, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    @property
    def operators(self) -> tuple[Operator, ...]:
        return self.subgraphs[0].operators

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        return self.subgraphs[0].tensors

    @property
    def input_indices(self) -> tuple[int, ...]:
        return self.subgraphs[0].inputs

    @property
    def output_indices(self) -> tuple[int, ...]:
        return self.subgraphs[0].outputs

    @property
    def unsupported_ops(self) -> list[str]:
        """Names of the ops TFLite Micro has no kernel for (builtin or custom), sorted."""
        return sorted({op.name for op in self.ops if not op.supported_by_tflm})

    @property
    def per_channel_fully_connected(self) -> tuple[int, ...]:
        """Positions (in `operators`) of the FULLY_CONNECTED ops whose weights carry one scale per output channel;
        a TFLite Micro build without per-channel FULLY_CONNECTED computes those with the wrong arithmetic."""
        return tuple(position for position, operator in enumerate(self.operators)
                     if operator.name == "FULLY_CONNECTED" and len(operator.inputs) > 1 and operator.inputs[1] >= 0
                     and len(self.tensors[operator.inputs[1]].scales) > 1)


# ------------------------------------------------------------------------------------------- reading


def _checked(data: bytes, name: str) -> bytes:
    if data[4:8] != FILE_IDENTIFIER:
        found = "it is shorter than 8 bytes" if len(data) < 8 else f"bytes 4:8 are {data[4:8]!r}, not b'TFL3'"
        raise QuantizationError(f"{name} is not a TFLite flatbuffer ({found}) — "
                                "pass the bytes that convert() returned or a .tflite file")
    return data


def model_bytes(tflite: TFLite) -> bytes:
    """The flatbuffer's bytes, from bytes or from a path; anything that is not a TFLite model is refused."""
    if isinstance(tflite, (bytes, bytearray, memoryview)):
        return _checked(bytes(tflite), f"the given {len(tflite)} bytes")
    if isinstance(tflite, (str, os.PathLike)):
        path = Path(tflite)
        if not path.is_file():
            raise QuantizationError(f"{path} is not a TFLite flatbuffer (no such file) — "
                                    "check the path, or pass the bytes that convert() returned")
        return _checked(path.read_bytes(), str(path))
    raise QuantizationError(f"a {type(tflite).__name__} is not a TFLite flatbuffer (expected bytes or a path) — "
                            "pass the bytes that convert() returned or the path of a .tflite file")


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


@lru_cache(maxsize=None)
def _enum_names(enum: str) -> dict[int, str]:
    cls = getattr(_schema(), enum)
    return {value: name for name, value in vars(cls).items() if not name.startswith("_") and isinstance(value, int)}


def builtin_op_names() -> list[str]:
    """Every name of TFLite's BuiltinOperator enum, sorted."""
    return sorted(_enum_names("BuiltinOperator").values())


def read(content: bytes) -> Graph:
    """The model in `content` (the flatbuffer's bytes, e.g. from model_bytes), parsed once and cached per content.

    Raises QuantizationError for bytes that are not a TFLite model, CorruptModelError for one that cannot be read
    or is inconsistent (every tensor index, buffer, shape and quantization is checked here, so the rest of the
    package and the native runtimes only ever see a model that holds together).
    """
    return _read(_checked(bytes(content), f"the given {len(content)} bytes"))


@lru_cache(maxsize=GRAPH_CACHE_SIZE)
def _read(content: bytes) -> Graph:
    schema = _schema()
    try:
        model = schema.Model.GetRootAs(content, 0)
        if model.SubgraphsLength() < 1:
            raise CorruptModelError("it has no subgraph")
        graph = _graph(model, len(content))
    except QuantizationError:
        raise
    except Exception as error:  # a truncated or corrupt flatbuffer fails in many ways
        detail = QuantizationError.first_line(error)[:200]
        raise CorruptModelError(f"the flatbuffer cannot be read ({type(error).__name__}: {detail})") from None
    _check(graph)
    return graph


def _check(graph: Graph) -> None:
    """Refuse a graph whose parts do not fit together: what a damaged file that still parses looks like. Cheap (one
    pass over tensors and operators), so every reader of the Graph can index without guarding."""
    for s, subgraph in enumerate(graph.subgraphs):
        where = f"subgraph {s}" if s else "the main subgraph"
        count = len(subgraph.tensors)
        if s == 0 and not (subgraph.inputs and subgraph.outputs):  # every consumer reads the first of each
            raise CorruptModelError(f"the main subgraph declares no {'input' if not subgraph.inputs else 'output'} "
                                    "tensor")
        for what, indices, lowest in (("input", subgraph.inputs, 0), ("output", subgraph.outputs, 0)):
            for index in indices:
                if not lowest <= index < count:
                    raise CorruptModelError(f"{where} names tensor {index} as an {what}, but it has {count} tensors")
        for position, operator in enumerate(subgraph.operators):
            label = f"{operator.name} (operator {position} of {where})"
            for index in operator.inputs + operator.outputs:
                if not -1 <= index < count:
                    raise CorruptModelError(f"{label} uses tensor {index}, but there are {count} tensors")
            # LiteRT crashes (a double free, a segfault) on the next two rather than refusing them.
            if operator.inputs and operator.inputs[0] < 0 and not operator.custom:
                raise CorruptModelError(f"{label} has no first input")
            for index in operator.outputs:
                if index >= 0 and subgraph.tensors[index].variable:
                    raise CorruptModelError(f"{label} writes tensor {index}, which is marked as variable state")
        for index in subgraph.inputs + subgraph.outputs:
            if subgraph.tensors[index].variable:
                raise CorruptModelError(f"{where}'s input or output tensor {index} is marked as variable state")
        for tensor in subgraph.tensors:
            _check_tensor(tensor, where)


def _graph(model: Any, size: int) -> Graph:
    buffers = []
    for b in range(model.BuffersLength()):
        buffer = model.Buffers(b)
        buffers.append(buffer.DataAsNumpy().tobytes() if buffer is not None and buffer.DataLength() > 0 else b"")
    codes = [_opcode(model.OperatorCodes(c)) for c in range(model.OperatorCodesLength())]
    subgraphs = tuple(_subgraph(model.Subgraphs(s), codes, buffers) for s in range(model.SubgraphsLength()))
    main = subgraphs[0]
    return Graph(size=size, subgraphs=subgraphs, buffers=tuple(buffers), ops=_op_kinds(model, codes),
                 inputs=tuple(_tensor_info(main.tensors[i]) for i in main.inputs),
                 outputs=tuple(_tensor_info(main.tensors[i]) for i in main.outputs))


def _opcode(opcode: Any) -> tuple[str, bool, int]:
    """(name, is_custom, version). TFLite reads the larger of the two code fields: codes above 127 live only in the
    new `builtin_code` field (the old int8 field holds 127), and old files only set the deprecated one."""
    code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
    if code == _schema().BuiltinOperator.CUSTOM:
        custom = opcode.CustomCode()
        return (custom.decode("utf-8", "replace") if custom else "CUSTOM"), True, opcode.Version()
    return _enum_names("BuiltinOperator").get(code, f"BUILTIN_{code}"), False, opcode.Version()


def _op_kinds(model: Any, codes: list[tuple[str, bool, int]]) -> tuple[OpInfo, ...]:
    """The operator kinds the subgraphs use, sorted by name and version; a kind listed in the file's operator
    codes but used by no operator is left out, and two codes of the same kind and version count as one."""
    counts: dict[int, int] = {}
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            index = subgraph.Operators(o).OpcodeIndex()
            counts[index] = counts.get(index, 0) + 1
    found: dict[tuple[str, int], tuple[int, bool]] = {}
    for index, count in counts.items():
        name, custom, version = codes[index]
        supported = name in (tflm_custom_ops() if custom else tflm_builtin_ops())
        before = found.get((name, version), (0, supported))[0]
        found[(name, version)] = (before + count, supported)
    return tuple(OpInfo(name, version, count, supported)
                 for (name, version), (count, supported) in sorted(found.items()))


def _options(operator: Any) -> Mapping[str, Any]:
    table = operator.BuiltinOptions()
    if table is None:
        return MappingProxyType({})
    options = _schema().BuiltinOptionsCreator(operator.BuiltinOptionsType(), table)
    return MappingProxyType(dict(vars(options)) if options is not None else {})


def _check_tensor(tensor: Tensor, where: str) -> None:
    label = f"tensor {tensor.index} ({tensor.name[:60]!r}) of {where}"
    if tensor.dtype.startswith("type"):
        raise CorruptModelError(f"{label} has an unknown type code {tensor.dtype[4:]}")
    if any(size < -1 for size in tensor.shape):
        raise CorruptModelError(f"{label} has the shape {list(tensor.shape)}")
    width = DTYPE_BYTES.get(tensor.dtype)
    if width is not None and tensor.count * width > MAX_TENSOR_BYTES:
        raise CorruptModelError(f"{label} declares {tensor.count * width:,} bytes (shape {list(tensor.shape)})")
    quantization = tensor.quantization
    if quantization is not None:
        if not all(math.isfinite(scale) and scale >= 0 for scale in quantization.scales):
            raise CorruptModelError(f"{label} has the quantization scales {list(quantization.scales[:4])}")
        channels = len(quantization.scales)
        if len(quantization.zero_points) != channels:
            raise CorruptModelError(f"{label} has {channels} scales but {len(quantization.zero_points)} zero points")
        dimension = quantization.quantized_dimension
        if channels > 1 and not (0 <= dimension < len(tensor.shape) and tensor.shape[dimension] == channels):
            raise CorruptModelError(f"{label} has {channels} scales along dimension {dimension} of the shape "
                                    f"{list(tensor.shape)}")


def _subgraph(subgraph: Any, codes: list[tuple[str, bool, int]], buffers: list[bytes]) -> Subgraph:
    operators = []
    for o in range(subgraph.OperatorsLength()):
        operator = subgraph.Operators(o)
        name, custom, version = codes[operator.OpcodeIndex()]
        operators.append(Operator(
            name=name, version=version, custom=custom,
            inputs=tuple(int(t) for t in operator.InputsAsNumpy()) if operator.InputsLength() else (),
            outputs=tuple(int(t) for t in operator.OutputsAsNumpy()) if operator.OutputsLength() else (),
            options=_options(operator)))
    tensors = tuple(_tensor(subgraph.Tensors(t), t, buffers) for t in range(subgraph.TensorsLength()))
    return Subgraph(operators=tuple(operators), tensors=tensors,
                    inputs=tuple(int(subgraph.Inputs(i)) for i in range(subgraph.InputsLength())),
                    outputs=tuple(int(subgraph.Outputs(i)) for i in range(subgraph.OutputsLength())))


def _tensor(tensor: Any, index: int, buffers: list[bytes]) -> Tensor:
    quantization = tensor.Quantization()
    parameters = None
    if quantization is not None and quantization.ScaleLength():
        scales = tuple(float(s) for s in quantization.ScaleAsNumpy())
        parameters = Quantization(
            scales=scales,
            zero_points=(tuple(int(z) for z in quantization.ZeroPointAsNumpy()) if quantization.ZeroPointLength()
                         else (0,) * len(scales)),
            quantized_dimension=int(quantization.QuantizedDimension()))
    try:  # flatbuffer strings are UTF-8; LiteRT fails on a name that is not
        name = tensor.Name().decode("utf-8") if tensor.Name() else ""
    except UnicodeDecodeError:
        raise CorruptModelError(f"the name of tensor {index} is not UTF-8 text") from None
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    dtype = _enum_names("TensorType").get(tensor.Type(), f"type{tensor.Type()}").lower()
    label = f"tensor {index} ({name[:60]!r})"
    buffer = tensor.Buffer()
    if buffers and not 0 <= buffer < len(buffers):
        raise CorruptModelError(f"{label} uses buffer {buffer}, but the model has {len(buffers)} buffers")
    # TFLite itself refuses a shape signature of another rank, or one that disagrees with a known dimension.
    signature = tuple(int(d) for d in tensor.ShapeSignatureAsNumpy()) if tensor.ShapeSignatureLength() else ()
    if signature and (len(signature) != len(shape) or any(s not in (-1, d) for s, d in zip(signature, shape))):
        raise CorruptModelError(f"{label} has the shape {list(shape)} but the signature {list(signature)}")
    data = buffers[buffer] if 0 <= buffer < len(buffers) and buffers[buffer] else None
    width = DTYPE_BYTES.get(dtype)
    # A sparse constant is stored compressed, so only a dense one must hold exactly its shape's bytes.
    if data is not None and width is not None and tensor.Sparsity() is None and all(d >= 0 for d in shape):
        expected = math.prod(shape) * width
        if len(data) != expected:
            raise CorruptModelError(f"{label} holds {len(data):,} bytes of constant data, but its shape "
                                    f"{list(shape)} of {dtype} needs {expected:,}")
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, quantization=parameters, buffer=buffer,
                  data=data, variable=bool(tensor.IsVariable()))


def _tensor_info(tensor: Tensor) -> TensorInfo:
    # Per-tensor parameters only: a per-axis quantized input or output (not seen from TFLiteConverter) stays None.
    if len(tensor.scales) == 1:
        return TensorInfo(tensor.name, tensor.shape, tensor.dtype, tensor.scales[0], tensor.zero_points[0])
    return TensorInfo(tensor.name, tensor.shape, tensor.dtype)


# ------------------------------------------------------------------------------ TFLite Micro support


def _read_names(filename: str) -> frozenset[str]:
    lines = (_DATA / filename).read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


@lru_cache(maxsize=None)
def tflm_builtin_ops() -> frozenset[str]:
    """Builtin op names TFLite Micro has kernels for (data/tflm_ops.txt; arena.probe_tflm_ops regenerates it)."""
    return _read_names("tflm_ops.txt")


@lru_cache(maxsize=None)
def tflm_custom_ops() -> frozenset[str]:
    """Custom op names TFLite Micro registers itself (data/tflm_custom_ops.txt), e.g. TFLite_Detection_PostProcess."""
    return _read_names("tflm_custom_ops.txt")


# ------------------------------------------------------------------------------------------- writing


def probe_model(name: str, custom: bool, sentinel: str, sentinel_custom: bool) -> bytes:
    """A model whose only operators are `name` then `sentinel`, on no tensors: what the arena module gives
    TFLite Micro to learn whether it has a kernel for `name` (see arena.probe_tflm_ops)."""
    import flatbuffers

    schema = _schema()
    codes = []
    for op_name, is_custom in ((name, custom), (sentinel, sentinel_custom)):
        code = schema.OperatorCodeT()
        value = schema.BuiltinOperator.CUSTOM if is_custom else getattr(schema.BuiltinOperator, op_name)
        code.builtinCode = value
        code.deprecatedBuiltinCode = min(value, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
        code.customCode = op_name if is_custom else None
        code.version = 1
        codes.append(code)
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs = [], [], []
    subgraph.operators = []
    for index in range(2):
        operator = schema.OperatorT()
        operator.opcodeIndex, operator.inputs, operator.outputs = index, [], []
        if index == 0 and name == "VAR_HANDLE" and not custom:  # the Python runtime reads its shared name
            operator.builtinOptionsType = schema.BuiltinOptions.VarHandleOptions
            operator.builtinOptions = schema.VarHandleOptionsT()
            operator.builtinOptions.sharedName = "probe"
        subgraph.operators.append(operator)
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, codes, [subgraph]
    model.buffers = [schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())
