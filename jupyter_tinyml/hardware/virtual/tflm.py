"""A TFLite Micro Arduino sketch built for the virtual board, against the real library.

`build_sketch()` compiles the project that write_project writes for a real board — the .ino, tinyml_model.cpp,
tinyml_protocol.cpp, model_data.cpp, ... unchanged — with the Arduino-core shim of the emulated board
(firmware/arduino_shim: Arduino.h, setup()/loop(), Serial over the CMSDK UART, millis()/micros() in virtual time,
DebugLog) and the board support of the C target (startup, UART, SysTick, linker script), and links the library's
cached archive (archive.py: compiled once per machine, per version, kernel flavour and flags).

    project = write_project(tflite, board="nano33ble", out_dir="firmware")   # the files a Nano 33 BLE Sense gets
    built = build_sketch(project.root, kernels="cmsis-nn")                  # or kernels="portable"
    with qemu.flash(built) as board, BoardLink(board.port, board="virtual-cortex-m4") as link:
        result = link.check(tflite, x_test[:20])   # result.cycles: emulated instructions per inference

The RESULT lines carry cycles= (emulated instructions, counted as the C target counts them) because the shim
defines tinyml_protocol's optional cycle counter; on real boards it is absent and they carry us= alone.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

from ...boards import Board, as_board
from ...errors import ConfigError
from ...firmware.c_code import c_escape
from ...firmware.owned_folder import claim, write_file
from ...firmware.tflm_library import find_library
from ..diagnostics import parse_diagnostics
from ..programs import OutputCallback
from ..settings import TFLM_SKETCH_TIMEOUT_S
from .archive import (COMMON_FLAGS, CXX_FLAGS, C_FLAGS, KERNELS, TARGET_FLAGS, arduino_sources, cache_key,
                      cache_root, check_kernels, compile_source, ensure_archive)
from .toolchain import (BOARD_ID, BUILD_WRITER, DEFAULT_STACK_BYTES, ICOUNT_SHIFT, LDFLAGS, VirtualBuild, board_sources,
                        measure, require_tools)

# The board support the shim builds on; main.c is the C target's protocol loop, which the sketch replaces.
BOARD_FILES = ("startup.c", "cmsdk_uart.c", "systick.c")
LINKER_SCRIPT = "mps2_an386.ld"
SHIM_LINKER_SCRIPT = "cxx_sections.ld"
# What the Arduino build system compiles from a sketch folder: its own sources, and src/ with its sub-folders.
SKETCH_SUFFIXES = (".c", ".cpp", ".cc", ".S")


def shim_sources() -> Path:
    """The folder of the Arduino-core shim for the virtual board (firmware/arduino_shim)."""
    return Path(str(resources.files("jupyter_tinyml").joinpath("firmware", "arduino_shim")))


def sketch_folder(project_dir: str | os.PathLike[str]) -> Path | None:
    """The Arduino sketch folder of a project: the folder itself when it holds an .ino, else the one sub-folder
    <name>/<name>.ino (write_project's layout); None when there is none."""
    project = Path(project_dir)
    if any(project.glob("*.ino")):
        return project
    found = [path.parent for path in sorted(project.glob("*/*.ino")) if path.stem == path.parent.name]
    return found[0] if len(found) == 1 else None


def sketch_sources(sketch: Path) -> tuple[list[Path], list[Path]]:
    """(.ino files, other sources) of a sketch, as the Arduino build system takes them: the .ino named like the
    folder first, then the others by name; the folder's .c/.cpp/.S files and everything under src/."""
    inos = sorted(sketch.glob("*.ino"), key=lambda path: (path.stem != sketch.name, path.name))
    others = sorted(path for path in sketch.iterdir() if path.suffix in SKETCH_SUFFIXES and path.is_file())
    if (sketch / "src").is_dir():
        others += sorted(path for path in (sketch / "src").rglob("*") if path.suffix in SKETCH_SUFFIXES)
    return inos, others


def combined_ino(inos: list[Path]) -> str:
    """The .ino files as one C++ translation unit, as the Arduino build does it: Arduino.h first, each file after a
    #line naming it, so the compiler's messages point at the .ino. Unlike arduino-cli, no prototypes are generated:
    glue that calls a function of its own before defining it must declare it (write_project's skeleton does not)."""
    parts = ["#include <Arduino.h>\n"]
    for path in inos:
        # The path is the person's folder: a quote or line break in it must not end the #line directive.
        parts.append(f'#line 1 "{c_escape(str(path))}"\n{path.read_text(encoding="utf-8", errors="replace")}\n')
    return "".join(parts)


def support_digest(*folders: Path) -> str:
    """A hash of every file in the board-support folders: their sources and the headers those include."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\1")
    return digest.hexdigest()


def cached_object(source: Path, flags: list[str], context: str) -> Path:
    """Where the object of `source` is kept in the cache: named by the hash of its flags, its text and `context`
    (what its includes depend on: the support folders, the library, and for a sketch's own files the sketch folder),
    so only a changed file, header or flag compiles again."""
    digest = hashlib.sha256("\0".join([*flags, context, source.name]).encode() + source.read_bytes()).hexdigest()
    return cache_root() / "objects" / f"{source.stem}-{digest[:20]}.o"


def build_sketch(project_dir: str | os.PathLike[str], board: Board | str = BOARD_ID, *, kernels: str = "cmsis-nn",
                 output_dir: str | os.PathLike[str] | None = None, on_output: OutputCallback | None = None,
                 stack_bytes: int = DEFAULT_STACK_BYTES, timeout: float = TFLM_SKETCH_TIMEOUT_S,
                 overwrite: bool = False) -> VirtualBuild:
    """Compile the Arduino sketch in `project_dir` for the virtual board against the installed TFLite Micro library.

    kernels: "cmsis-nn" (with the Cortex-M4's DSP extension) or "portable" (CMSIS-NN's portable C path). The image
    goes to output_dir/app.elf (default <project>/build/<board id>[-portable]) with its map. The library is found
    as firmware.tflm_library finds it (LibraryNotFoundError saying how to install it) and compiled once per machine
    into the cache (archive.py; its first build takes minutes and has its own limits). timeout bounds the sketch's
    own compile and link. A compile error is returned (ok=False, with diagnostics), not raised. It writes
    objects/<sketch>.ino.cpp, app.elf and app.map in output_dir and replaces them only as image.build does (the
    folder's marker lists them, or overwrite=True), else FolderNotOursError names the file.
    """
    board = as_board(board)
    require_tools("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size")
    project = Path(project_dir)
    sketch = sketch_folder(project)
    if sketch is None:
        raise ConfigError(f"{project} holds no Arduino sketch (<name>/<name>.ino): pass the folder write_project "
                          "wrote for a TFLite Micro target.")
    check_kernels(kernels)
    library = find_library(project)
    archive = ensure_archive(library, kernels, on_output=on_output)

    default_out = project / "build" / (board.id if kernels == KERNELS[0] else f"{board.id}-{kernels}")
    out = Path(output_dir if output_dir is not None else default_out).resolve()
    inos, others = sketch_sources(sketch)
    ino_unit = out / "objects" / f"{sketch.name}.ino.cpp"
    elf, map_file = out / "app.elf", out / "app.map"
    owned = claim(out, BUILD_WRITER, [ino_unit, elf, map_file], overwrite=overwrite)
    write_file(ino_unit, combined_ino(inos))
    support, shim = board_sources(), shim_sources()
    sources = [ino_unit, *others, *sorted(shim.glob("*.cpp")), *(support / name for name in BOARD_FILES),
               *arduino_sources(library)]
    includes = [f"-I{sketch}", f"-I{shim}", f"-I{support}", f"-I{archive.include_dir}"]
    defines = [f"-DTINYML_ICOUNT_SHIFT={ICOUNT_SHIFT}"]

    def flags(source: Path) -> list[str]:  # the library's own flags, so both sides agree on the C++ ABI
        return [*COMMON_FLAGS, *(C_FLAGS if source.suffix == ".c" else CXX_FLAGS), *defines, *includes]

    start = time.monotonic()
    deadline = start + timeout
    # Objects are kept in the cache by what they depend on, so a build compiles only what changed: the shim, the
    # board support and the library's Arduino files once per machine, the sketch's files once per content (the two
    # kernel flavours share them: only the archive's CMSIS-NN objects differ).
    own = len(others) + 1
    shared = f"{support_digest(support, shim)} {library.version} {cache_key(library)}"
    sketch_context = f"{shared} {support_digest(sketch)} {combined_ino(inos)}"
    targets = [cached_object(source, flags(source), sketch_context if index < own else shared)
               for index, source in enumerate(sources)]
    pending = [(source, target) for source, target in zip(sources, targets) if not target.is_file()]
    (cache_root() / "objects").mkdir(parents=True, exist_ok=True)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        runs = list(pool.map(lambda item: compile_source(*item, flags(item[0]), deadline - time.monotonic()),
                             pending))
    output = "".join(text for _, text in runs)
    returncode: int | None = next((code for code, _ in runs if code != 0), 0)

    command = ["arm-none-eabi-g++", *TARGET_FLAGS, *map(str, targets), str(archive.path),
               "-T", str(support / LINKER_SCRIPT), "-T", str(shim / SHIM_LINKER_SCRIPT),
               f"-Wl,--defsym=STACK_SIZE={int(stack_bytes)}", *LDFLAGS, f"-Wl,-Map={map_file}", "-lm", "-o", str(elf)]
    elf.unlink(missing_ok=True)
    if returncode == 0:
        code, text = _link(command, deadline)
        output += text
        returncode = code
    owned.record([ino_unit, elf, map_file])
    if on_output is not None:
        for line in output.splitlines():
            on_output(line)
    ok = returncode == 0 and elf.is_file()
    hint = ""
    if not ok and returncode is None:
        hint = (f"the sketch did not compile and link within {timeout:g} s and was stopped — build it again with a "
                "larger timeout=")
    result = VirtualBuild(ok=ok, tool="arm-none-eabi-g++", board=board.id, command=command, output=output,
                          returncode=returncode, project_dir=sketch, output_dir=out,
                          artifacts={"elf": elf, "map": map_file} if ok else {},
                          diagnostics=parse_diagnostics(output), seconds=time.monotonic() - start, hint=hint,
                          elf=elf if ok else None, stack_bytes=int(stack_bytes), kernels=kernels)
    return measure(result)


def _link(command: list[str], deadline: float) -> tuple[int | None, str]:
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        return None, "arm-none-eabi-g++ did not finish the link in time"
    return run.returncode, run.stdout + run.stderr


__all__ = ["BOARD_FILES", "KERNELS", "build_sketch", "combined_ino", "shim_sources", "sketch_folder",
           "sketch_sources"]
