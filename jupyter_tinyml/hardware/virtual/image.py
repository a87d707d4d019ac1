"""The virtual board's firmware image: the portable C target compiled for an emulated Cortex-M4 (QEMU's
`mps2-an386`).

`build()` compiles the generated C model (firmware/c_target: `generate_c`) with this project's board support
(firmware/c_target/board: startup, linker script, CMSDK UART driver and the serial protocol in main.c) using
gcc-arm-none-eabi and newlib, and reports the flash and RAM the image uses. qemu.py runs the image.

    built = image.build(generate_c(tflite))        # or a folder holding model_c.h/model_c.c
    with qemu.flash(built) as board, BoardLink(board.port, board="virtual-cortex-m4") as link:
        result = link.check(tflite, x_test[:20])   # result.cycles: emulated instructions per inference

The image is built for `-icount shift=ICOUNT_SHIFT` (one emulated instruction per 2^shift ns of virtual time): the
firmware measures each inference with SysTick in that virtual time and reports `us=` (virtual microseconds) and
`cycles=` (emulated instructions — not the cycles a real Cortex-M4 would take, which depend on its memory and
pipeline).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from ...boards import Board, as_board
from ...errors import ConfigError, ToolNotFoundError
from ...firmware.c_code import labels_c
from ..diagnostics import parse_diagnostics
from ..programs import OutputCallback
from ..results import BuildResult
from ..settings import VIRTUAL_BUILD_TIMEOUT_S

BOARD_ID = "virtual-cortex-m4"
MACHINE = "mps2-an386"
INSTALL = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
ICOUNT_SHIFT = 0  # 2^0 ns of virtual time per emulated instruction
MODEL_FILES = ("model_c.h", "model_c.c", "tinyml_kernels.h", "tinyml_kernels.c")
# The Cortex-M4 with its single-precision FPU (QEMU's cortex-m4 has one); newlib-nano for memcpy and libm's expf.
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
          "-mfpu=fpv4-sp-d16", "-O2", "-ffunction-sections", "-fdata-sections"]
LDFLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"]
FLASH_SECTIONS = (".text", ".ARM.extab", ".ARM.exidx", ".data")
RAM_SECTIONS = (".data", ".bss", ".stack")


def board_sources() -> Path:
    """The folder of board-support C sources and the linker script (firmware/c_target/board)."""
    return Path(str(resources.files("jupyter_tinyml").joinpath("firmware", "c_target", "board")))


TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")


def missing_tools(*names: str) -> list[str]:
    """Which of the programs `names` (default: all the virtual board needs) are not on PATH; newlib counts as
    "newlib" (the cross compiler comes without its C library in Debian)."""
    wanted = names or TOOLS
    missing = [name for name in wanted if shutil.which(name) is None]
    if "arm-none-eabi-gcc" in wanted and "arm-none-eabi-gcc" not in missing:
        found = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=libc_nano.a"], capture_output=True,
                               text=True).stdout.strip()
        if not os.path.isabs(found):  # gcc echoes the bare name when it has no such library
            missing.append("newlib")
    return missing


def require_tools(*names: str) -> None:
    """ToolNotFoundError saying what to install when any of the programs `names` is missing."""
    missing = missing_tools(*names)
    if missing:
        raise ToolNotFoundError(f"{', '.join(missing)} not found — the virtual board needs the Arm cross compiler, "
                                f"newlib and QEMU: {INSTALL} (Debian/Ubuntu, as root)")


# ----------------------------------------------------------------------------------------------- build


@dataclass(repr=False)
class VirtualBuild(BuildResult):
    """A BuildResult for the virtual board, with the image's sizes: flash = code + constants + .data's initial
    values, RAM = .data + .bss (the model's arena) + the reserved stack. `sections` holds every allocated section's
    size (arm-none-eabi-size -A)."""

    elf: Path | None = None
    flash_bytes: int = 0
    ram_bytes: int = 0
    stack_bytes: int = 0
    sections: dict[str, int] = field(default_factory=dict)

    def headline(self) -> str:
        if self.ok:
            return (f"Built for the virtual board ({MACHINE}) in {self.seconds:.1f} s: flash {self.flash_bytes:,} "
                    f"bytes, RAM {self.ram_bytes:,} bytes (stack {self.stack_bytes:,})")
        return super().headline()


def image_sizes(sections: dict[str, int]) -> tuple[int, int]:
    """(flash bytes, RAM bytes) from section sizes."""
    flash = sum(sections.get(name, 0) for name in FLASH_SECTIONS)
    ram = sum(sections.get(name, 0) for name in RAM_SECTIONS)
    return flash, ram


def parse_size_output(text: str) -> dict[str, int]:
    """`arm-none-eabi-size -A` output -> {section: bytes} (sections with an address only)."""
    sizes = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def _model_files(source: Any) -> dict[str, str]:
    """The generated C files from a CModel, a folder holding them, or a .tflite (bytes or path)."""
    files = getattr(source, "files", None)
    if isinstance(files, dict):
        return {name: text if isinstance(text, str) else bytes(text).decode() for name, text in files.items()}
    if isinstance(source, (bytes, bytearray)) or (isinstance(source, (str, os.PathLike))
                                                  and str(source).endswith(".tflite")):
        from ...firmware.c_target import generate_c

        return _model_files(generate_c(bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source)))
    folder = Path(source)
    if folder.is_dir():
        for candidate in (folder, *sorted(path.parent for path in folder.glob("*/model_c.h"))):
            if (candidate / "model_c.h").is_file():
                return {path.name: path.read_text(encoding="utf-8") for path in sorted(candidate.iterdir())
                        if path.suffix in (".c", ".h") and path.is_file()}
        raise ConfigError(f"{folder} holds no model_c.h: pass the folder write_project(target='c') wrote, or the "
                          "CModel generate_c returned.")
    raise ConfigError(f"Cannot build the virtual board from {type(source).__name__}: pass a CModel (generate_c), "
                      "a folder with model_c.h/model_c.c, or a .tflite.")


def build(source: Any, board: Board | str = BOARD_ID, *, output_dir: str | os.PathLike[str] | None = None,
          labels: Iterable[str] | None = None, on_output: OutputCallback | None = None,
          stack_bytes: int = 16 * 1024, timeout: float = VIRTUAL_BUILD_TIMEOUT_S) -> VirtualBuild:
    """Compile the generated C model and the board support into an ELF image for QEMU's mps2-an386.

    source: a CModel (firmware.c_target.generate_c), a folder holding model_c.h/model_c.c (default output
    <folder>/build/<board id>), or a .tflite path or bytes. labels: class names CLASSIFY prints. The image goes to
    output_dir/app.elf (with app.map); a compile error is returned (ok=False, diagnostics), not raised; missing tools
    raise ToolNotFoundError saying what to install.
    """
    board = as_board(board)
    require_tools("arm-none-eabi-gcc", "arm-none-eabi-size")
    files = _model_files(source)
    missing = [name for name in ("model_c.h", "model_c.c") if name not in files]
    if missing:
        raise ConfigError(f"The generated C lacks {', '.join(missing)}: generate it again with generate_c.")
    if output_dir is not None:
        out = Path(output_dir)
    elif isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        out = Path(source) / "build" / board.id
    else:
        out = Path(tempfile.mkdtemp(prefix="tinyml-virtual-"))
    out = out.resolve()  # the compiler runs with cwd=out: every path it gets must be absolute
    src = out / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    if labels is not None or "tinyml_labels.c" not in files:  # write_project(target="c") wrote them already
        (src / "tinyml_labels.c").write_text(labels_c(labels), encoding="utf-8")
    support = board_sources()
    elf, map_file = out / "app.elf", out / "app.map"
    sources = sorted(str(path) for path in support.glob("*.c")) + sorted(str(path) for path in src.glob("*.c"))
    command = ["arm-none-eabi-gcc", *CFLAGS, f"-DTINYML_BOARD_ID=\"{board.id}\"",
               f"-DTINYML_ICOUNT_SHIFT={ICOUNT_SHIFT}", f"-I{src}", f"-I{support}", *sources,
               "-T", str(support / "mps2_an386.ld"), f"-Wl,--defsym=STACK_SIZE={int(stack_bytes)}", *LDFLAGS,
               f"-Wl,-Map={map_file}", "-lm", "-o", str(elf)]
    if elf.exists():
        elf.unlink()
    start = time.monotonic()
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=out)
        output, returncode = run.stdout + run.stderr, run.returncode
    except subprocess.TimeoutExpired:
        output, returncode = f"arm-none-eabi-gcc did not finish within {timeout:g} s", None
    if on_output is not None:
        for line in output.splitlines():
            on_output(line)
    ok = returncode == 0 and elf.is_file()
    hint = ""
    if not ok and ("nano.specs" in output or "stdint.h: No such file" in output):
        hint = f"newlib for arm-none-eabi is missing: {INSTALL}"
    result = VirtualBuild(ok=ok, tool="arm-none-eabi-gcc", board=board.id, command=command, output=output,
                          returncode=returncode, project_dir=src, output_dir=out,
                          artifacts={"elf": elf, "map": map_file} if ok else {},
                          diagnostics=parse_diagnostics(output), seconds=time.monotonic() - start, hint=hint,
                          elf=elf if ok else None, stack_bytes=int(stack_bytes))
    if ok:
        sizes = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True)
        result.sections = parse_size_output(sizes.stdout)
        result.flash_bytes, result.ram_bytes = image_sizes(result.sections)
    return result
