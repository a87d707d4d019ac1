"""DeployPanel against a board on a pseudo-terminal (tests/device_peer.py, real pyserial): pick, check, monitor,
and the clear line when a build tool is missing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from serial.tools.list_ports_common import ListPortInfo

keras = pytest.importorskip("keras")

PEER = Path(__file__).with_name("device_peer.py")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from sklearn.datasets import load_digits

    from jupyter_tinyml import convert, write_project

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., np.newaxis]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:1400], data.target[:1400], epochs=2, verbose=0)
    tflite = convert(model, x[:300])
    folder = tmp_path_factory.mktemp("deploy")
    (folder / "digits.tflite").write_bytes(tflite)
    project = write_project(tflite, board="nano33ble", out_dir=folder / "firmware", labels=[str(i) for i in range(10)])
    return tflite, x[1400:], project, folder / "digits.tflite"


def start_board(model: Path, program: list[str]):
    """A pty board (device_peer.py, or `program` built on it) serving `model`, seen as a Nano 33 BLE sketch."""
    process = subprocess.Popen([sys.executable, *program, "--model", str(model), "--board", "nano33ble"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    path = process.stdout.readline().strip()
    info = ListPortInfo(path, skip_link_detection=True)
    info.vid, info.pid = 0x2341, 0x805A  # what a Nano 33 BLE running a sketch shows
    return process, info


@pytest.fixture
def board_port(digits):
    process, info = start_board(digits[3], [str(PEER)])
    yield info
    process.stdin.close()
    process.wait(5)


@pytest.fixture
def off_by_four_port(digits):
    """A board whose lowest output is four steps off on every answer (its top class still agrees): beyond the stated
    tolerance of a TFLite Micro project (device_check.TFLM_TOLERANCE_STEPS, 3)."""
    from test_serial_link import OFF_BY_STEPS_PEER

    process, info = start_board(digits[3], ["-c", OFF_BY_STEPS_PEER.format(tests=str(PEER.parent), steps=4)])
    yield info
    process.stdin.close()
    process.wait(5)


def test_panel_detects_the_board_and_runs_the_on_device_check(digits, board_port):
    from jupyter_tinyml import DeployPanel

    tflite, x_test, project, _ = digits
    panel = DeployPanel(project, tflite, samples=x_test, ports=[board_port], check_samples=20)
    assert panel.board.id == "nano33ble" and panel.port == board_port.device
    assert panel.board_picker.options[0][0].startswith("● Arduino Nano 33 BLE")
    assert panel.port_picker in panel.where_row.children  # a USB board: its port is picked here
    assert "1 serial port found, 1 known board" in panel.status.value
    result = panel.check()
    assert result.n == 20 and result.agreement == 1.0 and result.ok
    assert not result.emulated and "Latency on the board" in panel.result.value
    assert f"median {result.latency_us_median / 1000:.2f} ms" in panel.status.value
    assert panel.progress.value == 1.0 and panel.progress.bar_style == "success"
    assert "On-device check passed: agreement 100.0%, largest output difference 0 steps (tolerance 3)" in \
        panel.status.value and "On-device check" in panel.result.value
    lines = panel.monitor(seconds=0.5)
    assert lines is not None and panel.progress.bar_style == "success"


def test_panel_fails_a_board_whose_outputs_differ_beyond_the_tolerance(digits, off_by_four_port):
    from jupyter_tinyml import DeployPanel
    from jupyter_tinyml.hardware.device_check import TFLM_TOLERANCE_STEPS

    tflite, x_test, project, _ = digits
    assert project.target == "tflm"
    panel = DeployPanel(project, tflite, samples=x_test, ports=[off_by_four_port], check_samples=10)
    result = panel.check()
    assert result.agreement == 1.0 and result.max_abs_diff == 4 and not result.ok
    assert result.tolerance_steps == TFLM_TOLERANCE_STEPS == 3  # the stated tolerance of a TFLite Micro project
    assert panel.progress.bar_style == "danger"
    assert ("On-device check FAILED: agreement 100.0%, largest output difference 4 steps (tolerance 3)"
            in panel.status.value)
    assert "exceeds the tolerance of 3 steps" in panel.status.value and "FAILS" in panel.result.value
    assert panel.check(tolerance_steps=4).ok and panel.progress.bar_style == "success"
    assert not panel.check(tolerance_steps=1).ok


def test_panel_shows_the_projects_own_budget_verdict(digits):
    """The panel says what write_project's budget says about flash and RAM, in its words, not a sum of its own."""
    import html

    from jupyter_tinyml import DeployPanel

    project = digits[2]
    panel = DeployPanel(project, digits[0], ports=[])
    header = panel.children[0].value
    assert f"Target: {html.escape(project.target_reason)}" in header
    assert project.target_reason == "nano33ble: TFLite Micro — a real board runs the Arduino sketch"
    assert html.escape(project.budget.flash_text()) in header and html.escape(project.budget.ram_text()) in header
    assert html.escape(str(project.budget).splitlines()[0]) in header


def test_picking_the_virtual_board_swaps_the_port_for_a_no_hardware_line(digits):
    from jupyter_tinyml.widgets.deploy_panel import PORT_PLACEHOLDER, VIRTUAL_TEXT, DeployPanel

    panel = DeployPanel(digits[2], digits[0], ports=[])
    assert panel.port_picker in panel.where_row.children and panel.port_picker.placeholder == PORT_PLACEHOLDER
    panel.board_picker.value = "virtual-cortex-m4"
    assert panel.port_picker not in panel.where_row.children and panel.virtual_note in panel.where_row.children
    assert VIRTUAL_TEXT in panel.virtual_note.value and VIRTUAL_TEXT in panel.status.value
    assert "QEMU" in panel.buttons["flash"].tooltip and "USB" not in panel.buttons["flash"].tooltip
    panel.board_picker.value = "nano33ble"
    assert panel.port_picker in panel.where_row.children and panel.buttons["flash"].tooltip.endswith("over USB")


def test_build_without_tools_says_what_to_install(digits, monkeypatch):
    from jupyter_tinyml import DeployPanel

    monkeypatch.setenv("PATH", "/nonexistent")
    panel = DeployPanel(digits[2], digits[0], ports=[])
    assert panel.build() is None
    assert "arduino-cli" in panel.status.value and panel.progress.bar_style == "danger"


def test_check_without_a_board_is_one_clear_line(digits):
    from jupyter_tinyml import DeployPanel

    panel = DeployPanel(digits[2], digits[0], samples=digits[1], ports=[])
    assert panel.check() is None
    assert "No Arduino Nano 33 BLE Sense attached" in panel.status.value


FAKE_ARDUINO_CLI = """#!/bin/sh
# A stand-in compiler with arduino-cli's command line: it fails while the sketch calls undefined_sensor_read().
for last; do :; done
sketch="$last/$(basename "$last").ino"
if grep -q undefined_sensor_read "$sketch"; then
  echo "$sketch:40:5: error: 'undefined_sensor_read' was not declared in this scope"
  exit 1
fi
out=""; prev=""
for arg; do [ "$prev" = "--output-dir" ] && out="$arg"; prev="$arg"; done
mkdir -p "$out" && printf 'firmware' > "$out/$(basename "$last").ino.bin"
echo "Sketch uses 123456 bytes (12%) of program storage space."
"""


@pytest.fixture
def broken_glue_project(digits, tmp_path, monkeypatch):
    """A project whose app-loop calls a function that does not exist, and a compiler on PATH that says so."""
    from jupyter_tinyml import write_project

    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "arduino-cli").write_text(FAKE_ARDUINO_CLI)
    (tools / "arduino-cli").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    return write_project(digits[0], board="nano33ble", out_dir=tmp_path / "fw",
                         app={"app-loop": "int reading = undefined_sensor_read();"})


def test_compile_errors_in_the_glue_go_back_to_the_model(digits, broken_glue_project):
    from jupyter_tinyml import DeployPanel
    from jupyter_tinyml.config import TinyML

    project = broken_glue_project
    settings = TinyML()
    settings.model = "openai/gpt-4o-mini"
    settings.mock_response = "```cpp app-loop\nint reading = analogRead(A0);\n```"
    panel = DeployPanel(project, digits[0], ports=[], repair=settings)
    result = panel.build()
    assert result.ok and result.artifacts
    sketch = project.sketch.read_text()
    assert "analogRead(A0)" in sketch and "undefined_sensor_read" not in sketch
    assert "glue repair: 1 round(s), build ok" in panel.log_view.value
    # Into the notebook (the shell of an earlier test in this process), else the `app` dict to paste.
    assert ("--- the repaired deploy cell: The generated code" in panel.log_view.value
            or '"app-loop": r"""\nint reading = analogRead(A0);\n"""' in panel.log_view.value)


def test_the_repair_is_read_compiled_and_kept_in_the_notebook(digits, broken_glue_project, chat_server, shell):
    """Errors go to the model all at once; an answer that still does not compile goes back before the project is
    written; the repaired glue is inserted into the notebook as the canonical deploy cell."""
    from prerequisites import require_arm_tools

    from jupyter_tinyml import DeployPanel

    require_arm_tools("arm-none-eabi-g++")
    settings = shell.magics_manager.registry["TinyMLMagics"].settings
    settings.model, settings.api_base, settings.stream, settings.max_repairs = (
        "openai/test-coder", chat_server.base_url, False, 2)
    shell.user_ns.update(tflite_model=digits[0])
    chat_server.answer("```cpp\n// app-loop\nint reading = analogRead(A0);\nint other = missing_call();\n"
                       "Serial.printx(reading);\n```",
                       "Fixed:\n```python\napp = {'app-loop': 'int reading = analogRead(A0);'}\n```")
    panel = DeployPanel(broken_glue_project, digits[0], ports=[])
    result = panel.build()
    assert result.ok and len(chat_server.requests) == 2
    sent = chat_server.requests[1]["messages"][-1]["content"]
    assert "app-loop line 2: 'missing_call' was not declared" in sent and "app-loop line 3" in sent
    assert "undefined_sensor_read" not in broken_glue_project.sketch.read_text()
    cell = shell.rl_next_input
    assert "# tinyml deploy · openai/test-coder" in cell and "int reading = analogRead(A0);" in cell
    assert 'write_project(tflite_model, board="nano33ble"' in cell and "app=app" in cell


def test_a_build_that_needs_a_library_is_not_sent_to_the_model(digits, tmp_path, monkeypatch, chat_server):
    from jupyter_tinyml import DeployPanel, write_project
    from jupyter_tinyml.config import TinyML

    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "arduino-cli").write_text("#!/bin/sh\necho 'x.ino:3:10: fatal error: Arduino_LSM9DS1.h: No such file or "
                                       "directory'\nexit 1\n")
    (tools / "arduino-cli").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    project = write_project(digits[0], board="nano33ble", out_dir=tmp_path / "fw",
                            app={"app-includes": "#include <Arduino_LSM9DS1.h>"})
    settings = TinyML(model="openai/test-coder", api_base=chat_server.base_url)
    panel = DeployPanel(project, digits[0], ports=[], repair=settings)
    assert not panel.build().ok and chat_server.requests == []
    assert ("glue repair not asked: Arduino_LSM9DS1.h is not installed: arduino-cli lib install Arduino_LSM9DS1"
            in panel.log_view.value)


def test_a_repair_answer_without_regions_leaves_the_sketch(digits, broken_glue_project):
    from jupyter_tinyml import DeployPanel
    from jupyter_tinyml.config import TinyML

    project = broken_glue_project
    before = project.sketch.read_text()
    settings = TinyML()
    settings.model, settings.mock_response = "openai/gpt-4o-mini", "Sorry, I can't see the problem."
    panel = DeployPanel(project, digits[0], ports=[], repair=settings)
    assert panel.build() is not None
    assert project.sketch.read_text() == before
    assert "held no application glue" in panel.log_view.value and "Build failed" in panel.status.value
