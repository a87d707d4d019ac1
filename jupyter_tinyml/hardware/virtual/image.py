"""The virtual board's firmware image: the portable C target compiled for an emulated Cortex-M4 (QEMU's
`mps2-an386`), or a TFLite Micro Arduino sketch (a folder write_project wrote for target="tflm"), which build()
hands to tflm.build_sketch.

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
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from ...boards import Board, as_board
from ...errors import ConfigError
from ...firmware.c_code import c_escape, labels_c
from ...firmware.owned_folder import claim, write_file
from ..diagnostics import parse_diagnostics
from ..programs import OutputCallback
from ..settings import VIRTUAL_BUILD_TIMEOUT_S
from . import tflm
from .toolchain import (BOARD_ID, BUILD_WRITER, DEFAULT_STACK_BYTES, ICOUNT_SHIFT, INSTALL, LDFLAGS, VirtualBuild,
                        board_sources, measure, require_tools)

# The Cortex-M4 with its single-precision FPU (QEMU's cortex-m4 has one); newlib-nano for memcpy and libm's expf.
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
          "-mfpu=fpv4-sp-d16", "-O2", "-ffunction-sections", "-fdata-sections"]


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


def _holds_sketch_only(source: Any) -> bool:
    """Whether `source` is a project folder with an Arduino sketch and no generated C model."""
    if not isinstance(source, (str, os.PathLike)) or not Path(source).is_dir():
        return False
    folder = Path(source)
    has_c_model = (folder / "model_c.h").is_file() or any(folder.glob("*/model_c.h"))
    return not has_c_model and tflm.sketch_folder(folder) is not None


def build(source: Any, board: Board | str = BOARD_ID, *, output_dir: str | os.PathLike[str] | None = None,
          labels: Iterable[str] | None = None, on_output: OutputCallback | None = None,
          stack_bytes: int = DEFAULT_STACK_BYTES, timeout: float | None = None,
          overwrite: bool = False) -> VirtualBuild:
    """Compile the generated C model and the board support into an ELF image for QEMU's mps2-an386.

    source: a CModel (firmware.c_target.generate_c), a folder holding model_c.h/model_c.c (default output
    <folder>/build/<board id>), or a .tflite path or bytes. labels: class names CLASSIFY prints. The image goes to
    output_dir/app.elf (with app.map); a compile error is returned (ok=False, diagnostics), not raised; missing tools
    raise ToolNotFoundError saying what to install.

    A folder holding an Arduino sketch (write_project's TFLite Micro project) is built by tflm.build_sketch against
    the real library with its default (CMSIS-NN) kernels; labels do not apply (the sketch has its own).

    The build writes output_dir/src/<generated files>, app.elf and app.map, and replaces such a file only when
    output_dir's marker (.jupyter-tinyml) says a build wrote it (or overwrite=True), else FolderNotOursError names
    it; other files in output_dir and src/ (a person's src/main.py) stay, and only the files it writes are compiled.
    """
    board = as_board(board)
    if _holds_sketch_only(source):
        return tflm.build_sketch(source, board, output_dir=output_dir, on_output=on_output, stack_bytes=stack_bytes,
                                 overwrite=overwrite, **({"timeout": timeout} if timeout is not None else {}))
    timeout = VIRTUAL_BUILD_TIMEOUT_S if timeout is None else timeout
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
    contents = {src / Path(name).name: text for name, text in files.items()}
    if labels is not None or "tinyml_labels.c" not in files:  # write_project(target="c") wrote them already
        contents[src / "tinyml_labels.c"] = labels_c(labels)
    elf, map_file = out / "app.elf", out / "app.map"
    owned = claim(out, BUILD_WRITER, [*contents, elf, map_file], overwrite=overwrite)
    for path, text in contents.items():
        write_file(path, text)
    support = board_sources()
    # Only the files written here: anything else a person keeps in src/ is neither removed nor compiled.
    sources = sorted(str(path) for path in support.glob("*.c")) + sorted(str(path) for path in contents
                                                                          if path.suffix == ".c")
    command = ["arm-none-eabi-gcc", *CFLAGS, f"-DTINYML_BOARD_ID=\"{c_escape(board.id)}\"",
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
    owned.record([*contents, elf, map_file])
    ok = returncode == 0 and elf.is_file()
    hint = ""
    if not ok and ("nano.specs" in output or "stdint.h: No such file" in output):
        hint = f"newlib for arm-none-eabi is missing: {INSTALL}"
    result = VirtualBuild(ok=ok, tool="arm-none-eabi-gcc", board=board.id, command=command, output=output,
                          returncode=returncode, project_dir=src, output_dir=out,
                          artifacts={"elf": elf, "map": map_file} if ok else {},
                          diagnostics=parse_diagnostics(output), seconds=time.monotonic() - start, hint=hint,
                          elf=elf if ok else None, stack_bytes=int(stack_bytes))
    return measure(result)
