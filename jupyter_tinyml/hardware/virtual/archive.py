"""The TFLite Micro Arduino library compiled once per machine for the virtual board, as a cached static archive.

A sketch for the emulated Cortex-M4 links `libtflm.a`, built from the library a person installed (firmware/
tflm_library.py finds it) and kept under the user cache folder, keyed by what changes the objects:

    $XDG_CACHE_HOME (else ~/.cache) /jupyter-tinyml/tflm/
        <version>-core-<key>/objects/*.o      TFLite Micro, its reference kernels, flatbuffers, kissfft, ...
        <version>-cmsis-nn-<key>/libtflm.a    the core + CMSIS-NN with the Cortex-M4's DSP extension
        <version>-portable-<key>/libtflm.a    the core + CMSIS-NN's portable C path (-U__ARM_FEATURE_DSP)
        <version>-<key>.lock                  held while either is built

<key> hashes the compiler flags, the compiler's version and the library's file list, so a new flag, compiler or
library release gets its own archive. Only CMSIS-NN's sources and the kernels/cmsis_nn wrappers read
__ARM_FEATURE_DSP; everything else compiles to the same objects in both flavours, so it is compiled once into the
core folder and the second flavour costs only CMSIS-NN. Sources are compiled in parallel on every core; a file lock
keeps two processes (pytest-xdist's workers) from building the same archive at once, and every object and archive
is written under a temporary name and renamed, so no process ever sees half of one.

The library's Arduino-dependent sources are not in the archive: system_setup.cpp (it wants the mbed core's ring
buffer) is replaced by the Arduino shim's DebugLog, and peripherals/ (Arduino's delay and Serial) is compiled with
each sketch against the shim (tflm.py).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from ...errors import BuildError, ConfigError
from ...firmware.tflm_library import TFLMLibrary
from ..programs import OutputCallback
from ..settings import TFLM_LOCK_TIMEOUT_S, TFLM_SOURCE_TIMEOUT_S

KERNELS = ("cmsis-nn", "portable")  # CMSIS-NN with the Cortex-M4 DSP extension / its portable C path
CACHE_ENV = "XDG_CACHE_HOME"
ARCHIVE_NAME = "libtflm.a"
# The Cortex-M4F of the emulated board, as image.py compiles the C target (-O2 too, so the two compare fairly).
TARGET_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
# What an Arduino build of the library defines for a Nano 33 BLE Sense (mbed core); TF_LITE_STATIC_MEMORY is the
# library's own setting for microcontrollers (no malloc). -ffunction-sections lets the sketch's link drop what its
# ops do not use.
COMMON_FLAGS = (*TARGET_FLAGS, "-O2", "-ffunction-sections", "-fdata-sections", "-DARDUINO", "-DARDUINO_ARCH_MBED",
                "-DTF_LITE_STATIC_MEMORY")
CXX_FLAGS = ("-std=gnu++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
C_FLAGS = ("-std=gnu11",)
# The portable flavour: CMSIS-NN's headers pick their DSP-extension code paths from this macro alone.
KERNEL_FLAGS = {"cmsis-nn": (), "portable": ("-U__ARM_FEATURE_DSP",)}
# Sources that read __ARM_FEATURE_DSP (through CMSIS-NN's arm_nn_math_types.h); all others form the shared core.
KERNEL_FOLDERS = ("third_party/cmsis_nn/", "tensorflow/lite/micro/kernels/cmsis_nn/")
# Library sources left out of the archive (see the module docstring).
ARDUINO_SOURCES = ("tensorflow/lite/micro/system_setup.cpp",)
ARDUINO_FOLDERS = ("peripherals/",)
SOURCE_SUFFIXES = (".c", ".cc", ".cpp")
ERROR_LINES = 12  # compiler lines quoted when a library source does not compile


def cache_root() -> Path:
    """Where archives are kept: $XDG_CACHE_HOME/jupyter-tinyml/tflm, else ~/.cache/jupyter-tinyml/tflm."""
    base = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache")
    return Path(base).expanduser() / "jupyter-tinyml" / "tflm"


def check_kernels(kernels: str) -> str:
    """`kernels` when it names a flavour, else ConfigError listing them."""
    if kernels not in KERNELS:
        raise ConfigError(f"Unknown TFLite Micro kernels {kernels!r}: choose one of {', '.join(KERNELS)}.")
    return kernels


def library_sources(library: TFLMLibrary) -> list[str]:
    """Every compiled source of the library, relative to its src/ folder, sorted."""
    root = library.source_dir
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*")
                  if path.suffix in SOURCE_SUFFIXES and path.is_file())


def archive_sources(library: TFLMLibrary) -> tuple[list[str], list[str]]:
    """(core sources, kernel sources) of the archive: the library minus its Arduino-dependent files."""
    sources = [name for name in library_sources(library)
               if name not in ARDUINO_SOURCES and not name.startswith(ARDUINO_FOLDERS)]
    kernel = [name for name in sources if name.startswith(KERNEL_FOLDERS)]
    return [name for name in sources if name not in kernel], kernel


def arduino_sources(library: TFLMLibrary) -> list[Path]:
    """The library's sources compiled with each sketch, against the Arduino shim (peripherals/)."""
    return [library.source_dir / name for name in library_sources(library) if name.startswith(ARDUINO_FOLDERS)]


@lru_cache(maxsize=1)
def compiler_version() -> str:
    """arm-none-eabi-g++'s version line: a new compiler gets new archives."""
    run = subprocess.run(["arm-none-eabi-g++", "--version"], capture_output=True, text=True, check=True)
    return run.stdout.splitlines()[0].strip()


def compile_flags(source: str, kernels: str | None = None) -> list[str]:
    """The flags one library source is compiled with (kernels: the flavour, for CMSIS-NN's sources)."""
    language = C_FLAGS if source.endswith(".c") else CXX_FLAGS
    return [*COMMON_FLAGS, *language, *(KERNEL_FLAGS[kernels] if kernels else ())]


def cache_key(library: TFLMLibrary) -> str:
    """A short hash of everything that changes the objects besides the library's version."""
    digest = hashlib.sha256()
    for part in (COMMON_FLAGS, CXX_FLAGS, C_FLAGS, *(KERNEL_FLAGS[name] for name in KERNELS),
                 (compiler_version(),), (library.name,)):
        digest.update("\0".join(part).encode() + b"\1")
    for name in library_sources(library):  # a library that gained, lost or changed a source is another library
        digest.update(f"{name}:{(library.source_dir / name).stat().st_size}\n".encode())
    return digest.hexdigest()[:12]


def object_name(source: str) -> str:
    """One object file name per source path (the library has kernel_util.cpp twice, in different folders)."""
    return source.rsplit(".", 1)[0].replace("/", "__") + ".o"


@dataclass(frozen=True)
class LibraryArchive:
    """A built flavour of the library: the archive to link and the folder to put on the include path."""

    library: TFLMLibrary
    kernels: str
    path: Path
    seconds: float  # what building it took in this call (0 when it came from the cache)

    @property
    def include_dir(self) -> Path:
        return self.library.source_dir

    @property
    def from_cache(self) -> bool:
        return self.seconds == 0.0


def archive_path(library: TFLMLibrary, kernels: str, key: str | None = None) -> Path:
    """Where the archive of `kernels` for this library, compiler and flags lives (built or not)."""
    key = key or cache_key(library)
    return cache_root() / f"{library.version}-{check_kernels(kernels)}-{key}" / ARCHIVE_NAME


@contextmanager
def build_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed); BuildError when another process holds it past
    `timeout` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BuildError(f"Another process has been building the TFLite Micro library for more than "
                                     f"{timeout:g} s (lock {path}): wait for it, or delete the lock file if no "
                                     "build is running") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def compile_source(source: Path, target: Path, flags: list[str], timeout: float) -> tuple[int | None, str]:
    """Compile one source to `target` with the Arm compiler its suffix calls for: (exit code, or None when it ran
    past `timeout` seconds; the compiler's output). The object is written under a temporary name and renamed, so a
    cache never holds a half-written one."""
    compiler = "arm-none-eabi-gcc" if source.suffix == ".c" else "arm-none-eabi-g++"
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    command = [compiler, *flags, "-c", str(source), "-o", str(partial)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=max(timeout, 1.0))
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        return None, f"{source}: {compiler} did not finish within {timeout:g} s"
    if run.returncode == 0:
        os.replace(partial, target)
    else:
        partial.unlink(missing_ok=True)
    return run.returncode, run.stdout + run.stderr


def _compile_library_source(source: Path, target: Path, flags: list[str], include: Path) -> str | None:
    """The compiler's output when a library source does not compile, else None."""
    code, output = compile_source(source, target, [*flags, f"-I{include}"], TFLM_SOURCE_TIMEOUT_S)
    return None if code == 0 else output


def compile_objects(library: TFLMLibrary, sources: list[str], folder: Path, kernels: str | None,
                    on_output: OutputCallback | None) -> list[Path]:
    """Compile `sources` into `folder` in parallel on every core, skipping objects an earlier, interrupted build
    finished; BuildError with the compiler's first lines when one does not compile. Call it holding the lock."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.tmp"):  # left by a build that was killed; the lock says none is running now
        stale.unlink(missing_ok=True)
    targets = [folder / object_name(source) for source in sources]
    todo = [(source, target) for source, target in zip(sources, targets) if not target.is_file()]
    if on_output is not None and todo:
        what = f"CMSIS-NN ({kernels})" if kernels else "the TFLite Micro core"
        on_output(f"Compiling {what} of {library.name} {library.version}: {len(todo)} sources on "
                  f"{os.cpu_count() or 1} cores (once per machine)")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = [pool.submit(_compile_library_source, library.source_dir / source, target, compile_flags(source, kernels),
                               library.source_dir) for source, target in todo]
        for (source, _), future in zip(todo, futures):
            failure = future.result()
            if failure is not None:
                for other in futures:
                    other.cancel()
                excerpt = "\n".join(failure.strip().splitlines()[:ERROR_LINES])
                raise BuildError(f"{library.name} {library.version}'s {source} does not compile for the virtual "
                                 f"board with {compiler_version()}:\n{excerpt}", failure)
    return targets


def _write_archive(path: Path, objects: list[Path]) -> None:
    """`ar` the objects into `path`, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    os.unlink(partial)  # ar creates it
    try:
        run = subprocess.run(["arm-none-eabi-ar", "rcs", partial, *map(str, objects)], capture_output=True,
                             text=True)
        if run.returncode != 0:
            raise BuildError(f"arm-none-eabi-ar could not write {path}: {run.stderr.strip()}", run.stderr)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


def ensure_archive(library: TFLMLibrary, kernels: str = "cmsis-nn", *,
                   on_output: OutputCallback | None = None,
                   lock_timeout: float = TFLM_LOCK_TIMEOUT_S) -> LibraryArchive:
    """The archive of `library` with `kernels`, built now when this machine has none for its compiler and flags.

    Builds share the core's objects between the flavours; a process that finds another one building waits for it
    (at most lock_timeout seconds) and then uses its archive.
    """
    check_kernels(kernels)
    key = cache_key(library)
    path = archive_path(library, kernels, key)
    if path.is_file():
        return LibraryArchive(library, kernels, path, 0.0)
    start = time.monotonic()
    with build_lock(cache_root() / f"{library.version}-{key}.lock", lock_timeout):
        if path.is_file():  # another process built it while we waited
            return LibraryArchive(library, kernels, path, 0.0)
        core_sources, kernel_sources = archive_sources(library)
        core = compile_objects(library, core_sources, cache_root() / f"{library.version}-core-{key}" / "objects",
                               None, on_output)
        flavour = compile_objects(library, kernel_sources, path.parent / "objects", kernels, on_output)
        _write_archive(path, core + flavour)
        shutil.rmtree(path.parent / "objects", ignore_errors=True)  # in the archive now; the core's are shared
    seconds = time.monotonic() - start
    if on_output is not None:
        on_output(f"{library.name} {library.version} ({kernels}) compiled in {seconds:.0f} s: {path}")
    return LibraryArchive(library, kernels, path, seconds)


def main() -> int:
    """`python -m jupyter_tinyml.hardware.virtual.archive`: compile the found library for the virtual board in both
    kernel flavours now (minutes, once per machine), so that a later build or test takes seconds."""
    from ...errors import TinyMLError
    from ...firmware.tflm_library import find_library

    try:
        library = find_library()
        for kernels in KERNELS:
            built = ensure_archive(library, kernels, on_output=print)
            print(f"{library.name} {library.version} ({kernels}): {built.path}")
    except TinyMLError as error:
        print(error)
        return 1
    return 0


__all__ = [
    "ARCHIVE_NAME", "CACHE_ENV", "COMMON_FLAGS", "CXX_FLAGS", "C_FLAGS", "KERNELS", "KERNEL_FLAGS", "LibraryArchive",
    "TARGET_FLAGS", "archive_path", "archive_sources", "arduino_sources", "build_lock", "cache_key", "cache_root",
    "check_kernels", "compile_flags", "compile_objects", "compile_source", "compiler_version", "ensure_archive", "main",
    "object_name",
]


if __name__ == "__main__":
    raise SystemExit(main())
