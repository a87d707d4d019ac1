"""firmware on real int8 .tflite models made here: the C array, the op resolver, the arena, quantization, labels,
the skeleton's regions, the serial protocol, budgets.

The model data compiles warning-free and links back to the same bytes, and the protocol unit (which knows nothing of
TFLite Micro) runs on the host against PROTOCOL.md's formats. The sketch's own files are compiled against the REAL
TFLite Micro Arduino library a person installs (TINYML_TFLM_LIBRARY, else ../shared/third_party's copy): with the
host g++, and for the Nano 33 BLE Sense with arm-none-eabi-g++ for its Cortex-M4F, as arduino-cli's mbed core
would. Only the Arduino core is a stub (the mbed core is not on this machine): it declares the few core functions
the skeleton calls. Without the library or the Arm compiler those tests skip with the reason, and fail under CI=true.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import struct
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("tflite_micro")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from jupyter_tinyml import firmware  # noqa: E402
from jupyter_tinyml.boards import Board, catalogue, find_board  # noqa: E402
from jupyter_tinyml.errors import ConfigError, QuantizationError  # noqa: E402
from jupyter_tinyml.firmware import skeleton  # noqa: E402
from jupyter_tinyml.model.inspection import inspect  # noqa: E402
from jupyter_tinyml.model.tflite import tflm_builtin_ops, tflm_custom_ops  # noqa: E402
from prerequisites import require_arm_tools, require_tflm_library  # noqa: E402

GXX = shutil.which("g++")
ARM_GXX = shutil.which("arm-none-eabi-g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ is not installed")
PROTOCOL_MD = Path(firmware.__file__).parent / "PROTOCOL.md"
CXXFLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"]
pytestmark = pytest.mark.filterwarnings("ignore:Statistics for quantized inputs:UserWarning")
LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


# ------------------------------------------------------------------------------------------------- models


def _int8(model: object, samples: np.ndarray) -> bytes:
    from jupyter_tinyml.model.convert import convert

    return convert(model, samples)


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    """A small CNN ending in softmax, an MLP ending in logits (also with float32 input and output), a Dense model of
    ~260 KB, one with TOPK_V2."""
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    cnn = tf.keras.Sequential([
        tf.keras.Input((16, 16, 1)),
        tf.keras.layers.Conv2D(8, 3, activation="relu"),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(10),
        tf.keras.layers.Softmax(),
    ])
    mlp = tf.keras.Sequential([
        tf.keras.Input((12,)),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dense(3),
    ])
    big = tf.keras.Sequential([
        tf.keras.Input((256,)),
        tf.keras.layers.Dense(1024, activation="relu"),
        tf.keras.layers.Dense(4),
    ])
    top_k = tf.function(lambda scores: tf.math.top_k(scores, k=3).values,
                        input_signature=[tf.TensorSpec([1, 10], tf.float32)])
    from jupyter_tinyml.model.convert import convert

    mlp_samples = rng.normal(size=(16, 12)).astype(np.float32)
    return {
        "cnn": _int8(cnn, rng.random((16, 16, 16, 1), dtype=np.float32)),
        "mlp": _int8(mlp, mlp_samples),
        "mlp_float": convert(mlp, mlp_samples, quantization="int8-float-io"),
        "big": _int8(big, rng.normal(size=(4, 256)).astype(np.float32)),
        "topk": tf.lite.TFLiteConverter.from_concrete_functions([top_k.get_concrete_function()], top_k).convert(),
    }


def build_board(**changes: object) -> Board:
    """The catalogue's Arduino Nano 33 BLE Sense (its FQBN, PlatformIO board and baud), with `changes`."""
    return dataclasses.replace(find_board("nano33ble"), **changes)


@pytest.fixture(scope="module")
def projects(models: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> dict[str, firmware.Project]:
    root = tmp_path_factory.mktemp("projects")
    return {
        "cnn": firmware.write_project(models["cnn"], board=build_board(), out_dir=root / "cnn", labels=LABELS,
                                      name="digits"),
        "mlp": firmware.write_project(models["mlp"], board=build_board(), out_dir=root / "mlp"),
        # Float32 input and output: the glue helpers (SetInput, DequantizeOutput) serve it as they serve int8.
        "mlp_float": firmware.write_project(models["mlp_float"], board=build_board(), out_dir=root / "mlp_float"),
    }


def settings(project: firmware.Project) -> str:
    return (project.sketch_dir / "model_settings.h").read_text()


def constant(text: str, name: str) -> str:
    match = re.search(rf"\b{name}(?:\[\w*\])? = ([^;]+);", text)
    assert match, f"{name} not found"
    return match[1].strip()


def float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def compile_cxx(sources: list[Path], output: Path, *flags: str, link: bool = False) -> None:
    command = [GXX, *CXXFLAGS, *flags, *map(str, sources), "-o", str(output)]
    if not link:
        command.insert(1, "-c")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


# ------------------------------------------------------------------------------------------ the model array


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_model_array_round_trips_to_the_tflite_bytes(projects: dict[str, firmware.Project],
                                                     models: dict[str, bytes], kind: str) -> None:
    source = (projects[kind].sketch_dir / "model_data.cpp").read_text()
    header = (projects[kind].sketch_dir / "model_data.h").read_text()
    body = source.split("g_model[] = {", 1)[1].split("};", 1)[0]
    assert bytes(int(byte, 16) for byte in re.findall(r"0x([0-9a-f]{2})", body)) == models[kind]
    assert f"const unsigned int g_model_len = {len(models[kind])};" in source
    assert "alignas(16) const unsigned char g_model[] = {" in source
    assert "extern const unsigned char g_model[];" in header and "extern const unsigned int g_model_len;" in header
    assert (header, source) == firmware.c_array(models[kind])


@needs_gxx
def test_model_data_compiles_warning_free_and_links_back_to_the_same_aligned_bytes(
        projects: dict[str, firmware.Project], models: dict[str, bytes], tmp_path: Path) -> None:
    sketch = projects["cnn"].sketch_dir
    compile_cxx([sketch / "model_data.cpp"], tmp_path / "model_data.o")
    # A host program linked with the generated file writes the array out: the compiled bytes, not the text.
    (tmp_path / "dump.cpp").write_text(
        '#include <cstdint>\n#include <cstdio>\n#include "model_data.h"\n'
        "int main() {\n"
        "  if (reinterpret_cast<std::uintptr_t>(g_model) % 16 != 0) return 2;\n"
        "  return std::fwrite(g_model, 1, g_model_len, stdout) == g_model_len ? 0 : 1;\n}\n")
    compile_cxx([tmp_path / "dump.cpp", sketch / "model_data.cpp"], tmp_path / "dump", f"-I{sketch}", link=True)
    dumped = subprocess.run([str(tmp_path / "dump")], capture_output=True, timeout=30)
    assert dumped.returncode == 0, "g_model is not 16-byte aligned" if dumped.returncode == 2 else dumped.stderr
    assert dumped.stdout == models["cnn"]


# -------------------------------------------------------------------------------------------- op resolver


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_op_resolver_registers_exactly_the_models_ops(projects: dict[str, firmware.Project],
                                                      models: dict[str, bytes], kind: str) -> None:
    code = (projects[kind].sketch_dir / "op_resolver.h").read_text()
    calls = re.findall(r"resolver\.(Add\w+)\(\) != kTfLiteOk\) return kTfLiteError; +// (\w+)", code)
    from tensorflow.lite.tools import flatbuffer_utils  # TensorFlow's own reader of the same file

    reference = flatbuffer_utils.convert_bytearray_to_object(models[kind])
    theirs = {flatbuffer_utils.opcode_to_name(reference, operator.opcodeIndex)
              for subgraph in reference.subgraphs for operator in subgraph.operators}
    inspected = {op.name for op in inspect(models[kind]).ops}
    assert [name for _, name in calls] == sorted(inspected) == sorted(theirs) == projects[kind].ops
    methods = firmware.resolver_methods()
    assert [method for method, _ in calls] == [methods[name] for name in sorted(theirs)]
    assert re.findall(r"MicroMutableOpResolver<(\d+)>", code) == [str(len(theirs))]
    assert constant(settings(projects[kind]), "kOpNames") == '"' + ",".join(sorted(theirs)) + '"'


def test_op_resolver_method_names_are_tflite_micros() -> None:
    methods = firmware.resolver_methods()
    assert {name: methods[name] for name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D",
                                             "AVERAGE_POOL_2D", "SOFTMAX", "RESHAPE", "QUANTIZE", "DEQUANTIZE", "ADD",
                                             "MEAN", "PACK", "SHAPE", "STRIDED_SLICE", "BATCH_MATMUL", "PADV2",
                                             "CUMSUM", "UNIDIRECTIONAL_SEQUENCE_LSTM")} == {
        "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "FULLY_CONNECTED": "AddFullyConnected",
        "MAX_POOL_2D": "AddMaxPool2D", "AVERAGE_POOL_2D": "AddAveragePool2D", "SOFTMAX": "AddSoftmax",
        "RESHAPE": "AddReshape", "QUANTIZE": "AddQuantize", "DEQUANTIZE": "AddDequantize", "ADD": "AddAdd",
        "MEAN": "AddMean", "PACK": "AddPack", "SHAPE": "AddShape", "STRIDED_SLICE": "AddStridedSlice",
        "BATCH_MATMUL": "AddBatchMatMul", "PADV2": "AddPadV2", "CUMSUM": "AddCumSum",
        "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM"}
    # Every op the TFLite Micro runtime has a kernel for has a method, and no method names an op it lacks.
    assert set(methods) == set(tflm_builtin_ops()) | set(tflm_custom_ops())
    assert len(set(methods.values())) == len(methods)


def test_an_op_without_a_method_is_named() -> None:
    with pytest.raises(QuantizationError, match=r"no method for TOPK_V2\b"):
        firmware.op_resolver_code(["SOFTMAX", "TOPK_V2"])


def test_unsupported_op_is_refused_before_anything_is_written(models: dict[str, bytes], tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match=r"TFLite Micro has no kernel for TOPK_V2"):
        firmware.write_project(models["topk"], board=build_board(), out_dir=tmp_path / "topk")
    assert not (tmp_path / "topk").exists()


# ----------------------------------------------------------------------------------- settings: exact values


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_arena_is_the_measured_one_from_inspect(projects: dict[str, firmware.Project], models: dict[str, bytes],
                                                kind: str) -> None:
    inspection = inspect(models[kind])
    assert int(constant(settings(projects[kind]), "kTensorArenaSize")) == inspection.arena_bytes
    assert projects[kind].arena_bytes == inspection.arena_bytes
    assert f"{inspection.arena_measured_bytes:,} bytes measured" in settings(projects[kind])


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_quantization_and_sizes_are_the_interpreters(projects: dict[str, firmware.Project],
                                                     models: dict[str, bytes], kind: str) -> None:
    text = settings(projects[kind])
    interpreter = Interpreter(model_content=models[kind])
    for prefix, details in (("kInput", interpreter.get_input_details()[0]),
                            ("kOutput", interpreter.get_output_details()[0])):
        scale, zero_point = details["quantization"]
        literal = constant(text, f"{prefix}Scale")
        assert literal.endswith("f") and float32(float(literal[:-1])) == float32(scale)
        assert float32(float(constant(text, f"{prefix}ScaleText").strip('"'))) == float32(scale)
        assert int(constant(text, f"{prefix}ZeroPoint")) == zero_point
        assert int(constant(text, f"{prefix}Count")) == int(np.prod(details["shape"]))
        assert int(constant(text, f"{prefix}Bytes")) == int(np.prod(details["shape"])) * details["dtype"]().itemsize
    assert constant(text, "kOutputType") == "tinyml::TensorType::kInt8"
    # The CNN ends in a softmax (its outputs are scores); the MLP's are logits, which CLASSIFY softmaxes.
    assert constant(text, "kOutputIsProbability") == ("true" if kind == "cnn" else "false")


def test_a_float_io_model_has_float_settings_and_the_same_layers(projects: dict[str, firmware.Project]) -> None:
    text = settings(projects["mlp_float"])
    assert (constant(text, "kInputIsFloat"), constant(text, "kOutputIsFloat")) == ("true", "true")
    assert constant(text, "kInputType") == constant(text, "kOutputType") == "tinyml::TensorType::kFloat32"
    assert (constant(text, "kInputBytes"), constant(text, "kOutputBytes")) == ("48", "12")  # 4 bytes per value
    assert constant(text, "kInputScale") == "0.0f" and constant(text, "kInputScaleText") == '"0"'
    assert projects["mlp_float"].ops == ["DEQUANTIZE", "FULLY_CONNECTED", "QUANTIZE"]
    int8 = settings(projects["mlp"])
    assert (constant(int8, "kInputIsFloat"), constant(int8, "kOutputIsFloat")) == ("false", "false")


def test_labels_are_written_in_output_order(projects: dict[str, firmware.Project]) -> None:
    text = settings(projects["cnn"])
    assert int(constant(text, "kLabelCount")) == 10
    assert re.findall(r'^    "([^"]*)",$', text, re.M) == LABELS
    # Without labels, the indices.
    assert re.findall(r'^    "([^"]*)",$', settings(projects["mlp"]), re.M) == ["0", "1", "2"]


def test_labels_must_match_the_outputs_and_fit_the_serial_line(models: dict[str, bytes], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"2 labels for 3 output values"):
        firmware.write_project(models["mlp"], board=build_board(), out_dir=tmp_path / "a", labels=["a", "b"])
    with pytest.raises(ConfigError, match=r"not plain ASCII"):
        firmware.write_project(models["mlp"], board=build_board(), out_dir=tmp_path / "b", labels=["a", "b", "café"])
    project = firmware.write_project(models["mlp"], board=build_board(), out_dir=tmp_path / "c",
                                     labels=["thumbs up", "wave", 'say "hi"'])
    assert re.findall(r'^    "(.*)",$', settings(project), re.M) == ["thumbs_up", "wave", 'say_\\"hi\\"']
    assert any("'thumbs up' is printed as 'thumbs_up'" in note for note in project.notes)


# ------------------------------------------------------------------------------------------------ regions


def test_regions_are_the_documented_ones_in_order(projects: dict[str, firmware.Project]) -> None:
    text = skeleton.template("sketch.ino")
    documented = re.findall(r"^//   (app-[\w-]+)  ", text, re.M)
    assert list(firmware.regions(text)) == documented == list(firmware.REGION_NAMES)
    # The written sketch, with the default app, has the same regions and the same contents.
    assert firmware.regions(projects["cnn"].sketch.read_text()) == firmware.default_app()
    assert list(firmware.default_app()) == list(firmware.REGION_NAMES)


def test_default_app_is_the_serial_protocol_itself(projects: dict[str, firmware.Project]) -> None:
    app = firmware.default_app()
    code = [line for line in "".join(app.values()).splitlines() if not line.strip().startswith("//")]
    assert code == []  # comments only: TinymlServe() in loop() answers INFER/CLASSIFY
    sketch = projects["cnn"].sketch.read_text()
    assert sketch.index("TinymlBegin();") < sketch.index("// >>> tinyml:app-setup")
    assert sketch.index("TinymlServe();") < sketch.index("// >>> tinyml:app-loop")


def test_replace_regions_puts_the_code_there_and_nowhere_else() -> None:
    text = skeleton.template("sketch.ino")
    app = {"app-includes": "#include <Arduino_LSM9DS1.h>",
           "app-loop": "float x, y, z;\nif (IMU.accelerationAvailable()) {\n  IMU.readAcceleration(x, y, z);\n}\n"}
    replaced = firmware.replace_regions(text, app)
    found = firmware.regions(replaced)
    assert found["app-includes"] == "#include <Arduino_LSM9DS1.h>\n"
    # Indented like the region's markers (inside loop()), nested lines keep their relative indentation.
    assert found["app-loop"] == ("  float x, y, z;\n  if (IMU.accelerationAvailable()) {\n"
                                 "    IMU.readAcceleration(x, y, z);\n  }\n")
    original = firmware.regions(text)
    assert found["app-setup"] == original["app-setup"] and found["app-globals"] == original["app-globals"]

    def outside(sketch: str) -> list[str]:  # the lines outside the regions, markers included
        kept, inside = [], False
        for line in sketch.splitlines():
            if "<<< tinyml:" in line:
                inside = False
            if not inside:
                kept.append(line)
            if ">>> tinyml:" in line:
                inside = True
        return kept

    assert outside(replaced) == outside(text)
    assert replaced.count("IMU.readAcceleration") == 1
    # Emptying a region leaves its markers.
    assert firmware.regions(firmware.replace_regions(text, {"app-loop": ""}))["app-loop"] == ""


def test_unknown_region_and_marker_in_code_are_refused(models: dict[str, bytes], tmp_path: Path) -> None:
    text = skeleton.template("sketch.ino")
    with pytest.raises(ConfigError, match=r"unknown region 'app-main': the skeleton has app-includes, app-globals, "
                                          r"app-setup, app-loop"):
        firmware.replace_regions(text, {"app-main": "x();"})
    with pytest.raises(ConfigError, match=r"contains a region marker"):
        firmware.replace_regions(text, {"app-loop": "// <<< tinyml:app-loop\nx();"})
    with pytest.raises(ConfigError, match=r"unknown region 'loop'"):
        firmware.write_project(models["mlp"], board=build_board(), out_dir=tmp_path / "p", app={"loop": "x();"})
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("text, message", [
    ("// >>> tinyml:a\n", r"region 'a' opened on line 1 is never closed"),
    ("// <<< tinyml:a\n", r"region 'a' closes on line 1 but was never opened"),
    ("// >>> tinyml:a\n// >>> tinyml:b\n", r"region 'b' opens on line 2 inside region 'a'"),
    ("// >>> tinyml:a\n// <<< tinyml:b\n", r"line 2 closes region 'b' but region 'a' \(line 1\) is open"),
    ("// >>> tinyml:a\n// <<< tinyml:a\n// >>> tinyml:a\n// <<< tinyml:a\n", r"region 'a' appears twice"),
    ("// >>> tinyml:a  the setup\n", r"line 1 looks like a region marker but is not one"),
])
def test_malformed_skeleton_is_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="malformed skeleton: " + message):
        firmware.regions(text)


# ------------------------------------------------------------------------------- serial protocol, on the host

# NOT firmware: a host program that drives the shipped tinyml_protocol.cpp over stdin/stdout. Its "model" is a
# stub that returns fixed output bytes (a stub, no inference), so the test can check the protocol's lines.
PROTOCOL_DRIVER = r"""
#include <cstdio>
#include <cstring>
#include "tinyml_protocol.h"

namespace {
uint8_t input[4];
uint8_t output[3];
uint8_t* StubInput() { return input; }
const uint8_t* StubInvoke(uint32_t* elapsed_us) {
  // Stub outputs: int8 {-128 + input[0], 0, 100}; scale 1/256, zero point -128 (a softmax's quantization).
  output[0] = static_cast<uint8_t>(-128 + input[0]);
  output[1] = 0x80;
  output[2] = 100;
  *elapsed_us = 1234;
  return output;
}
void Write(const char* text) { std::fputs(text, stdout); }
}  // namespace

int main(int argc, char** argv) {
  static const char* const labels[] = {"left", "right", "idle"};
  const tinyml::ModelDescription model = {"stub_model", "stub_board", 4, 4, 3, 3, "0.00390625", -128, "0.00390625",
                                          -128, tinyml::TensorType::kInt8, 0.00390625f, true, "CONV_2D,SOFTMAX",
                                          labels, 3};
  static char line[2 * 4 + 16 + 1];
  tinyml::Protocol protocol(model, tinyml::DeviceHooks{StubInput, StubInvoke, Write}, line, sizeof(line));
  if (argc > 1) {
    protocol.Fail(argv[1]);
  } else {
    protocol.Ready(5678);
  }
  for (int c = std::getchar(); c != EOF; c = std::getchar()) protocol.Feed(static_cast<char>(c));
  return 0;
}
"""


def documented_formats() -> dict[str, re.Pattern[str]]:
    """The device's lines as PROTOCOL.md writes them (`TINYML ...` in backticks), `<placeholder>` -> a field."""
    formats = {}
    for line in re.findall(r"`(TINYML [^`]+)`", PROTOCOL_MD.read_text()):
        pattern = re.escape(line)
        pattern = re.sub(r"<[^>]+>", lambda _: r"(\S+)", pattern.replace(r"\<", "<").replace(r"\>", ">"))
        formats[line] = re.compile(pattern)
    return formats


@pytest.fixture(scope="module")
def protocol_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if GXX is None:
        pytest.skip("g++ is not installed")
    folder = tmp_path_factory.mktemp("protocol")
    for name in ("tinyml_protocol.h", "tinyml_protocol.cpp"):
        (folder / name).write_text(skeleton.template(name))
    (folder / "protocol_check_stub.cpp").write_text(PROTOCOL_DRIVER)
    compile_cxx([folder / "protocol_check_stub.cpp", folder / "tinyml_protocol.cpp"], folder / "driver",
                f"-I{folder}", link=True)
    return folder / "driver"


def talk(driver: Path, requests: str, *args: str) -> list[str]:
    result = subprocess.run([str(driver), *args], input=requests.encode(), capture_output=True, timeout=30)
    assert result.returncode == 0
    text = result.stdout.decode("ascii")
    assert text.endswith("\n") and "\r" not in text
    return text.splitlines()


def test_protocol_lines_have_protocol_md_formats(protocol_driver: Path) -> None:
    formats = documented_formats()
    # PROTOCOL.md's READY and INFO lines name their fields in prose (`in=<input_bytes>`), so they are looked up
    # by how they begin rather than by their whole text.
    ready = next(pattern for line, pattern in formats.items() if line.startswith("TINYML READY v1 model=<name> in="))
    info = next(pattern for line, pattern in formats.items() if line.startswith("TINYML INFO model=<name> in="))
    lines = talk(protocol_driver, "PING\nINFO\r\nINFER 01020304\nCLASSIFY ff000000\nINFER 0102\nINFER 01020304050607\n"
                                  "HELLO there\n\nping\nINFER 0102030g\nINFER 010\n")
    assert ready.fullmatch(lines[0]).groups() == ("stub_model", "4", "3", "5678", "stub_board")
    assert formats["TINYML PONG"].fullmatch(lines[1])
    assert info.fullmatch(lines[2]).groups() == ("stub_model", "4", "3", "0.00390625", "-128", "0.00390625", "-128",
                                                 "5678", "CONV_2D,SOFTMAX")
    result = formats["TINYML RESULT <hex> us=<microseconds>"].fullmatch(lines[3])
    assert result.groups() == ("818064", "1234")  # -127, -128, 100 as raw int8 bytes, lowercase hex
    # CLASSIFY: input[0] = 0xff makes output[0] = 127, the top score (127 + 128) / 256.
    assert formats["TINYML CLASS <index> <label> <score 0..1>"].fullmatch(lines[4]).groups() == (
        "0", "left", "0.9961")
    wrong_length = formats["TINYML ERROR expected <n> bytes, got <m>"]
    assert wrong_length.fullmatch(lines[5]).groups() == ("4", "2")
    assert wrong_length.fullmatch(lines[6]).groups() == ("4", "7")  # longer than the line buffer
    assert formats["TINYML ERROR unknown command <first word>"].fullmatch(lines[7]).groups() == ("HELLO",)
    assert lines[8] == "TINYML PONG"  # the empty line is not answered; commands ignore case
    assert lines[9] == "TINYML ERROR not a hex digit at position 7"
    assert lines[10] == "TINYML ERROR odd number of hex digits (3)"
    assert len(lines) == 11


def test_protocol_answers_every_command_of_protocol_md() -> None:
    table = PROTOCOL_MD.read_text().split("## Host -> device requests", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\| `([A-Z]+)[^`]*` \|", table, re.M)
    assert commands == ["PING", "INFO", "INFER", "CLASSIFY"]
    source = skeleton.template("tinyml_protocol.cpp")
    for command in commands:
        assert f'IsCommand(word, word_length, "{command}")' in source


def test_protocol_after_a_failed_allocation_answers_with_the_error(protocol_driver: Path) -> None:
    message = "AllocateTensors failed: arena 8192 too small"
    lines = talk(protocol_driver, "PING\nINFER 01020304\n", message)
    assert lines == [f"TINYML ERROR {message}"] * 3


def test_protocol_line_buffer_is_the_documented_bound(projects: dict[str, firmware.Project]) -> None:
    text = settings(projects["cnn"])
    assert "constexpr size_t kLineCapacity = 2 * kInputBytes + 16 + 1;" in text
    assert "at most 2 * input bytes + 16 characters" in PROTOCOL_MD.read_text()


def test_invoke_is_timed_with_micros_around_invoke_only(projects: dict[str, firmware.Project]) -> None:
    code = (projects["cnn"].sketch_dir / "tinyml_model.cpp").read_text()
    timed = re.search(r"const unsigned long start = micros\(\);\n(.*?)\n.*?micros\(\) - start", code, re.S)
    assert timed and timed[1].strip() == "const TfLiteStatus status = interpreter->Invoke();"
    assert "#include <Chirale_TensorFlowLite.h>" in code


# -------------------------------------------------------------- the sketch against the real TFLite Micro library

# The Arduino core is the one stub: the Nano 33 BLE's mbed core is not on this machine. It declares, with the
# core's signatures, what the skeleton and the library's main header (peripherals.h includes Arduino.h and
# Wire.h) use of it; nothing links against it.
ARDUINO_CORE_STUBS = {
    "Arduino.h": """// STUB of the Arduino core for a compile check: declarations only.
#pragma once
#include <stddef.h>
#include <stdint.h>
class StubSerial {
 public:
  void begin(unsigned long baud);
  size_t print(const char* text);
  size_t print(double value, int digits = 2);
  size_t println(const char* text);
  size_t println(double value, int digits = 2);
  int available();
  int read();
  explicit operator bool();
};
extern StubSerial Serial;
unsigned long micros();
unsigned long millis();
void delay(unsigned long ms);
""",
    "Wire.h": "// STUB of the Arduino core's Wire library: the TFLite Micro library includes it, the sketch does not "
              "use it.\n#pragma once\n",
}
# What arduino-cli's mbed core passes for the Nano 33 BLE Sense (a Cortex-M4F with its FPU), and the define the
# TFLite Micro Arduino library is built with.
CORTEX_M4F_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-DARDUINO",
                    "-DARDUINO_ARCH_MBED", "-DTF_LITE_STATIC_MEMORY", "-fno-exceptions", "-fno-rtti"]
GLUE = {"app-globals": "float features[kInputCount];\nunsigned long last_ms = 0;",
        "app-loop": "if (ModelReady() && millis() - last_ms > 1000) {\n  last_ms = millis();\n"
                    "  for (size_t i = 0; i < kInputCount; ++i) SetInput(i, features[i]);\n"
                    "  if (ModelInput() != nullptr) ModelInput()[0] = QuantizeInput(features[0]);\n"
                    "  float score;\n  uint32_t us;\n"
                    "  if (RunModel(&us)) {\n    Serial.print(LabelOf(TopClass(&score)));\n"
                    "    Serial.println(score + DequantizeOutput(0));\n  }\n}"}


@pytest.fixture(scope="module")
def library_src() -> Path:
    """The real library's src/ folder, which arduino-cli and PlatformIO put on the include path."""
    return require_tflm_library().source_dir


@pytest.fixture(scope="module")
def core_stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("arduino_core")
    for name, text in ARDUINO_CORE_STUBS.items():
        (folder / name).write_text(text)
    return folder


def sketch_sources(project: firmware.Project, folder: Path) -> list[Path]:
    """The sketch's own translation units: the .ino as arduino-cli turns it into C++ (`#include <Arduino.h>` on
    top; it needs no prototypes), once as written and once with application glue, and the .cpp files."""
    sketch = project.sketch.read_text()
    sources = []
    for variant, text in (("default", sketch), ("glue", firmware.replace_regions(sketch, GLUE))):
        source = folder / f"{project.name}_{variant}.ino.cpp"
        source.write_text("#include <Arduino.h>\n" + text)
        sources.append(source)
    return sources + [project.sketch_dir / name for name in ("tinyml_model.cpp", "tinyml_protocol.cpp",
                                                             "model_data.cpp")]


def compile_each(compiler: str, sources: list[Path], folder: Path, flags: list[str]) -> list[Path]:
    """Compile each source to an object; any error or warning fails with the compiler's words. The library's
    headers are -isystem: its own warnings (unused parameters, flexible array members) are its affair, the
    sketch's are ours, under -Werror."""
    objects = []
    for source in sources:
        target = folder / f"{source.name}.o"
        command = [compiler, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-c", *flags, str(source), "-o", str(target)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and not result.stderr.strip(), f"{source.name}:\n{result.stderr}"
        objects.append(target)
    return objects


@needs_gxx
def test_sketch_compiles_against_the_real_library_headers(projects: dict[str, firmware.Project], library_src: Path,
                                                          core_stubs: Path, tmp_path: Path) -> None:
    for kind, project in projects.items():
        flags = ["-pedantic", "-DARDUINO", "-DTF_LITE_STATIC_MEMORY", f"-I{core_stubs}", "-isystem",
                 str(library_src), f"-I{project.sketch_dir}"]
        sources = sketch_sources(project, tmp_path)
        if kind == "mlp_float":
            # The sketch and its glue against float32 settings. tinyml_model.cpp is the same text for every model
            # (SetInput's switch compiles each type's branch), and parsing the library's headers again takes long.
            sources = [source for source in sources if source.name.endswith(".ino.cpp")]
        assert compile_each(GXX, sources, tmp_path, flags)


def test_the_op_resolver_uses_methods_the_real_library_has(projects: dict[str, firmware.Project],
                                                           library_src: Path) -> None:
    header = (library_src / "tensorflow" / "lite" / "micro" / "micro_mutable_op_resolver.h").read_text()
    for project in projects.values():
        calls = re.findall(r"resolver\.(Add\w+)\(\)", (project.sketch_dir / "op_resolver.h").read_text())
        assert calls and all(re.search(rf"TfLiteStatus {method}\(", header) for method in calls), calls


def test_nano_33_ble_sense_sketch_compiles_for_its_cortex_m4f(projects: dict[str, firmware.Project],
                                                             library_src: Path, core_stubs: Path,
                                                             tmp_path: Path) -> None:
    require_arm_tools("arm-none-eabi-g++")
    project = projects["cnn"]
    assert project.board.id == "nano33ble" and "Cortex-M4F" in project.board.cpu
    flags = [*CORTEX_M4F_FLAGS, "-pedantic", f"-I{core_stubs}", "-isystem", str(library_src),
             f"-I{project.sketch_dir}"]
    objects = compile_each(ARM_GXX, sketch_sources(project, tmp_path), tmp_path, flags)
    # Thumb-2 objects for the FPU's hard-float calling convention: what the mbed core links with.
    attributes = subprocess.run(["arm-none-eabi-readelf", "-A", str(objects[2])], capture_output=True, text=True,
                                check=True).stdout
    assert "Tag_CPU_name: \"7E-M\"" in attributes or "Tag_CPU_arch: v7E-M" in attributes
    assert "Tag_ABI_VFP_args: VFP registers" in attributes
    # The arena is the measured one, in .bss of tinyml_model.cpp's object.
    symbols = subprocess.run(["arm-none-eabi-nm", "-S", "-C", str(objects[2])], capture_output=True, text=True,
                             check=True).stdout
    arena = [line.split() for line in symbols.splitlines() if line.endswith("tensor_arena")]
    assert arena and int(arena[0][1], 16) == project.arena_bytes


# --------------------------------------------------------------------------------- arduino-cli, PlatformIO


def test_project_has_the_ino_and_platformio_ini_with_the_boards_ids(projects: dict[str, firmware.Project]) -> None:
    project = projects["cnn"]
    board = build_board()
    assert project.sketch == project.root / "digits" / "digits.ino" and project.sketch.is_file()
    ini = (project.root / "platformio.ini").read_text()
    assert board.fqbn == "arduino:mbed_nano:nano33ble" and board.platformio == "nano33ble"
    assert re.search(rf"^board = {re.escape(board.platformio)}$", ini, re.M)
    assert re.search(r"^platform = nordicnrf52$", ini, re.M)
    assert re.search(r"^src_dir = digits$", ini, re.M)
    assert re.search(r"^framework = arduino$", ini, re.M)
    assert re.search(rf"^monitor_speed = {board.baud}$", ini, re.M)
    assert "https://github.com/spaziochirale/Chirale_TensorFlowLite.git" in ini
    assert (project.sketch_dir / "sketch.yaml").read_text().splitlines()[-1] == f"default_fqbn: {board.fqbn}"
    readme = (project.root / "README.md").read_text()
    assert f"arduino-cli compile --fqbn {board.fqbn} digits" in readme
    assert "arduino-cli lib install Chirale_TensorFLowLite" in readme
    text = settings(project)
    assert constant(text, "kBoardId") == f'"{board.id}"' and constant(text, "kModelName") == '"digits"'
    assert int(constant(text, "kSerialBaud")) == board.baud
    assert {path.name for path in project.files} == {
        "digits.ino", "sketch.yaml", "model_data.h", "model_data.cpp", "model_settings.h", "op_resolver.h",
        "tinyml_model.h", "tinyml_model.cpp", "tinyml_protocol.h", "tinyml_protocol.cpp", "platformio.ini",
        "README.md"}
    assert all(path.is_file() for path in project.files)


def test_board_without_build_ids_gets_the_sketch_only(models: dict[str, bytes], tmp_path: Path) -> None:
    board = SimpleNamespace(id="plain", name="Plain Board", cpu="Cortex-M4F", flash_bytes=1 << 20, ram_bytes=256 << 10)
    first = firmware.write_project(models["mlp"], board=build_board(), out_dir=tmp_path / "plain")
    assert first.platformio_ini is not None and (first.sketch_dir / "sketch.yaml").is_file()
    # Written again into the same folder for a board without build ids: no stale build files for the other board.
    project = firmware.write_project(models["mlp"], board=board, out_dir=tmp_path / "plain")
    assert project.sketch.is_file() and project.platformio_ini is None and project.fqbn is None
    assert not (tmp_path / "plain" / "platformio.ini").exists()
    assert not (project.sketch_dir / "sketch.yaml").exists()
    assert "no PlatformIO board" in repr(project) and "no arduino-cli FQBN" in repr(project)


def test_project_repr_reads_well(projects: dict[str, firmware.Project]) -> None:
    project = projects["cnn"]
    text = repr(project)
    assert text.startswith(f"Project 'digits' for the Arduino Nano 33 BLE Sense (nano33ble) in {project.root}")
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(project.ops)
    assert f"ops ({len(project.ops)}):    {', '.join(project.ops)}" in text
    assert f"arena:      {project.arena_bytes:,} B" in text
    assert f"flash: {project.flash_bytes:,} B model + ~160 KiB firmware (estimate)" in text
    assert project.flash_estimate == project.flash_bytes + 160 * 1024


# ------------------------------------------------------------------------------------------------- budgets


def test_a_model_too_big_for_the_flash_is_refused_with_the_numbers(models: dict[str, bytes], tmp_path: Path) -> None:
    smallest = min(catalogue(), key=lambda board: board.flash_bytes)
    small = dataclasses.replace(smallest, id="tiny", name="Tiny Test Board", flash_bytes=384 * 1024,
                                ram_bytes=256 * 1024)
    model_size = len(models["big"])
    assert model_size > 256 * 1024
    with pytest.raises(ConfigError) as error:
        firmware.write_project(models["big"], board=small, out_dir=tmp_path / "big")
    message = str(error.value)
    needed = model_size + 160 * 1024
    assert message.startswith("the model does not fit the Tiny Test Board: flash: ")
    assert (f"{model_size:,} B model + ~160 KiB firmware (estimate) = {needed:,} B of the 393,216 B the Tiny Test "
            f"Board has") in message
    assert f"{needed - 393216:,} B too many — shrink the model" in message and "more flash" in message
    assert "RAM" not in message  # the RAM fits
    assert "\n" not in message and not (tmp_path / "big").exists()


def test_a_model_too_big_for_the_ram_is_refused_with_the_numbers(models: dict[str, bytes], tmp_path: Path) -> None:
    arena = inspect(models["cnn"]).arena_bytes
    board = build_board(name="Small RAM Board", ram_bytes=64 * 1024 + arena // 2)
    with pytest.raises(ConfigError) as error:
        firmware.write_project(models["cnn"], board=board, out_dir=tmp_path / "ram")
    message = str(error.value)
    assert f"RAM: {arena:,} B TFLite Micro tensor arena (measured + margin) + 529 B serial line + ~64 KiB" in message
    assert "or pick a board with more RAM" in message and "flash:" not in message


def test_budget_says_what_it_assumed(models: dict[str, bytes]) -> None:
    inspection = inspect(models["cnn"])
    budget = firmware.check_budget(inspection.flash_bytes, inspection.arena_bytes, find_board("nano33ble"),
                                   input_bytes=inspection.input_bytes)
    assert budget == inspection.budget_on(find_board("nano33ble"))
    assert budget.fits and str(budget).startswith("fits the Arduino Nano 33 BLE Sense\n  flash: ")
    assert "1,048,576 B the Arduino Nano 33 BLE Sense has" in str(budget)
    esp = find_board("xiao-esp32s3")
    assert firmware.firmware_overhead(esp) == (320 * 1024, 96 * 1024)  # the ESP32 core is larger
    assert isinstance(esp, Board)


def test_inspection_and_writer_agree_when_the_model_fits_but_not_beside_the_firmware(models: dict[str, bytes],
                                                                                    tmp_path: Path) -> None:
    inspection = inspect(models["cnn"])
    # Room for the model's bytes, not for the model and the firmware's estimated share.
    board = build_board(name="Shrunk Flash Board", flash_bytes=inspection.flash_bytes + 64 * 1024)
    assert inspection.flash_bytes <= board.flash_bytes
    budget = inspection.budget_on(board)
    assert not budget.fits and not budget.flash_fits and budget.ram_fits
    assert budget.flash_share > 1 and budget.ram_share is not None and budget.ram_share < 1
    assert budget.line_buffer_bytes == 2 * inspection.input_bytes + 16 + 1 == 2 * 16 * 16 + 17
    with pytest.raises(ConfigError) as error:
        firmware.write_project(models["cnn"], board=board, out_dir=tmp_path / "shrunk")
    assert str(error.value) == f"the model does not fit the Shrunk Flash Board: {budget.problems()[0]}"
    assert f"{budget.flash_needed:,} B of the {board.flash_bytes:,} B" in str(error.value)
    assert not (tmp_path / "shrunk").exists()
    # On the catalogue board both say it fits, with the same figures.
    project = firmware.write_project(models["cnn"], board=build_board(), out_dir=tmp_path / "fits")
    assert project.budget == inspection.budget_on(build_board()) and project.budget.fits


def test_an_unmeasured_arena_is_never_said_to_fit(models: dict[str, bytes]) -> None:
    inspection = inspect(models["topk"])
    assert inspection.arena_bytes is None
    budget = inspection.budget_on(find_board("nano33ble"))
    assert budget.flash_fits and budget.ram_fits is None and budget.ram_share is None and not budget.fits
    assert str(budget).startswith("RAM UNKNOWN on the Arduino Nano 33 BLE Sense\n")
    assert "tensor arena not measured" in budget.ram_text()
    with pytest.raises(ConfigError, match="measure the tensor arena"):
        budget.require()
