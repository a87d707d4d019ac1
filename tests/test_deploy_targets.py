"""write_project's target choice and what it deploys to the TFLite Micro library: the virtual board runs the portable
C target when that covers the model and the real boards' TFLite Micro sketch otherwise, and a model the installed
library would compute wrongly (per-channel Dense weights) is refused before anything is written."""
from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pytest

from jupyter_tinyml.errors import ConfigError, PerChannelDenseError
from jupyter_tinyml.firmware import tflm_library
from jupyter_tinyml.firmware.c_project import CProject
from jupyter_tinyml.firmware.project import Project, write_project
from jupyter_tinyml.firmware.tflm_library import LIBRARY_ENV
from prerequisites import require_tflm_library
from test_tflm_library import fake_library
from trained_models import Trained

keras = pytest.importorskip("keras")
pytest.importorskip("tflite_micro")

VIRTUAL = "virtual-cortex-m4"
# The sketch's files that hold nothing of the board: a real board and the virtual one get them byte for byte.
BOARD_FREE_FILES = ("model_data.h", "model_data.cpp", "op_resolver.h", "tinyml_model.h", "tinyml_model.cpp",
                    "tinyml_protocol.h", "tinyml_protocol.cpp")


@pytest.fixture(scope="module")
def real_library() -> Path:
    """The TFLite Micro Arduino library this machine has (TINYML_TFLM_LIBRARY: conftest and `make test` point it at
    the shared copy)."""
    return require_tflm_library().root



@pytest.fixture
def with_real_library(real_library: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(LIBRARY_ENV, str(real_library))
    return real_library


@pytest.fixture(scope="module")
def per_channel_digits(digits: Trained) -> bytes:
    """The digits CNN with TensorFlow's default per-channel Dense weights."""
    from jupyter_tinyml.model.convert import convert

    return convert(digits.model, digits.x_train, per_channel_dense=True)


@pytest.fixture(scope="module")
def conv1d_recipe_int8() -> bytes:
    """The train stage's own Conv1D model for time-series windows (its recipe code, built and compiled; training
    does not change which ops it has), converted to int8."""
    from jupyter_tinyml.model.convert import convert
    from jupyter_tinyml.notebook.context import capture
    from jupyter_tinyml.stages import train

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 32, 3)).astype(np.float32)
    y = rng.integers(0, 3, 120)
    namespace = {"x_train": x[:100], "y_train": y[:100], "x_test": x[100:], "y_test": y[100:]}
    code = "\n".join(cell.source for cell in train.recipe("", capture(namespace)) if cell.cell_type == "code")
    assert "keras.layers.GlobalAveragePooling1D()" in code and "history = model.fit(" in code
    exec(code.split("history = model.fit(")[0], namespace)  # noqa: S102 — the recipe's own model cell
    return convert(namespace["model"], x[:100])


# ------------------------------------------------------------------------------------------- target choice


def test_auto_on_the_virtual_board_takes_the_c_target_for_the_conv1d_recipe(conv1d_recipe_int8: bytes,
                                                                           tmp_path: Path) -> None:
    """The time-series recipe's GlobalAveragePooling1D (MEAN over one axis of N×T×C) is the C target's now."""
    project = write_project(conv1d_recipe_int8, VIRTUAL, tmp_path / "fw")
    assert isinstance(project, CProject) and project.target == "c"
    assert project.target_reason.startswith(f"{VIRTUAL}: portable C target — covers all")
    assert "MEAN" in project.ops and (project.root / "model_c.c").is_file()


def test_auto_on_the_virtual_board_takes_the_c_target_when_it_covers_every_op(digits_int8: bytes,
                                                                             tmp_path: Path) -> None:
    project = write_project(digits_int8, VIRTUAL, tmp_path / "fw")
    assert isinstance(project, CProject) and project.target == "c"
    kinds = set(project.ops)
    assert kinds == {"CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}
    assert project.target_reason == f"{VIRTUAL}: portable C target — covers all {len(kinds)} ops"
    assert f"  target:  {project.target_reason}" in str(project)
    assert (project.root / "model_c.c").is_file()


def test_real_boards_keep_the_tflite_micro_sketch(digits_int8: bytes, tmp_path: Path) -> None:
    project = write_project(digits_int8, "nano33ble", tmp_path / "fw")
    assert isinstance(project, Project) and project.target == "tflm" and project.fqbn
    assert project.target_reason == "nano33ble: TFLite Micro — a real board runs the Arduino sketch"
    c_project = write_project(digits_int8, "nano33ble", tmp_path / "c", target="c")
    assert isinstance(c_project, CProject)
    assert c_project.target_reason == "nano33ble: portable C target — asked for (target='c')"


def test_tflm_on_the_virtual_board_writes_the_real_boards_sketch(conv1d_recipe_int8: bytes, tmp_path: Path) -> None:
    virtual = write_project(conv1d_recipe_int8, VIRTUAL, tmp_path / "virtual", target="tflm", name="gesture")
    nano = write_project(conv1d_recipe_int8, "nano33ble", tmp_path / "nano", target="tflm", name="gesture")
    assert virtual.target_reason == f"{VIRTUAL}: TFLite Micro — asked for (target='tflm')"
    # The same files, less the build ids the virtual board has none of (it is built by hardware/build.py).
    names = {path.relative_to(virtual.root).as_posix() for path in virtual.files}
    assert names == {path.relative_to(nano.root).as_posix() for path in nano.files} - {
        "platformio.ini", "gesture/sketch.yaml"}
    assert virtual.fqbn is None and virtual.platformio_ini is None
    for name in BOARD_FREE_FILES:
        assert (virtual.sketch_dir / name).read_bytes() == (nano.sketch_dir / name).read_bytes(), name
    assert virtual.ops == nano.ops and virtual.arena_bytes == nano.arena_bytes
    # The sketch and its settings differ in the board's name and id only.
    for name in ("gesture.ino", "model_settings.h"):
        changed = [line for line in difflib.unified_diff((nano.sketch_dir / name).read_text().splitlines(),
                                                         (virtual.sketch_dir / name).read_text().splitlines(),
                                                         lineterm="", n=0)
                   if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        assert changed, name
        for line in changed:
            assert any(mark in line for mark in ("nano33ble", "Nano 33 BLE", VIRTUAL, "Virtual Cortex-M4")), line
    # Only the budgets differ: the same arena and model, judged against each board's own flash and RAM.
    assert virtual.budget.arena_bytes == nano.budget.arena_bytes
    assert virtual.budget.ram_available != nano.budget.ram_available


def test_an_unknown_target_is_one_line(digits_int8: bytes, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^Unknown target 'zephyr': use 'tflm' \(TFLite Micro sketch\), 'c'"):
        write_project(digits_int8, "nano33ble", tmp_path / "fw", target="zephyr")


# ------------------------------------------------------------------------ what the library computes right


@pytest.mark.parametrize("board, target", [("nano33ble", "auto"), (VIRTUAL, "tflm")])
def test_per_channel_dense_is_refused_for_the_real_library_with_how_to_convert(
        per_channel_digits: bytes, with_real_library: Path, tmp_path: Path, board: str, target: str) -> None:
    assert not tflm_library.library_at(with_real_library).per_channel_fully_connected
    with pytest.raises(PerChannelDenseError) as error:
        write_project(per_channel_digits, board, tmp_path / "fw", target=target)
    message = str(error.value)
    assert message.startswith("The model's 2 Dense layers have per-channel weight scales, which "
                              f"Chirale_TensorFLowLite 2.0.0 (in {with_real_library.resolve()}) computes wrongly")
    assert "convert again with convert(model, x_train), whose default per_channel_dense=False" in message
    assert "\n" not in message and not (tmp_path / "fw").exists()


def test_the_default_conversion_is_accepted_by_the_real_library(digits_int8: bytes, with_real_library: Path,
                                                                tmp_path: Path) -> None:
    project = write_project(digits_int8, "nano33ble", tmp_path / "fw")
    assert project.installed_library is not None and project.installed_library.root == with_real_library.resolve()
    assert f"  library:    Chirale_TensorFLowLite 2.0.0 in {with_real_library.resolve()}" in str(project)


def test_the_c_target_computes_per_channel_dense_and_is_not_refused(per_channel_digits: bytes,
                                                                   with_real_library: Path, tmp_path: Path) -> None:
    project = write_project(per_channel_digits, VIRTUAL, tmp_path / "auto")
    assert isinstance(project, CProject)
    assert isinstance(write_project(per_channel_digits, "nano33ble", tmp_path / "c", target="c"), CProject)


def test_a_library_with_per_channel_fully_connected_takes_per_channel_dense(per_channel_digits: bytes,
                                                                           no_tflm_library: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "fw"
    # The project's own PlatformIO copy is the one it builds with: find_library(out_dir) looks there first.
    fake_library(out_dir / ".pio" / "libdeps" / "nano33ble" / "Chirale_TensorFLowLite", version="3.0.0",
                 per_channel=True)
    project = write_project(per_channel_digits, "nano33ble", out_dir)
    assert project.installed_library is not None and project.installed_library.version == "3.0.0"
    older = tmp_path / "older"
    fake_library(older / ".pio" / "libdeps" / "nano33ble" / "Chirale_TensorFLowLite", version="2.0.0")
    with pytest.raises(PerChannelDenseError, match=r"which Chirale_TensorFLowLite 2\.0\.0 \(in "):
        write_project(per_channel_digits, "nano33ble", older)


def test_without_the_library_the_project_is_written_and_says_how_to_install_it(per_channel_digits: bytes,
                                                                              digits_int8: bytes, no_tflm_library: Path,
                                                                              tmp_path: Path) -> None:
    project = write_project(digits_int8, "nano33ble", tmp_path / "fw")
    assert project.installed_library is None and project.sketch.is_file()
    text = str(project)
    assert ("  library:    Chirale_TensorFLowLite is not installed — install it with `arduino-cli lib install "
            "Chirale_TensorFLowLite`") in text
    assert LIBRARY_ENV in text
    # A per-channel model cannot be judged yet: written, with a note saying what the library must do.
    later = write_project(per_channel_digits, "nano33ble", tmp_path / "later")
    assert any("per-channel weight scales" in note and "convert(model, x_train)" in note for note in later.notes)


def test_an_op_the_installed_library_cannot_register_is_refused(conv1d_recipe_int8: bytes, real_library: Path,
                                                                 no_tflm_library: Path,
                                                                 tmp_path: Path) -> None:
    from jupyter_tinyml.errors import QuantizationError
    from jupyter_tinyml.firmware.project import RESOLVER_HEADER

    # The real library registers every op of the recipe's model (MEAN included) ...
    real = (real_library / "src" / RESOLVER_HEADER).read_text()
    assert "TfLiteStatus AddMean(" in real
    # ... an older copy in the project's PlatformIO folder whose resolver lacks AddMean does not.
    old = fake_library(tmp_path / "fw" / ".pio" / "libdeps" / "virtual" / "Chirale_TensorFLowLite", version="1.0.0")
    (old / "src" / RESOLVER_HEADER).write_text(real.replace("TfLiteStatus AddMean(", "TfLiteStatus Mean_("))
    with pytest.raises(QuantizationError, match=r"^Chirale_TensorFLowLite 1\.0\.0 \(in .*\) has no kernel for MEAN, "
                                                r"which the model uses — replace those layers, or install a newer"):
        write_project(conv1d_recipe_int8, VIRTUAL, tmp_path / "fw", target="tflm")
    assert not (tmp_path / "fw" / "tinyml_model").exists()
