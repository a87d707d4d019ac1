"""The application glue as text: the static checks, the whole-sketch splitter, the answer shapes, and the compile check
with the real Arm compiler against a real .tflite's project."""
from __future__ import annotations

import pytest
from prerequisites import require_arm_tools

from jupyter_tinyml.firmware.glue_checks import check_glue
from jupyter_tinyml.firmware.sketch_glue import glue_from_sketch
from jupyter_tinyml.stages.glue_answer import read_glue


@pytest.mark.parametrize("region, code, says", [
    ("app-loop", "delay(1000);", "blocks loop() for 1000 ms"),
    ("app-loop", "delayMicroseconds(200000);", "blocks loop() for 200 ms"),
    ("app-loop", "delay(PERIOD_MS);", "blocks loop() for 500 ms"),
    ("app-setup", "while (!Serial);", "while (!Serial)"),
    ("app-loop", "if (!ok) { while (1); }", "never ends"),
    ("app-loop", "while (true) { digitalWrite(13, HIGH); }", "never ends"),
    ("app-globals", "void halt() { for (;;) {} }", "never ends"),
    ("app-setup", "Serial.begin(9600);", "a second `Serial.begin`"),
    ("app-loop", 'Serial.println("TINYML says hi");', "reserves"),
    ("app-loop", "input->data.int8[0] = 3;", "SetInput(i, value)"),
    ("app-loop", "TfLiteTensor* t = interpreter->input(0);", "SetInput(i, value)"),
    ("app-loop", "int8_t* in = ModelInput();\nin[0] = reading;", "without QuantizeInput"),
    ("app-loop", "ModelInput()[2] = 7;", "without QuantizeInput"),
    ("app-includes", "#include <TensorFlowLite.h>", "delete the include"),
])
def test_each_static_check_is_flagged_with_its_region_and_line(region, code, says):
    app = {"app-globals": "#define PERIOD_MS 500\n", region: "// the glue\n" + code}
    findings = [finding for finding in check_glue(app) if finding.region == region]
    assert findings and says in str(findings[0]), check_glue(app)
    assert findings[0].line == 2 + code.count("\n") * (says == "without QuantizeInput")


def test_glue_that_keeps_the_protocol_alive_passes():
    app = {"app-globals": "unsigned long last = 0;\nvoid wait() { while (true) { if (millis() > 5) break; } }",
           "app-setup": "pinMode(LED_BUILTIN, OUTPUT); delay(2000);",
           "app-loop": "delay(10);\nif (millis() - last < 1000) return;\nint8_t* in = ModelInput();\n"
                       "in[0] = QuantizeInput(0.5f);\nSetInput(1, 0.25f);\n"
                       "Serial.println(\"class TINYML\"); // TINYML in a comment: while(1);"}
    assert check_glue(app) == []


def test_a_float_input_takes_no_write_through_model_input():
    app = {"app-loop": "int8_t* in = ModelInput();\nin[0] = QuantizeInput(0.5f);"}
    assert check_glue(app) == []
    assert "float32" in str(check_glue(app, input_is_float=True)[0])


WHOLE_SKETCH = """#include <TensorFlowLite.h>
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "model_data.h"
#include <Arduino_LSM9DS1.h>

namespace {
tflite::MicroInterpreter* interpreter = nullptr;
TfLiteTensor* input = nullptr;
TfLiteTensor* output = nullptr;
constexpr int kTensorArenaSize = 8 * 1024;
alignas(16) uint8_t tensor_arena[kTensorArenaSize];
}  // namespace
const unsigned char g_model[] = {0x1c, 0x00, 0x00, 0x00};

float features[64];

void setup() {
  Serial.begin(115200);
  while (!Serial) {}
  IMU.begin();
  static tflite::MicroMutableOpResolver<4> resolver;
  static tflite::MicroInterpreter static_interpreter(tflite::GetModel(g_model), resolver, tensor_arena,
                                                     kTensorArenaSize);
  interpreter = &static_interpreter;
  interpreter->AllocateTensors();
  input = interpreter->input(0);
}

void loop() {
  for (int i = 0; i < 64; i++) {
    input->data.f[i] = features[i];
  }
  if (interpreter->Invoke() != kTfLiteOk) return;
  Serial.println(output->data.f[0]);
}
"""


def test_a_whole_sketch_keeps_the_glue_and_lists_what_the_skeleton_owns():
    taken = glue_from_sketch(WHOLE_SKETCH)
    assert taken.app["app-includes"] == "#include <Arduino_LSM9DS1.h>"
    assert taken.app["app-globals"] == "float features[64];"
    assert taken.app["app-setup"].strip() == "IMU.begin();"
    loop = taken.app["app-loop"]
    assert "SetInput(i, features[i]);" in loop and "if (!RunModel()) return;" in loop
    assert "Serial.println(DequantizeOutput(0));" in loop and "interpreter" not in loop
    dropped = "\n".join(taken.dropped)
    for part in ("TensorFlowLite.h", "model_data.h", "kTensorArenaSize", "tensor_arena", "g_model", "Serial.begin",
                 "while (!Serial)", "MicroMutableOpResolver", "AllocateTensors", "interpreter->input(0)"):
        assert part in dropped, part
    assert len(taken.dropped) == 16


@pytest.mark.parametrize("answer", [
    "Setup:\n```cpp\n// app-setup\nIMU.begin();\n// app-loop\nfloat x = 1;\n```",
    "```cpp app-setup\nIMU.begin();\n```\n```cpp app-loop\nfloat x = 1;\n```",
    "### app-setup\n```cpp\nIMU.begin();\n```\n\n**Loop:**\n```arduino\nfloat x = 1;\n```",
    "In `setup()`:\n```\nIMU.begin();\n```\nAnd in loop():\n```c++\nfloat x = 1;\n```",
    '```python\nimport textwrap\napp = {"app-setup": textwrap.dedent("""\n    IMU.begin();\n"""),\n'
    '       "app-loop": "float x" + " = 1;"}\nproject = write_project(tflite_model, board="nano33ble", app=app)\n```',
])
def test_named_parts_in_every_shape_map_to_the_regions(answer):
    glue = read_glue(answer)
    assert glue.app is not None, glue.unreadable
    assert glue.app["app-setup"].strip() == "IMU.begin();" and glue.app["app-loop"].strip() == "float x = 1;"


def test_a_non_literal_app_and_an_answer_without_glue_say_why():
    assert "not literal" in read_glue("```python\napp = {'app-loop': make_loop()}\n```").unreadable
    assert "no fenced code" in read_glue("I would read the IMU and classify.").unreadable
    assert "names no region" in read_glue("```cpp\nint x = 1;\n```").unreadable


@pytest.fixture(scope="module")
def sketch_for(tmp_path_factory, digits_int8):
    from jupyter_tinyml import write_project

    def write(app: dict[str, str], board: str = "nano33ble"):
        folder = tmp_path_factory.mktemp("glue")
        return write_project(digits_int8, board, folder, app=app, target="tflm").sketch

    return write


def test_compile_errors_come_back_all_at_once_each_with_its_region(sketch_for):
    require_arm_tools("arm-none-eabi-g++")
    from jupyter_tinyml.firmware.glue_compile import compile_glue

    sketch = sketch_for({"app-globals": "int counter = 0\n", "app-setup": "pinMode(LED_BUILTIN, OUTPUT);",
                         "app-loop": "float v = read_sensor();\nSetInput(0, v);\nSerial.print(\"\n\");"})
    result = compile_glue(sketch, "nano33ble")
    assert not result.ok and not result.skipped and "arm-none-eabi-g++" in result.compiler
    where = {(error.region, error.line) for error in result.errors}
    assert ("app-globals", 1) in where or ("app-setup", 1) in where  # the missing `;`
    assert ("app-loop", 1) in where and ("app-loop", 3) in where  # read_sensor undeclared; the broken string
    assert any("missing terminating" in error.message for error in result.errors)


def test_the_nano33ble_compile_check_has_the_boards_defines_and_the_arduino_api(sketch_for):
    require_arm_tools("arm-none-eabi-g++")
    from jupyter_tinyml.firmware.glue_compile import compile_glue

    glue = {"app-includes": "#include <Wire.h>\n#include <PDM.h>",
            "app-globals": "#if !defined(ARDUINO_ARCH_MBED) || !defined(ARDUINO_ARDUINO_NANO33BLE)\n#error not the "
                           "Nano 33 BLE core\n#endif\nString last;",
            "app-setup": "Wire.begin(); PDM.begin(1, 16000);",
            "app-loop": "float s; size_t k = TopClass(&s); last = String(LabelOf(k)) + \" \" + String(s, 3);\n"
                        "Serial.println(last); analogWrite(LEDR, constrain(int(s * 255), 0, 255));"}
    assert compile_glue(sketch_for(glue), "nano33ble").ok
    assert not compile_glue(sketch_for(glue, "virtual-cortex-m4"), "virtual-cortex-m4").ok  # the shim alone


def test_what_a_model_cannot_fix_is_one_line_and_no_compile(sketch_for):
    from jupyter_tinyml.firmware.glue_compile import compile_glue

    result = compile_glue(sketch_for({"app-includes": "#include <Arduino_LSM9DS1.h>", "app-setup": "IMU.begin();"}),
                          "nano33ble")
    assert not result.ok and not result.errors and result.skipped
    assert [library.install for library in result.missing_libraries] == ["arduino-cli lib install Arduino_LSM9DS1"]


def test_an_include_of_tensorflow_lite_says_delete_it(sketch_for):
    require_arm_tools("arm-none-eabi-g++")
    from jupyter_tinyml.firmware.glue_compile import compile_glue

    result = compile_glue(sketch_for({"app-includes": "#include <TensorFlowLite.h>"}), "nano33ble")
    assert not result.ok and not result.missing_libraries
    assert "delete the include" in str(result.errors[0]) and result.errors[0].region == "app-includes"
