"""BoardLink against a pretend board on a pseudo-terminal (tests/device_peer.py), through real pyserial.

The peer answers with the host int8 interpreter on a small digits model trained here, so "the board agrees with the
host" is checked end to end; its misbehaviour options drive the error cases.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from serial.tools.list_ports_common import ListPortInfo

from jupyter_tinyml.model import tflite as tflite_model
from jupyter_tinyml.errors import (
    BoardError,
    BoardNotFoundError,
    ConfigError,
    DeviceError,
    NoAnswerError,
    PortBusyError,
    ProtocolError,
)
from jupyter_tinyml.hardware.device_check import OnDeviceCheck
from jupyter_tinyml.hardware.serial_link import BoardLink, connect

keras = pytest.importorskip("keras")
pytest.importorskip("ai_edge_litert")
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

PEER = Path(__file__).with_name("device_peer.py")
LABELS = "zero,one,two,three,four,five,six,seven,eight,nine"
# device_peer.py's board, whose every INFER answer has its lowest output raised by STEPS int8 steps: what a kernel
# with the wrong arithmetic (per-channel Dense weights on a one-scale FULLY_CONNECTED) looks like while the top
# class still agrees.
OFF_BY_STEPS_PEER = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
import device_peer

class OffBySteps(device_peer.Peer):
    def send(self, text):
        if isinstance(text, str) and text.startswith("TINYML RESULT "):
            _, _, hex_text, rest = text.split(" ", 3)
            output = np.frombuffer(bytes.fromhex(hex_text), np.int8).copy()
            low = int(output.argmin())
            output[low] = min(int(output[low]) + {steps}, 127)
            text = "TINYML RESULT " + output.tobytes().hex() + " " + rest
        super().send(text)

device_peer.Peer = OffBySteps
device_peer.main()
"""


def train(outputs: int) -> tuple[bytes, np.ndarray]:
    from sklearn.datasets import load_digits

    from jupyter_tinyml.model.convert import convert

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., np.newaxis]
    y = data.target % outputs
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(24, activation="relu"),
                              keras.layers.Dense(outputs, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", steps_per_execution=64)
    model.fit(x[:1400], y[:1400], epochs=4, batch_size=32, verbose=0)
    return convert(model, x[:300]), x[1400:]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A small int8 digits classifier (8x8x1 -> 10) saved as digits.tflite, and held-out samples."""
    content, x_test = train(10)
    path = tmp_path_factory.mktemp("model") / "digits.tflite"
    path.write_bytes(content)
    return path, x_test


class Peers:
    """Starts device_peer.py processes serving the digits model; `peers(*options)` returns the pty path."""

    def __init__(self, model: Path) -> None:
        self.model = model
        self.processes: list[subprocess.Popen] = []

    def __call__(self, *options: str, off_by_steps: int = 0) -> str:
        program = ["-c", OFF_BY_STEPS_PEER.format(tests=str(PEER.parent), steps=off_by_steps)] if off_by_steps else [
            str(PEER)]
        process = subprocess.Popen([sys.executable, *program, "--model", str(self.model), "--labels", LABELS,
                                    "--board", "nano33ble", *options],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.processes.append(process)
        path = process.stdout.readline().strip()
        assert path.startswith("/dev/"), f"the peer did not start: {path!r}"
        return path

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.stdin.close()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()


@pytest.fixture
def peer(digits: tuple[Path, np.ndarray]) -> Iterator[Peers]:
    peers = Peers(digits[0])
    yield peers
    peers.stop()


def host_outputs(model: Path, quantized: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=model.read_bytes())
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for sample in quantized:
        interpreter.set_tensor(source["index"], sample.reshape(source["shape"]))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(target["index"]).reshape(-1).copy())
    return np.array(rows)


def quantize(model: Path, x: np.ndarray) -> np.ndarray:
    tensor = tflite_model.read(model.read_bytes()).inputs[0]
    return np.clip(np.round(x / tensor.scale + tensor.zero_point), -128, 127).astype(np.int8)


def test_waits_for_ready_then_pings_and_reads_info(peer: Peers, digits: tuple[Path, np.ndarray]) -> None:
    path = peer()
    with BoardLink(path, board="nano33ble", ready_timeout=5) as link:
        assert link.ready is not None
        assert (link.ready.model, link.ready.n_in, link.ready.n_out, link.ready.board) == ("digits", 64, 10,
                                                                                           "nano33ble")
        assert link.ping() < 1.0
        info = link.info()
        graph = tflite_model.read(digits[0].read_bytes())
        source, target = graph.inputs[0], graph.outputs[0]
        assert (info.n_in, info.n_out, info.in_zero, info.out_zero) == (64, 10, source.zero_point, target.zero_point)
        assert info.in_scale == pytest.approx(source.scale) and info.out_scale == pytest.approx(target.scale)
        assert info.ops == tuple(op.name for op in graph.ops)
        assert "FULLY_CONNECTED" in info.ops
        assert "ready" in repr(link)
    assert link.closed


def test_infer_answers_what_the_host_int8_interpreter_computes(peer: Peers,
                                                              digits: tuple[Path, np.ndarray]) -> None:
    model, x_test = digits
    samples = quantize(model, x_test[:5])
    expected = host_outputs(model, samples)
    with BoardLink(peer()) as link:
        for sample, want in zip(samples, expected):
            output, us = link.infer(sample)
            assert np.frombuffer(output, np.int8).tolist() == want.tolist()
            assert us >= 1 and link.last_cycles == us * 64
        index, label, score = link.classify(samples[0])
        assert index == int(expected[0].argmax()) and label == LABELS.split(",")[index] and 0 < score <= 1
        with pytest.raises(ConfigError, match="takes 64 input bytes, got 3"):
            link.infer(b"\x00\x01\x02")


def test_check_agrees_with_the_host_and_reports_progress_and_latency(peer: Peers,
                                                                     digits: tuple[Path, np.ndarray]) -> None:
    model, x_test = digits
    calls: list[tuple[int, int, str]] = []
    with BoardLink(peer(), board="nano33ble") as link:
        result = link.check(model, x_test[:30], progress=lambda *call: calls.append(call))
    assert isinstance(result, OnDeviceCheck)
    assert (result.n, result.agreement, result.max_abs_diff, result.disagreements) == (30, 1.0, 0, [])
    assert result.ok
    assert calls == [(i, 30, "check") for i in range(1, 31)]
    assert 0 < result.latency_us_min <= result.latency_us_median <= result.latency_us_max
    assert result.latency_us_mean > 0 and len(result.latencies_us) == 30 and result.cycles is not None
    assert result.device_outputs.shape == result.host_outputs.shape == (30, 10)
    assert result.summary()["ok"] is True and result.summary()["model"] == "digits"
    assert "Arduino Nano 33 BLE Sense on /dev/pts/" in repr(result) and "matches the host" in repr(result)
    assert "<table" in result._repr_html_() and "100.0%" in result._repr_html_()


def test_check_takes_already_quantized_samples_and_a_limit(peer: Peers,
                                                          digits: tuple[Path, np.ndarray]) -> None:
    model, x_test = digits
    with BoardLink(peer()) as link:
        result = link.check(model.read_bytes(), quantize(model, x_test[:20]), limit=8)
    assert result.n == 8 and result.agreement == 1.0 and result.max_abs_diff == 0


def test_check_measures_a_one_step_difference_in_output_steps(peer: Peers,
                                                              digits: tuple[Path, np.ndarray]) -> None:
    model, x_test = digits
    with BoardLink(peer("--perturb")) as link:
        result = link.check(model, x_test[:10])
    assert result.agreement == 1.0 and result.max_abs_diff == 1 and result.ok  # within rounding


@pytest.mark.parametrize("steps", [1, 2])
def test_a_difference_beyond_the_tolerance_fails_even_when_every_top_class_agrees(
        peer: Peers, digits: tuple[Path, np.ndarray], steps: int) -> None:
    from jupyter_tinyml.hardware.device_check import TOLERANCE_STEPS

    model, x_test = digits
    with BoardLink(peer(off_by_steps=steps), board="nano33ble") as link:
        result = link.check(model, x_test[:10])
    assert TOLERANCE_STEPS == result.tolerance_steps == 1
    assert result.agreement == 1.0 and result.max_abs_diff == steps
    text = repr(result)
    if steps == 1:
        assert result.ok and result.passed and result.problems() == []
        assert "passes: top class agrees on all 10 samples, largest output difference 1 step (tolerance 1 step)" in text
    else:
        assert not result.ok and not result.passed and not result.summary()["ok"]
        assert result.problems() == ["the largest output difference, 2 steps, exceeds the tolerance of 1 step"]
        assert "FAILS: the largest output difference, 2 steps, exceeds the tolerance of 1 step" in text
        assert "2 steps (mean" in text and "tolerance 1 step) — EXCEEDED" in text
        assert result.summary()["tolerance_steps"] == 1
        # A stated tolerance of 2 steps lets the same board pass.
        with BoardLink(peer(off_by_steps=steps)) as link:
            assert link.check(model, x_test[:10], tolerance_steps=2).ok


def test_check_counts_samples_whose_top_class_differs(peer: Peers,
                                                      digits: tuple[Path, np.ndarray]) -> None:
    model, x_test = digits
    with BoardLink(peer("--flip-every", "4")) as link:
        result = link.check(model, x_test[:20])
    assert result.agreement == 0.75 and result.disagreements == [3, 7, 11, 15, 19]
    assert not result.ok and "DIFFERS from the host" in repr(result)


def test_check_refuses_a_board_running_another_model(peer: Peers, digits: tuple[Path, np.ndarray],
                                                     tmp_path: Path) -> None:
    other, _ = train(4)
    with BoardLink(peer()) as link:
        with pytest.raises(BoardError, match=r"runs another model \('digits': 64 inputs and 10 outputs, this "
                                             r"model 64 and 4\) — flash"):
            link.check(other, digits[1][:3])


def test_a_board_that_booted_before_the_port_opened_is_found_with_ping(peer: Peers) -> None:
    start = time.monotonic()
    with BoardLink(peer("--ready", "never"), ready_timeout=4) as link:
        assert link.ready is None
        assert link._info is not None and link._info.n_in == 64
    assert time.monotonic() - start < 3


def test_no_ready_line_times_out_with_what_to_do(peer: Peers) -> None:
    path = peer("--silent")
    start = time.monotonic()
    with pytest.raises(NoAnswerError) as raised:
        BoardLink(path, board="nano33ble", ready_timeout=1)
    assert time.monotonic() - start < 2.5
    assert str(raised.value).startswith(f"No board answered on {path} within 1 s — press reset and retry")
    assert "double-tap the reset button" in str(raised.value)


def test_a_tinyml_error_line_is_raised_with_the_device_message(peer: Peers) -> None:
    with pytest.raises(DeviceError) as raised:
        BoardLink(peer("--error", "AllocateTensors failed: arena 8192 too small"))
    assert raised.value.device_message == "AllocateTensors failed: arena 8192 too small"
    assert "reports: AllocateTensors failed: arena 8192 too small — rebuild the firmware with a larger tensor arena" \
        in str(raised.value)


def test_a_garbage_answer_is_a_protocol_error(peer: Peers, digits: tuple[Path, np.ndarray]) -> None:
    with BoardLink(peer("--garbage")) as link:
        with pytest.raises(ProtocolError, match="Malformed answer 'TINYML RESULT zz9 us=soon': the output is not hex"):
            link.infer(np.zeros(64, np.int8))


def test_free_text_and_binary_noise_between_answers_is_kept_aside(peer: Peers,
                                                                  digits: tuple[Path, np.ndarray]) -> None:
    seen: list[str] = []
    with BoardLink(peer("--noise"), on_text=seen.append) as link:
        output, _ = link.infer(quantize(digits[0], digits[1][:1])[0])
    assert len(output) == 10
    assert "debug: sensor idle" in seen and any("boot log" in line for line in seen)
    assert link.text == seen


def test_a_slow_answer_times_out_and_its_late_answer_is_not_taken_for_the_next(
        peer: Peers, digits: tuple[Path, np.ndarray]) -> None:
    model, x_test = digits
    samples = quantize(model, x_test[:2])
    expected = host_outputs(model, samples)
    with BoardLink(peer("--delay", "0.6"), ready_timeout=5, timeout=0.2) as link:
        with pytest.raises(NoAnswerError, match=r"did not answer INFER within 0.2 s — it may have crashed or hung"):
            link.infer(samples[0])
        link.timeout = 5
        output, _ = link.infer(samples[1])
    assert np.frombuffer(output, np.int8).tolist() == expected[1].tolist()


def test_a_board_that_restarts_while_answering_is_reported(peer: Peers) -> None:
    with BoardLink(peer("--restart-after", "1")) as link:
        link.infer(np.zeros(64, np.int8))
        with pytest.raises(DeviceError, match="restarted while answering INFER"):
            link.infer(np.zeros(64, np.int8))


def test_monitor_reads_lines_as_they_come(peer: Peers) -> None:
    with BoardLink(peer("--noise")) as link:
        link.write_line("PING")
        seen: list[str] = []
        lines = link.monitor(lines=3, seconds=3, on_line=seen.append)
        assert lines == seen and len(lines) == 3
        assert lines[0] == "debug: sensor idle" and lines[2] == "TINYML PONG"
        start = time.monotonic()
        assert link.monitor(seconds=0.3) == []
        assert 0.25 < time.monotonic() - start < 1.0


def test_a_port_held_by_another_link_is_busy(peer: Peers) -> None:
    path = peer()
    with BoardLink(path):
        with pytest.raises(PortBusyError, match=f"{path} is in use by another program"):
            BoardLink(path)


def test_a_missing_port_says_plug_it_in() -> None:
    with pytest.raises(BoardNotFoundError, match="No serial port /dev/ttyNOPE0 — plug the board in"):
        BoardLink("/dev/ttyNOPE0")


def test_a_board_that_goes_away_mid_session(peer: Peers) -> None:
    path = peer()
    with BoardLink(path) as link:
        peer.processes[-1].kill()  # the board is unplugged
        peer.processes[-1].wait()
        with pytest.raises(BoardNotFoundError, match="went away"):
            link.ping()


def test_connect_finds_the_board_by_its_usb_id(peer: Peers) -> None:
    path = peer()
    info = ListPortInfo(path, skip_link_detection=True)
    info.vid, info.pid = 0x2341, 0x805A
    with connect("nano33ble", ports=[info]) as link:
        assert link.port == path and link.board is not None and link.board.id == "nano33ble"
    with pytest.raises(BoardNotFoundError, match="No Seeed Wio Terminal attached — plug it in"):
        connect("wio-terminal", ports=[info])
