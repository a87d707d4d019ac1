"""`inspect`: everything the firmware needs from a .tflite — ops, inputs, outputs, flash, the tensor arena — and
whether that fits a board (`ModelInspection.budget_on`, the one verdict the report, the panel and the project
writer share).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING

from ..budget import Budget, check_budget
from .arena import kernel_scratch_bytes, round_up, search_arena
from .tflite import OpInfo, TensorInfo, TFLite, model_bytes, read

if TYPE_CHECKING:
    from ..boards import Board

# Defaults of the stated margin; `inspect` explains them.
MARGIN_FRACTION = 0.10
MARGIN_BYTES = 1024


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

    @property
    def input_bytes(self) -> int:
        """Bytes of one sample of every input: what the serial protocol carries to the board per inference."""
        return sum(tensor.nbytes for tensor in self.inputs)

    def budget_on(self, board: Board) -> Budget:
        """Flash and RAM this model needs on `board`, with the firmware's share: the one verdict on fitting."""
        return check_budget(self.flash_bytes, self.arena_bytes, board, input_bytes=self.input_bytes)

    def __str__(self) -> str:
        return describe(self)

    def _repr_html_(self) -> str:
        return describe_html(self)


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
    data = model_bytes(tflite)
    graph = read(data)
    scratch = kernel_scratch_bytes(graph)
    arena = search_arena(data)
    measured = arena.measured
    margin = None if measured is None else round_up(margin_fraction * measured + margin_bytes + scratch)
    return ModelInspection(
        ops=list(graph.ops), inputs=list(graph.inputs), outputs=list(graph.outputs), flash_bytes=graph.size,
        arena_measured_bytes=measured, arena_margin_bytes=margin,
        arena_bytes=None if measured is None or margin is None else measured + margin,
        unsupported_ops=graph.unsupported_ops, arena_error=arena.error, arena_recorded_bytes=arena.recorded,
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
