"""The portable C target against TFLite Micro (CMSIS-NN, and CMSIS-NN's portable C path) on the same emulated
Cortex-M4, for the digits CNN, models with MLPerf Tiny's four reference architectures, a Conv1D time-series net and
the offline recipes' own models (tests/reference_models.py).

    .venv/bin/python bench/bench_targets.py            # every model; or name some: ... bench_targets.py kws ic

Each model is converted once (tests/reference_models.py), then built for the virtual board by each target, run on
QEMU mps2-an386 and checked against TFLite's reference kernels through BoardLink.check, all in this one run:
- flash: the image's flash bytes (code + constants + .data's initial values), from the ELF's sections;
- RAM: the image's static RAM, .data + .bss: the C target's arena and its main.c input/output buffers, TFLite
  Micro's tensor arena as write_project sizes it in the sketch (measured + its stated margin; it holds the input and
  output tensors) and the sketch's buffers — each firmware's model
  input and output are counted once, where that firmware keeps them. The stack is a reserve the linker script
  fixes, not a measurement: it is printed beside the table, not added;
- instructions: emulated instructions per inference (QEMU -icount; the firmware's `cycles=`), the median over the
  samples.
A target that refuses a model (an op it lacks) gets its reason in the table instead of figures.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # reference_models, trained_models

import numpy as np  # noqa: E402

from reference_models import NAMES, ReferenceModel, build  # noqa: E402

SAMPLES = 5  # instructions per inference hardly vary with the input: a few samples give the median
# One inference of the largest model (VWW) takes a few seconds of host time under QEMU -icount.
REQUEST_TIMEOUT_S = 120.0
BOARD = "virtual-cortex-m4"


@dataclass
class Measured:
    """One model on one target: the image's figures and the check's, or why the target refused the model."""

    flash: int = 0
    ram: int = 0
    stack: int = 0
    instructions: int = 0
    agreement: float = 0.0
    max_diff: int = 0
    arena: int = 0
    build_seconds: float = 0.0
    refused: str = ""
    sections: dict[str, int] = field(default_factory=dict, repr=False)


def run_on_board(built: Any, model: ReferenceModel) -> tuple[int, float, int]:
    """Flash `built` onto a fresh virtual board and check it: (median instructions, agreement, max diff)."""
    from jupyter_tinyml.hardware.serial_link import BoardLink
    from jupyter_tinyml.hardware.virtual import qemu

    with qemu.flash(built) as board, BoardLink(board.port, board=BOARD,
                                               timeout=REQUEST_TIMEOUT_S) as link:
        result = link.check(model.tflite, model.samples[:SAMPLES])
    if not result.cycles:
        raise RuntimeError(f"the {model.name} firmware reported no cycles=")
    return int(np.median(result.cycles)), result.agreement, result.max_abs_diff


Builder = Callable[[ReferenceModel, Path], tuple[Any, int]]


def measure(model: ReferenceModel, builder: Builder, folder: Path) -> Measured:
    """Build with `builder`, then run on the board; a refusal (QuantizationError, ConfigError) or a failed build is
    reported, not raised."""
    from jupyter_tinyml.errors import ConfigError, QuantizationError

    started = time.monotonic()
    try:
        built, arena = builder(model, folder)
    except (QuantizationError, ConfigError) as refusal:
        return Measured(refused=str(refusal).splitlines()[0])
    seconds = time.monotonic() - started
    if not built.ok:
        return Measured(refused=f"build failed: {built.error_text().splitlines()[0]}")
    sections = dict(built.sections)
    static = sections.get(".data", 0) + sections.get(".bss", 0)
    instructions, agreement, max_diff = run_on_board(built, model)
    return Measured(flash=built.flash_bytes, ram=static, stack=built.stack_bytes, instructions=instructions,
                    arena=arena, agreement=agreement, max_diff=max_diff, build_seconds=seconds, sections=sections)


def build_c(model: ReferenceModel, folder: Path) -> tuple[Any, int]:
    """The portable C target: generate_c, compiled with the virtual board's support; (build, memory plan bytes)."""
    from jupyter_tinyml.firmware.c_target import generate_c
    from jupyter_tinyml.hardware.virtual import image

    generated = generate_c(model.tflite, name=model.name)
    return image.build(generated, output_dir=folder / "c", labels=model.labels), generated.arena_bytes


def tflm_builder(kernels: str) -> Builder:
    """TFLite Micro with `kernels`: the Arduino project write_project writes, built against the library's cached
    archive; (build, the tensor arena written into the sketch)."""

    def build_tflm(model: ReferenceModel, folder: Path) -> tuple[Any, int]:
        from jupyter_tinyml.firmware.project import write_project
        from jupyter_tinyml.hardware.virtual import tflm

        project = write_project(model.tflite, BOARD, folder / f"tflm-{kernels}", labels=model.labels,
                                name=model.name, target="tflm")
        return tflm.build_sketch(project.root, BOARD, kernels=kernels), project.arena_bytes

    return build_tflm


BUILDERS: dict[str, Builder] = {"C": build_c, "TFLM-CMSIS-NN": tflm_builder("cmsis-nn"),
                                "TFLM-portable": tflm_builder("portable")}


# ------------------------------------------------------------------------------------------------- the table


def _ratio(c: Measured, other: Measured, figure: str) -> str:
    if c.refused or other.refused or not getattr(other, figure):
        return "-"
    return f"{getattr(c, figure) / getattr(other, figure):.2f}"


def table(rows: dict[str, dict[str, Measured]]) -> str:
    """One line per model and figure: each target's value, then C / each TFLite Micro flavour."""
    targets = list(BUILDERS)
    others = targets[1:]  # the TFLite Micro flavours, each compared with the C target
    header = ["model", "figure", *targets, *[f"C/{t}" for t in others]]
    lines = [header]
    notes = []
    for name, measured in rows.items():
        for figure, unit in (("flash", "B"), ("ram", "B"), ("instructions", "")):
            cells = [name if figure == "flash" else "", f"{figure}{f' ({unit})' if unit else ''}"]
            for target in targets:
                entry = measured[target]
                cells.append("refused" if entry.refused else f"{getattr(entry, figure):,}")
            cells += [_ratio(measured["C"], measured[target], figure) for target in others]
            lines.append(cells)
        for target, entry in measured.items():
            if entry.refused:
                notes.append(f"{name} on {target}: {entry.refused}")
            else:
                notes.append(f"{name} on {target}: check agreement {entry.agreement:.2f}, largest difference "
                             f"{entry.max_diff} step(s), arena {entry.arena:,} B, stack reserve {entry.stack:,} B, "
                             f"build {entry.build_seconds:.1f} s")
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(header))]
    text = ["  ".join(str(cell).ljust(width) if i < 2 else str(cell).rjust(width)
                      for i, (cell, width) in enumerate(zip(row, widths))) for row in lines]
    text.insert(1, "-" * len(text[0]))
    return "\n".join(text + [""] + notes)


def main(names: list[str]) -> None:
    from jupyter_tinyml.firmware.tflm_library import find_library
    from jupyter_tinyml.hardware.virtual import toolchain

    missing = toolchain.missing_tools("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size",
                                      "qemu-system-arm")
    if missing:
        sys.exit(f"{', '.join(missing)} missing: {toolchain.INSTALL}")
    print(find_library(), flush=True)  # LibraryNotFoundError says how to install it
    rows: dict[str, dict[str, Measured]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-targets-") as scratch:
        for name in names or NAMES:
            model = build(name)
            print(f"{model!r}", flush=True)
            rows[name] = {}
            for target, builder in BUILDERS.items():
                rows[name][target] = measure(model, builder, Path(scratch) / name)
                print(f"  {target}: {rows[name][target]}", flush=True)
    print()
    print(table(rows))
    print(f"\n{len(rows)} models on {len(BUILDERS)} targets in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
