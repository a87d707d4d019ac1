"""%%tinyml_deploy against the loopback OpenAI server, answered the ways models answer for firmware: the glue is read
in every shape, checked and compiled (real Arm compiler, the digits CNN's real .tflite) inside the one generate loop,
and what is inserted is the canonical cell whose `app` writes the project that compiled."""
from __future__ import annotations

from pathlib import Path

import pytest
from prerequisites import require_arm_tools
from test_glue_checks import WHOLE_SKETCH

SKETCH_WITHOUT_LIBRARIES = WHOLE_SKETCH.replace("#include <Arduino_LSM9DS1.h>\n", "").replace("  IMU.begin();\n", "")


@pytest.fixture
def deploying(shell, chat_server, digits_int8):
    require_arm_tools("arm-none-eabi-g++")
    magics = shell.magics_manager.registry["TinyMLMagics"]
    magics.settings.model, magics.settings.api_base, magics.settings.stream = (
        "openai/test-coder", chat_server.base_url, False)
    magics.settings.max_repairs = 2
    shell.user_ns.update(tflite_model=digits_int8, class_names=[str(i) for i in range(10)])
    shell.run_line_magic("tinyml", "config board=nano33ble")
    return shell


def deploy(shell, capsys) -> tuple[str, str]:
    """Run the deploy magic; (the inserted cell, what the magic printed)."""
    shell.rl_next_input = None
    capsys.readouterr()
    shell.run_cell("%%tinyml_deploy\nclassify what the IMU reads, print the class\n")
    out = capsys.readouterr()
    return shell.rl_next_input or "", out.out + out.err


def run_inserted(shell, cell: str, tmp_path: Path) -> str:
    """Run the inserted cell in the kernel; the .ino it wrote."""
    code = cell.split("# %%\n", 1)[1]
    assert shell.run_cell(code).success
    return (tmp_path / "firmware" / "tinyml_model" / "tinyml_model.ino").read_text()


@pytest.mark.parametrize("fence", ["cpp", "arduino"])
def test_a_whole_sketch_becomes_the_canonical_cell_with_the_drops_listed(deploying, chat_server, capsys, tmp_path,
                                                                         fence):
    from jupyter_tinyml.firmware.glue_compile import compile_glue

    chat_server.answer(f"Here is the complete sketch:\n\n```{fence}\n{SKETCH_WITHOUT_LIBRARIES}```\n\n"
                       "**Explanation:** the loop fills the input and prints the score.")
    cell, out = deploy(deploying, capsys)
    assert len(chat_server.requests) == 1 and "in / " in out  # one round, its usage line
    assert "# check: dropped `#include <TensorFlowLite.h>`" in cell
    assert "# check: dropped `Serial.begin(115200);`" in cell
    assert cell.count("# check: dropped") == 16 and "does not compile" not in cell
    assert 'app = {\n    "app-includes": "",\n    "app-globals": r"""\nfloat features[64];\n""",' in cell
    assert "SetInput(i, features[i]);" in cell and "project = write_project(tflite_model, board=\"nano33ble\"" in cell
    sketch = run_inserted(deploying, cell, tmp_path)
    assert "SetInput(i, features[i]);" in sketch and "TensorFlowLite.h" not in sketch
    assert compile_glue(tmp_path / "firmware" / "tinyml_model" / "tinyml_model.ino", "nano33ble").ok


NAMED_PARTS = """Add these to the skeleton.

**Globals:**
```cpp
unsigned long last = 0;
```

### app-loop
```cpp
if (millis() - last < 500) return;
last = millis();
float score;
if (RunModel()) { size_t k = TopClass(&score); Serial.print(LabelOf(k)); Serial.println(score); }
```
"""


@pytest.mark.parametrize("answer", [
    NAMED_PARTS,
    "```cpp\n// app-globals\nunsigned long last = 0;\n// app-loop\nif (millis() - last < 500) return;\n"
    "last = millis();\n```",
])
def test_named_parts_and_region_headings_are_inserted_compiled(deploying, chat_server, capsys, tmp_path, answer):
    chat_server.answer(answer)
    cell, _ = deploy(deploying, capsys)
    assert len(chat_server.requests) == 1 and "# check:" not in cell
    sketch = run_inserted(deploying, cell, tmp_path)
    assert "unsigned long last = 0;" in sketch and "last = millis();" in sketch


def python_answer(loop: str) -> str:
    return ("Here is the deployment cell:\n```python\nfrom jupyter_tinyml import DeployPanel, write_project\n"
            f'app = {{\n    "app-globals": """int ticks = 0;""",\n    "app-loop": """{loop}""",\n}}\n'
            'project = write_project(tflite_model, board="nano33ble", out_dir="firmware", labels=class_names, '
            "app=app)\n```\n")


def test_compile_errors_go_back_all_at_once_and_the_fixed_glue_is_inserted(deploying, chat_server, capsys, tmp_path):
    """The first answer has two errors in two places; a model fixing one at a time would need two rounds."""
    chat_server.answer(python_answer("tick++;\nfloat v = read_sensor();"),
                       python_answer("ticks++;\nfloat v = analogRead(0) / 1023.0f;\nSetInput(0, v);"))
    cell, out = deploy(deploying, capsys)
    assert len(chat_server.requests) == 2 and "2 rounds" in out
    sent = chat_server.requests[1]["messages"][-1]["content"]
    assert "app-loop line 1: 'tick' was not declared" in sent and "app-loop line 2: 'read_sensor' was not" in sent
    assert "# check:" not in cell and "ticks++;" in cell
    assert "SetInput(0, v);" in run_inserted(deploying, cell, tmp_path)


def test_a_python_newline_inside_a_c_string_is_caught_by_the_compile(deploying, chat_server, capsys):
    chat_server.answer(python_answer('Serial.print("\\n");'), python_answer('Serial.print(ticks);'))
    cell, _ = deploy(deploying, capsys)
    sent = chat_server.requests[1]["messages"][-1]["content"]
    assert len(chat_server.requests) == 2 and "missing terminating" in sent and "app-loop line 1" in sent
    assert "Serial.print(ticks);" in cell and "# check:" not in cell


def test_a_repair_that_empties_the_regions_is_refused(deploying, chat_server, capsys):
    chat_server.answer(python_answer("ticks++\nSerial.println(ticks);"),
                       "```python\napp = {}\nproject = write_project(tflite_model, board=\"nano33ble\", app=app)\n```",
                       python_answer("ticks++;\nSerial.println(ticks);"))
    cell, out = deploy(deploying, capsys)
    assert len(chat_server.requests) == 3
    refused = chat_server.requests[2]["messages"][-1]["content"]
    assert "empties app-globals, app-loop" in refused and "refused" in refused
    assert "ticks++;" in cell and "# check:" not in cell


def test_a_refused_deletion_in_the_last_round_keeps_the_application(deploying, chat_server, capsys):
    deploying.magics_manager.registry["TinyMLMagics"].settings.max_repairs = 1
    chat_server.answer(python_answer("ticks++\nSerial.println(ticks);"), "```python\napp = {}\n```")
    cell, _ = deploy(deploying, capsys)
    assert "Serial.println(ticks);" in cell and "# check: the answer empties app-globals, app-loop" in cell


def test_a_missing_sensor_library_is_one_line_and_no_repair(deploying, chat_server, capsys):
    chat_server.answer(python_answer("float x, y, z;\nif (IMU.accelerationAvailable()) IMU.readAcceleration(x, y, z);")
                       .replace('"app-globals": """', '"app-includes": """#include <Arduino_LSM9DS1.h>""",\n'
                                                      '    "app-globals": """'))
    cell, out = deploy(deploying, capsys)
    assert len(chat_server.requests) == 1
    assert "arduino-cli lib install Arduino_LSM9DS1" in cell and "IMU.readAcceleration(x, y, z);" in cell
    # One line of the magic's own (a terminal's shell also prints the cell, whose header repeats it as a comment).
    magic_lines = out.replace(cell.rstrip(), "").splitlines()
    assert sum("arduino-cli lib install" in line for line in magic_lines) == 1


def test_static_checks_go_back_to_the_model(deploying, chat_server, capsys):
    chat_server.answer(python_answer('delay(1000);\nSerial.println("TINYML tick");'),
                       python_answer("ticks++;"))
    cell, _ = deploy(deploying, capsys)
    sent = chat_server.requests[1]["messages"][-1]["content"]
    assert "delay(1000)" in sent and "TINYML " in sent and "# check:" not in cell


def test_an_answer_without_glue_gets_one_request_for_the_contract(deploying, chat_server, capsys):
    chat_server.answer("You should read the IMU in loop() and call the model.", python_answer("ticks++;"))
    cell, out = deploy(deploying, capsys)
    assert len(chat_server.requests) == 2 and out.count("in / ") == 2
    assert "`app`, a dict of plain string literals" in chat_server.requests[1]["messages"][-1]["content"]
    assert "ticks++;" in cell
