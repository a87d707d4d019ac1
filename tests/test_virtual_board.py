"""The virtual board: the C target built with gcc-arm-none-eabi, run on QEMU's mps2-an386, and driven over its
pseudo-terminal by the same serial_link / DeployPanel code as a USB board.

Needs arm-none-eabi-gcc (+ newlib) and qemu-system-arm (`make test` installs them when run as root); without them
these tests skip with the reason, except under CI=true, where they fail (issue 6: the deploy loop is proven in CI).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from jupyter_tinyml.boards import find_board
from jupyter_tinyml.errors import DeviceError, ToolNotFoundError
from jupyter_tinyml.hardware.serial_link import BoardLink
from jupyter_tinyml.hardware.virtual import image, qemu, toolchain
from prerequisites import require_arm_tools

pytestmark = pytest.mark.usefixtures("no_stray_qemu")

LOOP_ITERATIONS = 50_000  # the fixture model's busy loop: two instructions per iteration

# A hand-written stand-in for generate_c's output, for the board tests only: output = a fixed function of the
# input, and a loop of exactly two instructions per iteration, so the emulated instruction count is known.
FIXTURE_H = """\
#include <stdint.h>
#define TINYML_INPUT_BYTES 4
#define TINYML_OUTPUT_BYTES 3
#define TINYML_ARENA_BYTES 16
extern const float tinyml_input_scale;  extern const int32_t tinyml_input_zero_point;
extern const float tinyml_output_scale; extern const int32_t tinyml_output_zero_point;
extern const char *const tinyml_model_name;
extern const char *const tinyml_op_names;
int tinyml_invoke(const int8_t *input, int8_t *output);
"""
FIXTURE_C = f"""\
#include "model_c.h"
const float tinyml_input_scale = 0.00392156886f;
const int32_t tinyml_input_zero_point = -128;
const float tinyml_output_scale = 0.00390625f;
const int32_t tinyml_output_zero_point = -128;
const char *const tinyml_model_name = "fixture";
const char *const tinyml_op_names = "ADD,SOFTMAX";

int tinyml_invoke(const int8_t *input, int8_t *output)
{{
    uint32_t count = {LOOP_ITERATIONS}u;
    __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(count) : : "cc");
    output[0] = input[0];
    output[1] = (int8_t)(input[1] + input[2]);
    output[2] = (int8_t)-input[3];
    return input[0] == 13 ? 1 : 0; /* 13 in the first byte: a failed inference */
}}
"""


@pytest.fixture
def tools() -> None:
    require_arm_tools()


@pytest.fixture(scope="module")
def fixture_build(tmp_path_factory: pytest.TempPathFactory) -> toolchain.VirtualBuild:
    require_arm_tools()
    folder = tmp_path_factory.mktemp("fixture")
    (folder / "model_c.h").write_text(FIXTURE_H)
    (folder / "model_c.c").write_text(FIXTURE_C)
    return image.build(folder, labels=["low", "mid", "high"])


@pytest.fixture
def fixture_board(fixture_build: toolchain.VirtualBuild) -> Iterator[qemu.VirtualBoard]:
    with qemu.flash(fixture_build) as board:
        yield board
    assert not board.running



def test_the_catalogue_has_the_virtual_board() -> None:
    board = find_board("qemu")
    assert board is find_board("virtual") is find_board("virtual-cortex-m4")
    assert board.name == "Virtual Cortex-M4 (QEMU mps2-an386)"
    assert board.upload == "qemu" and board.baud == 115200 and board.clock_mhz == 25
    assert board.flash_bytes == board.ram_bytes == 4 * 1024 * 1024
    assert not board.usb_ids and board.sensors == ()


def test_missing_tools_say_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFoundError, match="apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                                                "qemu-system-arm"):
        image.build(tmp_path)
    with pytest.raises(ToolNotFoundError, match="qemu-system-arm"):
        qemu.flash(tmp_path / "app.elf")


def test_the_board_image_builds_warning_free_and_reports_flash_and_ram(
        fixture_build: toolchain.VirtualBuild) -> None:
    built = fixture_build
    assert built.ok, built.output
    assert "warning" not in built.output and "-Werror" in built.command and "-Wextra" in built.command
    assert built.elf is not None and built.elf.is_file() and built.artifacts["map"].is_file()
    sections = built.sections
    assert built.flash_bytes == sections[".text"] + sections[".data"] + sections.get(".ARM.exidx", 0)
    assert built.ram_bytes == sections[".data"] + sections[".bss"] + sections[".stack"]
    assert 1000 < built.flash_bytes < 64 * 1024 and built.stack_bytes == sections[".stack"] == 16 * 1024
    assert "flash" in repr(built) and "RAM" in repr(built)


def test_a_compile_error_is_returned_with_diagnostics(tools: None, tmp_path: Path) -> None:
    (tmp_path / "model_c.h").write_text(FIXTURE_H)
    (tmp_path / "model_c.c").write_text(FIXTURE_C.replace("return input[0]", "return undeclared + input[0]"))
    built = image.build(tmp_path)
    assert not built.ok and built.errors and "undeclared" in str(built.errors[0])
    assert built.artifacts == {}


def test_qemu_boots_and_prints_ready_on_the_pty(fixture_board: qemu.VirtualBoard) -> None:
    assert fixture_board.running and fixture_board.port.startswith("/dev/pts/")
    assert fixture_board.ready_line == ("TINYML READY v1 model=fixture in=4 out=3 arena=16 "
                                        "board=virtual-cortex-m4")


def test_ping_info_infer_and_classify_through_boardlink(fixture_board: qemu.VirtualBoard) -> None:
    with BoardLink(fixture_board.port, board="virtual") as link:
        assert link.ping() < 1.0
        info = link.info()
        assert (info.model, info.n_in, info.n_out, info.in_zero, info.out_zero) == ("fixture", 4, 3, -128, -128)
        assert info.in_scale == pytest.approx(1 / 255, rel=1e-6) and info.out_scale == 1 / 256
        assert info.ops == ("ADD", "SOFTMAX") and info.arena == 16
        output, us = link.infer(np.array([1, 2, 3, 4], np.int8))
        assert output == bytes([1, 5, 0xFC]) and us >= 1
        label = link.classify(np.array([127, 0, 0, -128], np.int8))
        assert (label.index, label.label) == (0, "low") and label.score == pytest.approx(255 / 256, abs=1e-4)
        with pytest.raises(DeviceError, match="Invoke failed"):
            link.infer(bytes([13, 0, 0, 0]))
        # Malformed requests, written as a person would type them in a serial monitor.
        for request in ("INFER 0102", "infer 010z0304", "INFER 010", "FOO bar"):
            link.write_line(request)
        assert link.monitor(lines=4, seconds=5) == [
            "TINYML ERROR expected 4 bytes, got 2", "TINYML ERROR not a hex digit at position 3",
            "TINYML ERROR odd number of hex digits (3)", "TINYML ERROR unknown command FOO"]
        assert link.ping() < 1.0  # and it still answers


def test_cycles_are_emulated_instructions(fixture_board: qemu.VirtualBoard) -> None:
    with BoardLink(fixture_board.port, board="virtual") as link:
        link.infer(bytes(4))
        cycles = link.last_cycles
        _, us = link.infer(bytes(4))
    # -icount shift=0: one instruction per virtual nanosecond; SysTick at 25 MHz resolves 40 of them.
    assert cycles is not None and 2 * LOOP_ITERATIONS <= cycles <= 2 * LOOP_ITERATIONS + 200
    assert us == cycles // 1000


# ------------------------------------------------------------------------------- the loop end to end


@pytest.fixture(scope="module")
def digits_model(digits, digits_int8) -> tuple[bytes, np.ndarray]:
    """The shared int8 digits CNN (conftest.py: conv -> pool -> dense -> dense softmax) and its held-out samples."""
    require_arm_tools()
    return digits_int8, digits.x_test


def test_a_real_model_runs_on_the_virtual_board_like_on_the_host(digits_model: tuple[bytes, np.ndarray]) -> None:
    from jupyter_tinyml.firmware.c_target import generate_c

    tflite, x_test = digits_model
    generated = generate_c(tflite, name="digits")
    built = image.build(generated, labels=[str(i) for i in range(10)])
    assert built.ok, built.error_text()
    assert built.flash_bytes > generated.weights_bytes and built.ram_bytes > generated.arena_bytes
    with qemu.flash(built) as board:
        assert board.ready_line.startswith(f"TINYML READY v1 model=digits in=64 out=10 arena={generated.arena_bytes} ")
        with BoardLink(board.port, board="virtual-cortex-m4") as link:
            result = link.check(tflite, x_test[:30])
    assert not board.running and board.process.returncode is not None
    assert result.agreement == 1.0 and result.max_abs_diff <= 1, result.summary()
    assert result.n == 30 and result.latency_us_min >= 1
    assert result.cycles is not None and min(result.cycles) > 1000
    # Virtual time is instructions (1 ns each), so the same model costs the same on every host.
    assert result.latency_us_median == pytest.approx(np.median(result.cycles) / 1000, abs=1)


def widget_texts(widget) -> list[str]:
    """Every string a widget tree holds in its state (values, placeholders, tooltips, options, titles)."""
    import ipywidgets as widgets

    found = []
    for name in widget.keys:
        value = getattr(widget, name, None)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found += [str(item) for item in value if not isinstance(item, widgets.Widget)]
            found += [text for item in value if isinstance(item, widgets.Widget) for text in widget_texts(item)]
    return found


def test_the_deploy_panel_builds_flashes_and_checks_the_virtual_board(digits_model: tuple[bytes, np.ndarray],
                                                                      tmp_path: Path) -> None:
    """The panel over write_project's virtual-board project reads as an emulated board, start to end: no port to
    pick, the image's flash and RAM against the board's budget, the firmware's own status lines in Monitor, and an
    emulated latency given as one figure."""
    pytest.importorskip("ipywidgets")
    from jupyter_tinyml.boards import find_board
    from jupyter_tinyml.firmware import write_project
    from jupyter_tinyml.widgets.deploy_panel import VIRTUAL_TEXT, DeployPanel

    tflite, x_test = digits_model
    project = write_project(tflite, board="virtual", out_dir=tmp_path, labels=[str(i) for i in range(10)])
    assert project.target == "c"
    panel = DeployPanel(project, tflite, samples=x_test, check_samples=10, repair=None)  # the system's own ports
    board = find_board("virtual")
    try:
        shown = "\n".join(widget_texts(panel))
        assert VIRTUAL_TEXT in shown and "/dev/tty" not in shown and "serial ports found" not in shown
        assert panel.port_picker not in panel.where_row.children
        assert "over USB" not in shown and "arduino-cli" not in shown
        assert panel.monitor(seconds=0.1) is None and "not running — Build, then Flash starts it in QEMU" in \
            panel.status.value

        built = panel.build()
        assert built is not None and built.ok and built.artifacts["elf"].is_file(), panel.log_view.value
        budget = (f"flash {built.flash_bytes:,} of {board.flash_bytes:,} B "
                  f"({built.flash_bytes / board.flash_bytes:.1%}), "
                  f"RAM {built.ram_bytes:,} of {board.ram_bytes:,} B ({built.ram_bytes / board.ram_bytes:.1%})")
        assert f"--- image: {budget}" in panel.log_view.value and budget in panel.status.value
        assert built.flash_bytes > project.flash_bytes and built.ram_bytes > project.arena_bytes

        uploaded = panel.flash()
        assert uploaded is not None and uploaded.method == "qemu" and panel.port == uploaded.port
        assert uploaded.port.startswith("/dev/pts/")
        lines = panel.monitor(seconds=1.0)
        assert lines is not None and lines[0].startswith("TINYML READY v1 model=tinyml_model in=64 out=10 ")
        assert any(line.startswith("TINYML INFO model=tinyml_model") for line in lines), panel.log_view.value
        assert "lines from the firmware (the emulated board)" in panel.status.value

        checked = panel.check()
        assert checked is not None and checked.agreement == 1.0 and checked.n == 10, panel.log_view.value
        assert checked.ok and checked.tolerance_steps == 0 and checked.emulated  # a C-target project: exact
        # Virtual time: the instruction count, which data-dependent branches (clamps, table lookups) move by a few
        # percent between samples; one figure when it does not move, else the median and the range.
        assert checked.latency_us_max - checked.latency_us_min <= 0.1 * checked.latency_us_median
        assert checked.latency_text() in panel.status.value and "emulated" in checked.latency_text()
        assert "Latency (emulated)" in panel.result.value and "QEMU virtual time" in panel.result.value
        assert ("on every sample" in panel.result.value) == (checked.latency_us_min == checked.latency_us_max)
        latency = panel.result.value.split("Latency (emulated)")[1]
        assert "mean " not in latency and "max " not in latency  # no board-style mean/median/max spread
        assert "/dev/tty" not in "\n".join(widget_texts(panel))
    finally:
        for running in qemu.running():
            running.stop()


def test_no_qemu_outlives_its_board(fixture_build: toolchain.VirtualBuild) -> None:
    board = qemu.flash(fixture_build)
    pid = board.process.pid
    board.stop()
    board.stop()  # idempotent
    assert board.process.poll() is not None and not Path(f"/proc/{pid}").exists()
    assert qemu.running() == []
