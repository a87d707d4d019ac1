"""What every image for the virtual board shares, whichever firmware it holds (the portable C target, image.py, or
a TFLite Micro sketch, tflm.py): the emulated machine, the Arm tools that build for it, the board support sources
and linker script, and the result a build returns with the image's flash and RAM.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ...errors import ToolNotFoundError
from ..results import BuildResult

BOARD_ID = "virtual-cortex-m4"
# Who writes a build's output folder, as its marker file (firmware.owned_folder) and a refusal name it.
BUILD_WRITER = "the virtual board build"
MACHINE = "mps2-an386"
# libstdc++ for the TFLite Micro sketches (tflm.py); the C target needs the rest only.
INSTALL = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm libstdc++-arm-none-eabi-newlib"
ICOUNT_SHIFT = 0  # 2^0 ns of virtual time per emulated instruction
# The board's linker script places the vectors and the startup code; newlib-nano for memcpy and libm's expf.
LDFLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"]
# .init_array holds a C++ image's static constructors (the Arduino shim's linker fragment); a C image has none.
FLASH_SECTIONS = (".text", ".ARM.extab", ".ARM.exidx", ".init_array", ".data")
RAM_SECTIONS = (".data", ".bss", ".stack")
DEFAULT_STACK_BYTES = 16 * 1024


def board_sources() -> Path:
    """The folder of board-support C sources and the linker script (firmware/c_target/board)."""
    return Path(str(resources.files("jupyter_tinyml").joinpath("firmware", "c_target", "board")))


TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")


def missing_tools(*names: str) -> list[str]:
    """Which of the programs `names` (default: all the virtual board needs) are not on PATH; newlib counts as
    "newlib" and, with arm-none-eabi-g++, its C++ library as "libstdc++" (Debian ships the cross compiler without
    them)."""
    wanted = names or TOOLS
    missing = [name for name in wanted if shutil.which(name) is None]
    if "arm-none-eabi-gcc" in wanted and "arm-none-eabi-gcc" not in missing:
        found = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=libc_nano.a"], capture_output=True,
                               text=True).stdout.strip()
        if not os.path.isabs(found):  # gcc echoes the bare name when it has no such library
            missing.append("newlib")
    if "arm-none-eabi-g++" in wanted and "arm-none-eabi-g++" not in missing:
        found = subprocess.run(["arm-none-eabi-g++", "-print-file-name=libstdc++_nano.a"], capture_output=True,
                               text=True).stdout.strip()
        if not os.path.isabs(found):
            missing.append("libstdc++")
    return missing


def require_tools(*names: str) -> None:
    """ToolNotFoundError saying what to install when any of the programs `names` is missing."""
    missing = missing_tools(*names)
    if missing:
        raise ToolNotFoundError(f"{', '.join(missing)} not found — the virtual board needs the Arm cross compiler, "
                                f"newlib and QEMU: {INSTALL} (Debian/Ubuntu, as root)")


@dataclass(repr=False)
class VirtualBuild(BuildResult):
    """A BuildResult for the virtual board, with the image's sizes: flash = code + constants + .data's initial
    values, RAM = .data + .bss (the model's arena) + the reserved stack. `sections` holds every allocated section's
    size (arm-none-eabi-size -A). `kernels` names the TFLite Micro kernel flavour of a sketch's image ("" for the
    C target)."""

    elf: Path | None = None
    flash_bytes: int = 0
    ram_bytes: int = 0
    stack_bytes: int = 0
    sections: dict[str, int] = field(default_factory=dict)
    kernels: str = ""

    def headline(self) -> str:
        if self.ok:
            what = f" with TFLite Micro ({self.kernels} kernels)" if self.kernels else ""
            return (f"Built for the virtual board ({MACHINE}){what} in {self.seconds:.1f} s: flash "
                    f"{self.flash_bytes:,} bytes, RAM {self.ram_bytes:,} bytes (stack {self.stack_bytes:,})")
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


def measure(result: VirtualBuild) -> VirtualBuild:
    """Fill a successful build's section sizes, flash and RAM from its ELF (arm-none-eabi-size -A)."""
    if result.ok and result.elf is not None:
        sizes = subprocess.run(["arm-none-eabi-size", "-A", str(result.elf)], capture_output=True, text=True,
                               check=True)
        result.sections = parse_size_output(sizes.stdout)
        result.flash_bytes, result.ram_bytes = image_sizes(result.sections)
    return result


__all__ = [
    "BOARD_ID", "BUILD_WRITER", "DEFAULT_STACK_BYTES",
    "FLASH_SECTIONS", "ICOUNT_SHIFT", "INSTALL", "LDFLAGS", "MACHINE",
    "RAM_SECTIONS", "TOOLS", "VirtualBuild", "board_sources", "image_sizes", "measure", "missing_tools",
    "parse_size_output", "require_tools",
]
