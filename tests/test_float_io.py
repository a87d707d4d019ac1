"""A float-input model (quantization="int8-float-io": float32 input and output around int8 layers) on the firmware.

write_project serves it with the TFLite Micro sketch (the portable C target runs int8 from end to end, and says so
when asked for), model_settings.h says kInputIsFloat/kOutputIsFloat, and the glue helpers take and give real
values: SetInput stores a float into a float32 input (and quantizes into an int8 one), DequantizeOutput reads a
float32 output. On the virtual board (QEMU, the real TFLite Micro library) the DeployPanel's on-device check
agrees with the host interpreter on every sample, and glue that uses SetInput + RunModel + DequantizeOutput prints
the host's class for a sample.

Needs the Arm cross compiler, QEMU and the library for the virtual-board tests (they skip with the reason, and
fail under CI=true); the rest runs anywhere TensorFlow does.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from jupyter_tinyml.errors import ConfigError, CTargetTensorTypeError, FirmwareTensorTypeError
from jupyter_tinyml.firmware.c_code import float_literal
from jupyter_tinyml.firmware.c_project import CProject
from jupyter_tinyml.firmware.project import Project, write_project
from prerequisites import require_tflm_library
from trained_models import Trained

pytestmark = pytest.mark.usefixtures("no_stray_qemu")

VIRTUAL = "virtual-cortex-m4"
CHECK_SAMPLES = 12
# What the glue below prints: the class it computed, that output's real value, whether SetInput took every value
# and refused one index past the end, and whether ModelInput() offered an int8 view of the float input.
GLUE_LINE = re.compile(r"glue class=(\d+) value=(-?[\d.]+) set=(\d) beyond=(\d) int8_view=(\w+)")


@pytest.fixture(scope="module")
def float_io(digits: Trained) -> bytes:
    """The shared digits CNN with float32 input and output, int8 inside (QUANTIZE first, DEQUANTIZE last)."""
    from jupyter_tinyml.model.convert import convert

    return convert(digits.model, digits.x_train, quantization="int8-float-io")


def host_outputs(tflite: bytes, samples: np.ndarray) -> np.ndarray:
    """The host's reference-kernel interpreter (what TFLite Micro computes) on float samples."""
    from jupyter_tinyml.model.evaluate import interpreter_for

    interpreter = interpreter_for(tflite, reference=True)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for sample in samples:
        interpreter.set_tensor(source["index"], sample.astype(np.float32).reshape(source["shape"]))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(target["index"]).reshape(-1).copy())
    return np.array(outputs)


# ------------------------------------------------------------------------------------------- write_project


def test_a_float_input_model_gets_the_tflm_sketch_with_float_settings(float_io: bytes, tmp_path: Path) -> None:
    from jupyter_tinyml.model.tflite import read

    graph = read(float_io)
    assert (graph.inputs[0].dtype, graph.outputs[0].dtype) == ("float32", "float32")
    project = write_project(float_io, VIRTUAL, tmp_path / "fw", name="digits")
    assert isinstance(project, Project) and project.target == "tflm"
    assert project.target_reason == (f"{VIRTUAL}: TFLite Micro — the model's input is float32; the C target runs "
                                     "int8 input and output")
    settings = (project.sketch_dir / "model_settings.h").read_text()
    assert "constexpr bool kInputIsFloat = true;" in settings
    assert "constexpr bool kOutputIsFloat = true;" in settings
    assert "constexpr tinyml::TensorType kInputType = tinyml::TensorType::kFloat32;" in settings
    assert "kOutputType = tinyml::TensorType::kFloat32;" in settings
    assert "constexpr size_t kInputCount = 64;" in settings and "constexpr size_t kInputBytes = 256;" in settings
    readme = (project.root / "README.md").read_text()
    assert "(float32 input, float32 output)" in readme and "in=256 out=40" in readme


def test_an_int8_model_keeps_int8_settings(digits_int8: bytes, tmp_path: Path) -> None:
    project = write_project(digits_int8, "nano33ble", tmp_path / "fw")
    settings = (project.sketch_dir / "model_settings.h").read_text()
    assert "constexpr bool kInputIsFloat = false;" in settings and "constexpr bool kOutputIsFloat = false;" in settings
    assert "kInputType = tinyml::TensorType::kInt8;" in settings


def test_the_c_target_refuses_a_float_input_model_in_one_line(float_io: bytes, tmp_path: Path) -> None:
    with pytest.raises(CTargetTensorTypeError) as caught:
        write_project(float_io, VIRTUAL, tmp_path / "fw", target="c")
    assert str(caught.value) == ("The portable C target runs int8 input and output, and this model's input is float32 "
                                 "— use target='tflm' (or 'auto'), or convert with quantization='int8'")
    assert isinstance(caught.value, ConfigError) and not (tmp_path / "fw").exists()


def test_auto_takes_tflite_micro_when_there_is_application_glue(digits_int8: bytes, tmp_path: Path) -> None:
    glue = {"app-loop": "float score;\nif (RunModel()) Serial.println(TopClass(&score));"}
    # Without glue the C target covers this model; with glue only the sketch has regions to put it in.
    assert isinstance(write_project(digits_int8, VIRTUAL, tmp_path / "c"), CProject)
    project = write_project(digits_int8, VIRTUAL, tmp_path / "tflm", app=glue)
    assert isinstance(project, Project) and project.target == "tflm"
    assert project.target_reason == (f"{VIRTUAL}: TFLite Micro — the application glue needs the sketch's regions "
                                     "(the C target has none)")
    assert "Serial.println(TopClass(&score));" in project.sketch.read_text()
    with pytest.raises(ConfigError, match="^The portable C target has no application regions"):
        write_project(digits_int8, VIRTUAL, tmp_path / "asked", app=glue, target="c")


def test_a_tensor_type_the_helpers_cannot_serve_is_refused_in_one_line(tmp_path: Path) -> None:
    import tensorflow as tf

    arg_max = tf.function(lambda x: tf.math.argmax(x, axis=1), input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    tflite = tf.lite.TFLiteConverter.from_concrete_functions([arg_max.get_concrete_function()], arg_max).convert()
    with pytest.raises(FirmwareTensorTypeError) as caught:
        write_project(tflite, "nano33ble", tmp_path / "fw")
    assert str(caught.value) == (
        "The model's output is int64; the firmware reads and writes int8, uint8, int16, int32, float32 tensors — "
        "convert with quantization='int8' (int8 output) or 'int8-float-io' (float32 output)")
    assert "\n" not in str(caught.value) and not (tmp_path / "fw").exists()


def test_the_check_refuses_a_model_that_computes_in_float_before_asking_the_board(digits: Trained) -> None:
    """Its float32 output has no int8 step to measure a difference in; the board is never asked (None here)."""
    from jupyter_tinyml.hardware.device_check import check_device
    from jupyter_tinyml.model.convert import convert

    float_model = convert(digits.model, quantization="none")
    with pytest.raises(ConfigError, match=r"^The model computes its float32 output in float \(no int8 output before a "
                                          r"DEQUANTIZE\): the on-device check compares int8 arithmetic"):
        check_device(None, float_model, digits.x_test[:2])  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ the virtual board


@pytest.fixture(scope="module")
def board_tools() -> None:
    require_tflm_library(with_board=True)


def test_the_deploy_panel_check_agrees_on_every_sample_for_a_float_input_model(
        board_tools: None, float_io: bytes, digits: Trained, tmp_path: Path) -> None:
    """INFER carries the float32 input's bytes; the model's own QUANTIZE quantizes them on the board as on the
    host, and the float32 outputs are compared in steps of the int8 output their DEQUANTIZE reads."""
    from jupyter_tinyml.hardware.serial_link import BoardLink
    from jupyter_tinyml.hardware.virtual import qemu
    from jupyter_tinyml.widgets.deploy_panel import DeployPanel

    project = write_project(float_io, VIRTUAL, tmp_path / "fw", name="digits")  # auto: TFLite Micro
    panel = DeployPanel(project, float_io, board="virtual", samples=digits.x_test, check_samples=CHECK_SAMPLES,
                        ports=[], repair=None)
    try:
        built = panel.build()
        assert built is not None and built.ok, panel.log_view.value
        uploaded = panel.flash()
        assert uploaded is not None and uploaded.method == "qemu", panel.log_view.value
        checked = panel.check()
        assert checked is not None, panel.log_view.value
        assert checked.agreement == 1.0 and checked.ok and checked.n == CHECK_SAMPLES, checked.summary()
        assert checked.max_abs_diff <= checked.tolerance_steps and checked.device_outputs.dtype == np.float32
        # CLASSIFY on the same float bytes names the host's class; READY counts the bytes INFER carries.
        expected = host_outputs(float_io, digits.x_test[:3]).argmax(axis=1)
        with BoardLink(uploaded.port, board=VIRTUAL) as link:
            assert (link.ready is None or link.ready.n_in == 256) and link.info().n_out == 40
            classes = [link.classify(sample.astype(np.float32).tobytes()).index for sample in digits.x_test[:3]]
        assert classes == list(expected)
    finally:
        for board in qemu.running():
            board.stop()


def glue_for(sample: np.ndarray) -> dict[str, str]:
    """Application glue that classifies `sample` with SetInput + RunModel + DequantizeOutput every 50 ms of the
    board's time and prints one line without the protocol's prefix."""
    values = ", ".join(float_literal(float(value)) for value in sample.reshape(-1))
    return {
        "app-globals": f"const float kSample[kInputCount] = {{{values}}};\nunsigned long last_ms = 0;",
        "app-loop": "\n".join([
            "if (ModelReady() && millis() - last_ms >= 50) {",
            "  last_ms = millis();",
            "  bool all_set = true;",
            "  for (size_t i = 0; i < kInputCount; ++i) all_set = SetInput(i, kSample[i]) && all_set;",
            "  float score = 0.0f;",
            "  if (RunModel()) {",
            "    const size_t k = TopClass(&score);",
            '    Serial.print("glue class=");',
            "    Serial.print(static_cast<unsigned long>(k));",
            '    Serial.print(" value=");',
            "    Serial.print(DequantizeOutput(k), 4);",
            '    Serial.print(" set=");',
            "    Serial.print(all_set ? 1 : 0);",
            '    Serial.print(" beyond=");',
            "    Serial.print(SetInput(kInputCount, 0.0f) ? 1 : 0);",
            '    Serial.print(" int8_view=");',
            '    Serial.println(ModelInput() == nullptr ? "none" : "some");',
            "  }",
            "}",
        ]),
    }


def test_glue_with_set_input_prints_the_hosts_class_on_the_virtual_board(board_tools: None, float_io: bytes,
                                                                         digits: Trained, tmp_path: Path) -> None:
    from jupyter_tinyml.hardware.serial_link import BoardLink
    from jupyter_tinyml.hardware.virtual import qemu, tflm

    sample = digits.x_test[7]
    expected = host_outputs(float_io, sample[np.newaxis])[0]
    project = write_project(float_io, VIRTUAL, tmp_path / "fw", name="digits", app=glue_for(sample))
    assert isinstance(project, Project) and "glue needs the sketch's regions" in project.target_reason
    built = tflm.build_sketch(project.root, output_dir=tmp_path / "build")
    assert built.ok, built.error_text()
    with qemu.flash(built) as board, BoardLink(board.port, board=VIRTUAL, wait_ready=False) as link:
        lines = link.monitor(lines=3, seconds=20)
    found = [GLUE_LINE.fullmatch(line) for line in lines]
    assert any(found), lines
    match = next(m for m in found if m is not None)
    assert int(match[1]) == int(expected.argmax())
    # The real value DequantizeOutput gives is the host's float output (printed with four decimals).
    assert float(match[2]) == pytest.approx(float(expected.max()), abs=2e-3)
    assert match.groups()[2:] == ("1", "0", "none")
