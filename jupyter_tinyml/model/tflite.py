"""Reads a .tflite: ops, tensors, quantization parameters, sizes, and the TFLite Micro arena it needs.

Exact parts are pure functions of the model bytes: the firmware, the widgets and the magics all use them.
The flatbuffer is read with the schema module that ships in `tflite_micro`; the arena is measured by
`arena`, which runs TFLite Micro's own Python runtime in a child process (`measure_arena` and
`probe_tflm_ops` are re-exported from there). Neither TensorFlow nor the runtime is imported at module
level: `import jupyter_tinyml` stays fast.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any, Union

from ..errors import QuantizationError

TFLite = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]

FILE_IDENTIFIER = b"TFL3"
# TFLite Micro aligns every arena allocation to 16 bytes (MicroArenaBufferAlignment) on every target, so the
# search stops at that step and the firmware should declare the arena `alignas(16)`.
ARENA_ALIGNMENT = 16
# Defaults of the stated margin; `inspect` explains them.
MARGIN_FRACTION = 0.10
MARGIN_BYTES = 1024

_DATA = Path(__file__).parent / "data"
# Defined in `arena`, which imports this module; loaded on first use so that neither import runs the other.
_FROM_ARENA = ("measure_arena", "probe_tflm_ops", "TRY_TIMEOUT_S", "ARENA_CEILING")


def __getattr__(name: str) -> Any:
    if name in _FROM_ARENA:
        from . import arena

        return getattr(arena, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class OpInfo:
    """One operator kind the model uses: builtin name (e.g. "CONV_2D"), its version, how many times it occurs."""

    name: str
    version: int
    count: int
    supported_by_tflm: bool = True


@dataclass
class TensorInfo:
    """A model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "float32", ...
    scale: float | None = None  # None when not quantized
    zero_point: int | None = None


@dataclass
class ModelInspection:
    """What `inspect` found. `arena_bytes` = measured + margin (what firmware should allocate).

    arena_* are None when the arena could not be measured; `unsupported_ops` names the ops TFLite Micro lacks
    and `arena_error` says in one line why nothing was measured. `kernel_scratch_bytes` is the part of the
    margin reserved for optimized Cortex-M kernels (CMSIS-NN); `arena_recorded_bytes` is what TFLite Micro's
    RecordingMicroAllocator reported for the same run (a cross-check of the search).
    """

    ops: list[OpInfo]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    flash_bytes: int
    arena_measured_bytes: int | None
    arena_margin_bytes: int | None
    arena_bytes: int | None
    unsupported_ops: list[str] = field(default_factory=list)
    arena_error: str | None = None
    arena_recorded_bytes: int | None = None
    kernel_scratch_bytes: int = 0

    def __str__(self) -> str:
        return describe(self)

    def _repr_html_(self) -> str:
        return describe_html(self)


# ------------------------------------------------------------------------------------------- reading


def model_bytes(tflite: TFLite) -> bytes:
    """The flatbuffer's bytes, from bytes or from a path; anything that is not a TFLite model is refused."""
    if isinstance(tflite, (bytes, bytearray, memoryview)):
        data, name = bytes(tflite), f"the given {len(tflite)} bytes"
    elif isinstance(tflite, (str, os.PathLike)):
        path = Path(tflite)
        name = str(path)
        if not path.is_file():
            raise QuantizationError(f"{name} is not a TFLite flatbuffer (no such file) — "
                                    "check the path, or pass the bytes that convert() returned")
        data = path.read_bytes()
    else:
        raise QuantizationError(f"a {type(tflite).__name__} is not a TFLite flatbuffer (expected bytes or a path) — "
                                "pass the bytes that convert() returned or the path of a .tflite file")
    if data[4:8] != FILE_IDENTIFIER:
        found = "it is shorter than 8 bytes" if len(data) < 8 else f"bytes 4:8 are {data[4:8]!r}, not b'TFL3'"
        raise QuantizationError(f"{name} is not a TFLite flatbuffer ({found}) — "
                                "pass the bytes that convert() returned or a .tflite file")
    return data


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


@lru_cache(maxsize=None)
def _enum_names(enum: str) -> dict[int, str]:
    cls = getattr(_schema(), enum)
    return {value: name for name, value in vars(cls).items() if not name.startswith("_") and isinstance(value, int)}


def _root(data: bytes) -> Any:
    schema = _schema()
    try:
        model = schema.Model.GetRootAs(data, 0)
        if model.SubgraphsLength() < 1:
            raise ValueError("no subgraph")
    except Exception as error:  # a truncated or corrupt flatbuffer fails in many ways
        raise QuantizationError(f"the TFLite flatbuffer cannot be read ({error}) — "
                                "convert the model again; the file may be truncated") from None
    return model


def _opcode_name(opcode: Any) -> tuple[str, bool]:
    """(name, is_custom). TFLite reads the larger of the two code fields: codes above 127 live only in the new
    `builtin_code` field (the old int8 field holds 127), and old files only set the deprecated one."""
    code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
    if code == _schema().BuiltinOperator.CUSTOM:
        custom = opcode.CustomCode()
        return (custom.decode("utf-8", "replace") if custom else "CUSTOM"), True
    return _enum_names("BuiltinOperator").get(code, f"BUILTIN_{code}"), False


def ops(tflite: TFLite) -> list[OpInfo]:
    """The operator kinds the model's subgraphs use, with version and count, sorted by name.

    Builtin ops are named as in TFLite's BuiltinOperator enum ("CONV_2D"), custom ops by their custom code.
    A kind listed in the file's operator codes but used by no operator is left out.
    """
    model = _root(model_bytes(tflite))
    counts: dict[int, int] = {}
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            index = subgraph.Operators(o).OpcodeIndex()
            counts[index] = counts.get(index, 0) + 1
    found: dict[tuple[str, int], OpInfo] = {}
    for index, count in counts.items():
        opcode = model.OperatorCodes(index)
        name, custom = _opcode_name(opcode)
        supported = name in (tflm_custom_ops() if custom else tflm_builtin_ops())
        key = (name, opcode.Version())
        if key in found:  # two opcode entries for the same kind and version: count them as one
            found[key].count += count
        else:
            found[key] = OpInfo(name, opcode.Version(), count, supported)
    return sorted(found.values(), key=lambda op: (op.name, op.version))


def _tensor_info(tensor: Any) -> TensorInfo:
    quantization = tensor.Quantization()
    scale = zero_point = None
    # Per-tensor parameters only: a per-axis quantized input or output (not seen from TFLiteConverter) stays None.
    if quantization is not None and quantization.ScaleLength() == 1:
        scale = float(quantization.Scale(0))
        zero_point = int(quantization.ZeroPoint(0)) if quantization.ZeroPointLength() else 0
    dtype = _enum_names("TensorType").get(tensor.Type(), f"type{tensor.Type()}").lower()
    name = tensor.Name().decode("utf-8", "replace") if tensor.Name() else ""
    return TensorInfo(name, tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else (),
                      dtype, scale, zero_point)


def inputs(tflite: TFLite) -> list[TensorInfo]:
    """The main subgraph's inputs, in the order the interpreter numbers them."""
    subgraph = _root(model_bytes(tflite)).Subgraphs(0)
    return [_tensor_info(subgraph.Tensors(subgraph.Inputs(i))) for i in range(subgraph.InputsLength())]


def outputs(tflite: TFLite) -> list[TensorInfo]:
    """The main subgraph's outputs, in the order the interpreter numbers them."""
    subgraph = _root(model_bytes(tflite)).Subgraphs(0)
    return [_tensor_info(subgraph.Tensors(subgraph.Outputs(i))) for i in range(subgraph.OutputsLength())]


# ------------------------------------------------------------------------------ TFLite Micro support


def _read_names(filename: str) -> frozenset[str]:
    lines = (_DATA / filename).read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


@lru_cache(maxsize=None)
def tflm_builtin_ops() -> frozenset[str]:
    """Builtin op names TFLite Micro has kernels for (data/tflm_ops.txt; `probe_tflm_ops` regenerates it)."""
    return _read_names("tflm_ops.txt")


@lru_cache(maxsize=None)
def tflm_custom_ops() -> frozenset[str]:
    """Custom op names TFLite Micro registers itself (data/tflm_custom_ops.txt), e.g. TFLite_Detection_PostProcess."""
    return _read_names("tflm_custom_ops.txt")


def unsupported_ops(tflite: TFLite) -> list[str]:
    """Names of the ops the model uses that TFLite Micro has no kernel for (builtin or custom), sorted."""
    return sorted({op.name for op in ops(tflite) if not op.supported_by_tflm})


# ---------------------------------------------------------------------------- optimized kernel scratch


def _round_up(value: float, step: int = ARENA_ALIGNMENT) -> int:
    return int(math.ceil(value / step)) * step


def kernel_scratch_bytes(tflite: TFLite) -> int:
    """Arena bytes that CMSIS-NN kernels ask for beyond the reference kernels the host runtime runs, on a
    Cortex-M with the DSP extension (M4, M7, M33): an estimate from the model's shapes, used in the margin.

    CONV_2D takes an im2col buffer of two int16 columns, 2 * 2 * align4(C_in * K_h * K_w) bytes
    (arm_convolve_s8_get_buffer_size); DEPTHWISE_CONV_2D C_in * K_h * K_w int16
    (arm_depthwise_conv_s8_opt_get_buffer_size; counted even for the 3x3 case that needs none);
    AVERAGE_POOL_2D C int32 (arm_avgpool_s8_get_buffer_size). Each is a scratch buffer that lives only while
    its op runs, so the largest one counts. Cores without DSP (Cortex-M0+) need none of these.
    Not covered: Helium cores (Cortex-M55/M85), whose CMSIS-NN also keeps kernel sums, and ESP-NN on the
    ESP32-S3, which copies the padded input and the filter into scratch and can need several times more.
    """
    model = _root(model_bytes(tflite))
    builtin = _schema().BuiltinOperator
    largest = 0
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)

        def shape(operator: Any, position: int) -> tuple[int, ...]:
            if position >= operator.InputsLength() or operator.Inputs(position) < 0:
                return ()
            tensor = subgraph.Tensors(operator.Inputs(position))
            return tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()

        for o in range(subgraph.OperatorsLength()):
            operator = subgraph.Operators(o)
            opcode = model.OperatorCodes(operator.OpcodeIndex())
            code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
            data, weights = shape(operator, 0), shape(operator, 1)
            if code == builtin.CONV_2D and len(data) == 4 and len(weights) == 4:
                largest = max(largest, 4 * _round_up(data[3] * weights[1] * weights[2], 4))
            elif code == builtin.DEPTHWISE_CONV_2D and len(data) == 4 and len(weights) == 4:
                largest = max(largest, 2 * data[3] * weights[1] * weights[2])
            elif code == builtin.AVERAGE_POOL_2D and len(data) == 4:
                largest = max(largest, 4 * data[3])
    return _round_up(largest)


# ------------------------------------------------------------------------------------------- inspect


def inspect(tflite: TFLite, *, margin_fraction: float = MARGIN_FRACTION,
            margin_bytes: int = MARGIN_BYTES) -> ModelInspection:
    """Everything the firmware needs from a .tflite: ops, inputs, outputs, flash and the tensor arena.

    flash_bytes is the model's size: the flatbuffer is stored in flash as it is.
    arena_bytes = arena_measured_bytes + arena_margin_bytes, where the margin is
    `margin_fraction * measured + margin_bytes + kernel_scratch_bytes(model)`, rounded up to 16 bytes.

    Why this margin. The measurement runs TFLite Micro's reference kernels on a 64-bit host:
    - The arena's head (the activation tensors, laid out by the same greedy planner) is the same size on
      every target, because tensor sizes do not depend on the CPU.
    - The tail (TfLiteEvalTensor, TfLiteTensor and node structs, kernels' persistent data) holds pointers and
      size_t, 8 bytes on the host and 4 on a Cortex-M, and the host run also carries the
      RecordingMicroAllocator's own bookkeeping; so the host figure is an upper bound for those parts.
      TFLite Micro's own memory_arena_threshold_test records its figures on x86-64 and only checks that a
      32-bit target does not exceed them by more than 3%.
    - What the host cannot see: optimized kernels on the board request scratch buffers the reference kernels
      do not (CMSIS-NN's im2col buffer for CONV_2D, ...); for Cortex-M4/M7/M33 that part is estimated from the
      model's shapes by `kernel_scratch_bytes` and added in full. ESP-NN on an ESP32-S3 can ask for more
      than this margin holds (it copies padded inputs and filters); there, check the board's own
      `interpreter.arena_used_bytes()`.
    - The rest is judgement, not measurement: 10% covers a board library built from an older or newer
      TFLite Micro than the host runtime (per-op persistent data and planner details change between releases;
      TFLite Micro itself tolerates 3% drift between commits), and 1 KiB covers a tiny model's fixed costs
      and an arena that is not declared `alignas(16)` (up to 15 bytes lost to alignment).
    Pass margin_fraction=0, margin_bytes=0 to see the bare measurement plus the kernel estimate.

    When the model uses an op TFLite Micro lacks, nothing is run: arena_* are None, `unsupported_ops` lists
    the ops and `arena_error` says so.
    """
    from .arena import _arena  # here, not at the top: arena builds on this module

    data = model_bytes(tflite)
    op_list = ops(data)
    missing = sorted({op.name for op in op_list if not op.supported_by_tflm})
    scratch = kernel_scratch_bytes(data)
    arena = _arena(data)
    measured = arena.measured
    margin = None if measured is None else _round_up(margin_fraction * measured + margin_bytes + scratch)
    return ModelInspection(
        ops=op_list, inputs=inputs(data), outputs=outputs(data), flash_bytes=len(data),
        arena_measured_bytes=measured, arena_margin_bytes=margin,
        arena_bytes=None if measured is None or margin is None else measured + margin,
        unsupported_ops=missing, arena_error=arena.error, arena_recorded_bytes=arena.recorded,
        kernel_scratch_bytes=scratch)


# ------------------------------------------------------------------------------------------- reports


def _tensor_text(tensor: TensorInfo) -> str:
    quantization = (f"scale {tensor.scale:.6g}, zero point {tensor.zero_point}" if tensor.scale is not None
                    else "not quantized")
    return f"{tensor.name or '(unnamed)'}: {tensor.dtype} {list(tensor.shape)}, {quantization}"


def _arena_text(inspection: ModelInspection) -> str:
    if inspection.arena_bytes is None or inspection.arena_measured_bytes is None:
        return f"not measured — {inspection.arena_error or 'no measurement'}"
    return (f"{inspection.arena_bytes:,} bytes = {inspection.arena_measured_bytes:,} measured with TFLite Micro "
            f"+ {inspection.arena_margin_bytes or 0:,} margin (of which {inspection.kernel_scratch_bytes:,} "
            "for CMSIS-NN kernels)")


def describe(inspection: ModelInspection) -> str:
    """A short plain-text report: ops with versions, inputs and outputs, flash, arena, unsupported ops."""
    op_text = ", ".join(f"{op.name} v{op.version}" + (f" ×{op.count}" if op.count > 1 else "")
                        + ("" if op.supported_by_tflm else " (not in TFLite Micro)") for op in inspection.ops)
    lines = [f"Ops:    {op_text or '—'}"]
    lines += [f"Input:  {_tensor_text(tensor)}" for tensor in inspection.inputs]
    lines += [f"Output: {_tensor_text(tensor)}" for tensor in inspection.outputs]
    lines.append(f"Flash:  {inspection.flash_bytes:,} bytes (the .tflite as it is)")
    lines.append(f"Arena:  {_arena_text(inspection)}")
    if inspection.unsupported_ops:
        lines.append(f"UNSUPPORTED by TFLite Micro: {', '.join(inspection.unsupported_ops)} — replace these ops "
                     "(layers) with supported ones and convert again; the firmware cannot run this model")
    return "\n".join(lines)


def describe_html(inspection: ModelInspection) -> str:
    """The same report as `describe`, as a small HTML table for notebooks."""
    rows = []
    for line in describe(inspection).splitlines():
        label, _, text = line.partition(":")
        style = ' style="color:#b00020;font-weight:600"' if label.startswith("UNSUPPORTED") else ""
        rows.append(f'<tr{style}><th style="text-align:left;padding-right:1em">{escape(label)}</th>'
                    f'<td style="text-align:left">{escape(text.strip())}</td></tr>')
    return f'<table class="tinyml-model">{"".join(rows)}</table>'

