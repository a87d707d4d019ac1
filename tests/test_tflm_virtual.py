"""The TFLite Micro Arduino project on the virtual board: the sketch write_project writes for a Nano 33 BLE Sense,
compiled unchanged against the real library (cached once per machine) with the emulated board's Arduino shim, and
run on QEMU's mps2-an386 with both kernel flavours.

Needs the Arm cross compiler (+ newlib, libstdc++), qemu-system-arm and the library (TINYML_TFLM_LIBRARY, which
`make test` points at ../shared/third_party/Chirale_TensorFlowLite); without them these tests skip with the
reason, except under CI=true, where they fail. The first run on a machine compiles the library (minutes); later
runs take it from the cache.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from jupyter_tinyml.errors import BuildError, DeviceError, LibraryNotFoundError
from jupyter_tinyml.firmware.tflm_library import LIBRARY_ENV, TFLMLibrary, find_library
from jupyter_tinyml.hardware import build as hardware_build
from jupyter_tinyml.hardware.serial_link import BoardLink
from jupyter_tinyml.hardware.virtual import archive, image, qemu, tflm, toolchain
from prerequisites import require_arm_tools, require_tflm_library

pytestmark = pytest.mark.usefixtures("no_stray_qemu")

SAMPLES = 30
TOO_SMALL_ARENA = 512  # bytes: the digits CNN's tensors need several KiB


@pytest.fixture(scope="module")
def library() -> TFLMLibrary:
    return require_tflm_library(with_board=True)


@pytest.fixture(scope="module")
def digits_model(digits, library: TFLMLibrary) -> tuple[bytes, np.ndarray]:
    """The shared digits CNN (conv 3x3x8 -> max pool -> dense 32 -> dense 10 softmax) converted with per-tensor
    Dense weights, which this library's CMSIS-NN FULLY_CONNECTED computes exactly, and its held-out samples."""
    from jupyter_tinyml.model.convert import convert

    return convert(digits.model, digits.x_train, per_channel_dense=False), digits.x_test


@pytest.fixture(scope="module")
def digits_project(digits_model: tuple[bytes, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Arduino project write_project writes for the virtual board (the files a Nano 33 BLE Sense gets, but for
    the board's name and budgets)."""
    from jupyter_tinyml.firmware.project import write_project

    folder = tmp_path_factory.mktemp("digits_tflm")
    project = write_project(digits_model[0], board="virtual-cortex-m4", out_dir=folder / "project", name="digits",
                            target="tflm")
    return Path(project.root)


@pytest.fixture(scope="module")
def digits_builds(digits_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, toolchain.VirtualBuild]:
    """The digits sketch built once per kernel flavour (the first build on a machine compiles the library)."""
    builds = {}
    for kernels in archive.KERNELS:
        built = tflm.build_sketch(digits_project, kernels=kernels, output_dir=tmp_path_factory.mktemp(kernels))
        assert built.ok, built.error_text()
        builds[kernels] = built
    return builds


def sketch_copy(project: Path, destination: Path) -> Path:
    """A copy of the written project (sources only) to change one file in."""
    shutil.copytree(project, destination, ignore=shutil.ignore_patterns("build", ".pio"))
    return destination


# ------------------------------------------------------------------------------------- on the emulated board


@pytest.mark.parametrize("kernels", archive.KERNELS)
def test_digits_cnn_runs_exactly_with_both_kernel_flavours(kernels: str, digits_builds: dict[str, toolchain.VirtualBuild],
                                                           digits_model: tuple[bytes, np.ndarray]) -> None:
    digits_build = digits_builds[kernels]
    tflite, x_test = digits_model
    assert digits_build.kernels in archive.KERNELS and "TFLite Micro" in digits_build.headline()
    # The interpreter, the kernels and the model are in the image; the sizes come from arm-none-eabi-size.
    assert 40_000 < digits_build.flash_bytes < 400_000 and digits_build.sections[".init_array"] > 0
    assert digits_build.ram_bytes > digits_build.stack_bytes + 4_000
    with qemu.flash(digits_build) as board:
        ready = board.ready_line
        with BoardLink(board.port, board="virtual-cortex-m4") as link:
            info = link.info()
            result = link.check(tflite, x_test[:SAMPLES])
    # The sketch announces itself as written for the Nano 33 BLE Sense: same files, only the board differs.
    assert re.fullmatch(r"TINYML READY v1 model=digits in=64 out=10 arena=\d+ board=virtual-cortex-m4", ready), ready
    assert 0 < info.arena <= project_arena(digits_build.project_dir)
    assert result.agreement == 1.0 and result.max_abs_diff <= 1, result.summary()
    assert result.ok and result.n == SAMPLES
    # tinyml_protocol's cycle counter, which the shim provides: emulated instructions per inference.
    assert result.cycles is not None and len(result.cycles) == SAMPLES
    assert 20_000 < min(result.cycles) <= max(result.cycles) < 5_000_000
    assert result.latency_us_median == pytest.approx(np.median(result.cycles) / 1000, abs=2)


def project_arena(sketch: Path) -> int:
    """kTensorArenaSize as write_project wrote it into model_settings.h."""
    text = (sketch / "model_settings.h").read_text()
    return int(re.search(r"kTensorArenaSize = (\d+);", text).group(1))


def test_the_dsp_extension_makes_cmsis_nn_faster_than_its_portable_path(
        digits_builds: dict[str, toolchain.VirtualBuild], digits_model: tuple[bytes, np.ndarray]) -> None:
    tflite, x_test = digits_model
    cycles = {}
    for kernels, built in digits_builds.items():
        with qemu.flash(built) as board, BoardLink(board.port, board="virtual-cortex-m4") as link:
            cycles[kernels] = link.check(tflite, x_test[:3]).cycles
    assert cycles["cmsis-nn"] is not None and cycles["portable"] is not None
    # The same arithmetic (both pass the check above), fewer instructions with the DSP extension's SIMD.
    assert np.median(cycles["cmsis-nn"]) < np.median(cycles["portable"]), cycles


def test_a_too_small_arena_fails_cleanly_with_the_allocate_tensors_line(digits_project: Path,
                                                                        tmp_path: Path) -> None:
    project = sketch_copy(digits_project, tmp_path / "project")
    settings = project / "digits" / "model_settings.h"
    text = settings.read_text()
    settings.write_text(re.sub(r"kTensorArenaSize = \d+;", f"kTensorArenaSize = {TOO_SMALL_ARENA};", text))
    built = hardware_build.build(project, "virtual-cortex-m4")  # the same dispatch the DeployPanel uses
    assert built.ok and isinstance(built, toolchain.VirtualBuild) and built.kernels == "cmsis-nn", built.error_text()
    with qemu.flash(built) as board:
        assert board.ready_line.startswith(f"TINYML ERROR AllocateTensors failed: arena {TOO_SMALL_ARENA} too small")
        start = time.monotonic()
        with pytest.raises(DeviceError, match="AllocateTensors failed"):
            with BoardLink(board.port, board="virtual-cortex-m4") as link:
                link.info()
        assert time.monotonic() - start < 5.0


# ------------------------------------------------------------------------------------------------ building


def test_image_build_takes_a_sketch_folder_and_a_compile_error_comes_back_with_diagnostics(
        digits_project: Path, tmp_path: Path) -> None:
    project = sketch_copy(digits_project, tmp_path / "project")
    ino = project / "digits" / "digits.ino"
    text = ino.read_text()
    ino.write_text(text.replace("// <<< tinyml:app-loop", "  undeclared_sensor.read();\n  // <<< tinyml:app-loop"))
    built = image.build(project)
    assert not built.ok and built.artifacts == {} and built.elf is None
    error = built.errors[0]
    assert "undeclared_sensor" in str(error) and Path(error.file).name == "digits.ino"
    assert error.line == text[:text.index("// <<< tinyml:app-loop")].count("\n") + 1
    assert "fix the code" in built.headline()


def test_a_second_build_takes_the_library_from_the_cache(digits_builds: dict[str, toolchain.VirtualBuild],
                                                         digits_project: Path, library: TFLMLibrary,
                                                         tmp_path: Path) -> None:
    digits_build = digits_builds["cmsis-nn"]
    path = archive.archive_path(library, digits_build.kernels)
    assert path.is_file() and path.is_relative_to(archive.cache_root())
    assert path.parent.name.startswith(f"{library.version}-{digits_build.kernels}-")
    before = path.stat().st_mtime_ns
    lines: list[str] = []
    again = tflm.build_sketch(digits_project, kernels=digits_build.kernels, output_dir=tmp_path, on_output=lines.append)
    assert again.ok and path.stat().st_mtime_ns == before
    assert not any(line.startswith("Compiling") for line in lines), lines
    assert again.flash_bytes == digits_build.flash_bytes  # the same sources, the same image
    assert str(path) in again.command


def test_the_cache_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert archive.cache_root() == tmp_path / "xdg" / "jupyter-tinyml" / "tflm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert archive.cache_root() == tmp_path / "home" / ".cache" / "jupyter-tinyml" / "tflm"


def test_a_missing_library_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require_arm_tools("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size")
    (tmp_path / "project" / "sketch").mkdir(parents=True)
    (tmp_path / "project" / "sketch" / "sketch.ino").write_text("void setup() {}\nvoid loop() {}\n")
    monkeypatch.setenv(LIBRARY_ENV, str(tmp_path / "nothing here"))
    with pytest.raises(LibraryNotFoundError, match="arduino-cli lib install Chirale_TensorFLowLite"):
        tflm.build_sketch(tmp_path / "project")
    with pytest.raises(LibraryNotFoundError, match="arduino-cli lib install"):
        image.build(tmp_path / "project")  # the folder holds a sketch, so it is built as one


# A library of the installed one's layout, small enough to compile in a second: two core sources and one CMSIS-NN
# source that reads __ARM_FEATURE_DSP, so the flavours' objects differ where the real library's do.
TINY_SOURCES = {
    "tensorflow/lite/micro/core_a.cpp": "int core_a() { return 1; }\n",
    "tensorflow/lite/kernels/core_b.c": "int core_b(void) { return 2; }\n",
    "third_party/cmsis_nn/Source/dsp.c": textwrap.dedent("""\
        #if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
        int dsp_path(void) { return 1; }
        #else
        int portable_path(void) { return 1; }
        #endif
        """),
    "tensorflow/lite/micro/system_setup.cpp": "#error the Arduino shim replaces this file\n",
}

BUILD_IN_ANOTHER_PROCESS = """\
import sys
from jupyter_tinyml.firmware.tflm_library import find_library
from jupyter_tinyml.hardware.virtual import archive

built = archive.ensure_archive(find_library(), sys.argv[1], on_output=print)
print("ARCHIVE", built.path)
"""


@pytest.fixture
def tiny_library(library: TFLMLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TFLMLibrary:
    root = tmp_path / "Chirale_TensorFLowLite"
    for name, text in TINY_SOURCES.items():
        (root / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "src" / name).write_text(text)
    (root / "library.properties").write_text("name=Chirale_TensorFLowLite\nversion=0.0.1-test\n")
    monkeypatch.setenv(LIBRARY_ENV, str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return find_library()


def archive_members(path: Path) -> list[str]:
    return subprocess.run(["arm-none-eabi-ar", "t", str(path)], capture_output=True, text=True,
                          check=True).stdout.split()


def archive_symbols(path: Path) -> str:
    return subprocess.run(["arm-none-eabi-nm", str(path)], capture_output=True, text=True, check=True).stdout


def test_two_processes_build_one_archive_once_and_the_flavours_share_the_core(tiny_library: TFLMLibrary) -> None:
    # Two processes at once (as pytest-xdist's workers start): the lock lets one compile while the other waits,
    # and the other then takes its archive without compiling anything.
    env = dict(os.environ)
    runs = [subprocess.Popen([sys.executable, "-c", BUILD_IN_ANOTHER_PROCESS, "cmsis-nn"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    assert sum("Compiling the TFLite Micro core" in output for output in outputs) == 1, outputs
    paths = {line.split(" ", 1)[1] for output in outputs for line in output.splitlines() if line.startswith("ARCHIVE")}
    dsp = archive.archive_path(tiny_library, "cmsis-nn")
    assert paths == {str(dsp)}
    assert sorted(archive_members(dsp)) == [
        "tensorflow__lite__kernels__core_b.o", "tensorflow__lite__micro__core_a.o",
        "third_party__cmsis_nn__Source__dsp.o"]  # system_setup.cpp is the shim's
    assert "dsp_path" in archive_symbols(dsp) and not list(dsp.parent.glob(".*.tmp"))

    # The second flavour compiles only CMSIS-NN's sources and reuses the core's objects.
    lines: list[str] = []
    portable = archive.ensure_archive(tiny_library, "portable", on_output=lines.append)
    assert [line for line in lines if line.startswith("Compiling")] == [
        "Compiling CMSIS-NN (portable) of Chirale_TensorFLowLite 0.0.1-test: 1 sources on "
        f"{os.cpu_count()} cores (once per machine)"]
    assert "portable_path" in archive_symbols(portable.path) and "dsp_path" not in archive_symbols(portable.path)
    assert portable.path.parent.name.startswith("0.0.1-test-portable-") and not portable.from_cache
    assert archive.ensure_archive(tiny_library, "portable").from_cache


def test_other_flags_or_another_compiler_get_another_archive(tiny_library: TFLMLibrary,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    key = archive.cache_key(tiny_library)
    monkeypatch.setattr(archive, "COMMON_FLAGS", (*archive.COMMON_FLAGS, "-DEXTRA"))
    assert archive.cache_key(tiny_library) != key
    monkeypatch.undo()
    monkeypatch.setattr(archive, "compiler_version", lambda: "arm-none-eabi-g++ (another) 13.3.1")
    assert archive.cache_key(tiny_library) != key


def test_a_library_source_that_does_not_compile_is_named(tiny_library: TFLMLibrary) -> None:
    (tiny_library.source_dir / "tensorflow/lite/micro/core_a.cpp").write_text("int core_a() { return nope; }\n")
    with pytest.raises(BuildError, match=r"(?s)core_a\.cpp does not compile for the virtual board.*nope"):
        archive.ensure_archive(tiny_library, "cmsis-nn")
    assert not archive.archive_path(tiny_library, "cmsis-nn").exists()


def test_the_deploy_panel_builds_flashes_and_checks_the_tflm_sketch(digits_model: tuple[bytes, np.ndarray],
                                                                   tmp_path: Path) -> None:
    """What a workshop does with a Nano 33 BLE Sense, on the emulated board: write_project picks TFLite Micro when
    asked, the panel builds the sketch against the real library, flashes it and passes the on-device check."""
    pytest.importorskip("ipywidgets")
    from jupyter_tinyml import write_project
    from jupyter_tinyml.model.tflite import read
    from jupyter_tinyml.widgets.deploy_panel import DeployPanel

    tflite, x_test = digits_model
    assert read(tflite).per_channel_fully_connected == ()  # the default conversion, exact on this library
    project = write_project(tflite, board="virtual-cortex-m4", out_dir=tmp_path, name="digits", target="tflm")
    assert project.sketch.suffix == ".ino" and "TFLite Micro" in project.target_reason
    panel = DeployPanel(project, tflite, board="virtual", samples=x_test, check_samples=10, ports=[], repair=None)
    try:
        built = panel.build()
        assert built is not None and built.ok and built.kernels == "cmsis-nn", panel.log_view.value
        uploaded = panel.flash()
        assert uploaded is not None and uploaded.method == "qemu" and uploaded.port.startswith("/dev/pts/")
        checked = panel.check()
        assert checked is not None and checked.ok and checked.agreement == 1.0 and checked.max_abs_diff <= 1
        assert checked.cycles is not None and min(checked.cycles) > 1000
    finally:
        for board in qemu.running():
            board.stop()
