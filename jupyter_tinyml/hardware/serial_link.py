"""A serial link to a board running a jupyter-tinyml firmware (firmware/PROTOCOL.md), and the on-device check.

`BoardLink` is one connection: it opens the port (pyserial), waits for the board's READY line, and sends one
request at a time with an explicit timeout. `check()` streams test samples to the board as INFER requests and
compares every answer with the host's int8 interpreter on the same bytes: agreement of the top class, the largest
difference in output steps, and the latency the board measured. `monitor()` is a plain serial monitor.

    with BoardLink("/dev/ttyACM0", board="nano33ble") as link:
        result = link.check("model.tflite", x_test[:100], progress=print)

Errors are `BoardError` subclasses whose one-line message says what to do with the board.
"""
from __future__ import annotations

import errno
import math
import os
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any, Callable, Iterable, NamedTuple

from ..boards import Board, as_board, find_ports
from ..errors import (
    BoardError,
    BoardNotFoundError,
    ConfigError,
    DeviceError,
    NoAnswerError,
    PortBusyError,
    ProtocolError,
)

Progress = Callable[[int, int, str], None]
"""progress(done, total, stage): called after each step of a long operation (stage: "check", "write", ...)."""

PREFIX = "TINYML "
DEFAULT_BAUD = 115200
READY_TIMEOUT_S = 5.0  # a board that resets when the port opens boots in well under a second
REQUEST_TIMEOUT_S = 5.0  # one inference of a microcontroller-sized model takes milliseconds to a second
# A line longer than this is not the protocol (PROTOCOL.md: 2 * input bytes + 16); a 1 MB image would be 2 MB.
MAX_LINE = 4 * 1024 * 1024
# The host and TFLite Micro's reference kernels may round differently by a step or two (PROTOCOL.md).
TOLERANCE_STEPS = 2


# --------------------------------------------------------------------------------------------- ports


def open_port(port: str, baud: int = DEFAULT_BAUD, *, timeout: float = 0.1, write_timeout: float | None = 5.0,
              exclusive: bool = True, dtr: bool = True) -> Any:
    """An open pyserial port, with open failures turned into one-line BoardErrors.

    `port` is a device path ("/dev/ttyACM0", "COM5") or a pyserial URL ("socket://localhost:4444", "rfc2217://").
    exclusive: lock the port (POSIX) so a second program cannot read the same answers. dtr: assert DTR and RTS
    when opening — Arduino's USB serial waits for DTR, while an ESP32's auto-reset circuit resets on them.
    """
    import serial

    try:
        if "://" in port:
            link = serial.serial_for_url(port, do_not_open=True)
        else:
            link = serial.Serial()
            link.port = port
            link.exclusive = exclusive
        link.baudrate = baud
        link.timeout = timeout
        link.write_timeout = write_timeout
        link.dtr = dtr
        link.rts = dtr
        link.open()
    except serial.SerialException as error:
        raise port_error(port, error) from None
    except OSError as error:  # some platforms raise plain OSError (e.g. ENXIO for a gone pty)
        raise port_error(port, error) from None
    return link


def port_error(port: str, error: BaseException) -> BoardError:
    """The BoardError for an exception pyserial raised while opening `port`."""
    code = getattr(error, "errno", None)
    text = str(error)
    if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text or (os.name == "nt" and code == errno.EACCES):
        return PortBusyError(f"{port} is in use by another program (a serial monitor, the Arduino IDE, another "
                             "notebook's BoardLink) — close that program or call .close() on the other link, "
                             "then retry")
    if code == errno.EACCES or "Permission denied" in text:
        return PortBusyError(f"No permission to open {port} — add yourself to the serial group (Debian/Ubuntu: "
                             "sudo usermod -aG dialout $USER, then log out and in again) and retry")
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO) or "No such file" in text:
        return BoardNotFoundError(f"No serial port {port} — plug the board in with a data USB cable (charge-only "
                                  "cables show nothing); detect_boards() lists the ports attached now")
    return BoardError(f"Cannot open {port} ({text}) — unplug the board, plug it in again and retry")


# ------------------------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class ReadyLine:
    """The board's `TINYML READY v1 model=... in=... out=... arena=... board=...` line."""

    version: str
    model: str
    n_in: int
    n_out: int
    arena: int
    board: str
    raw: str


@dataclass(frozen=True)
class DeviceInfo:
    """The answer to INFO: the model the board runs and its quantization parameters."""

    model: str
    n_in: int
    n_out: int
    in_scale: float
    in_zero: int
    out_scale: float
    out_zero: int
    arena: int
    ops: tuple[str, ...]
    raw: str


class Inference(NamedTuple):
    """One INFER answer: the output tensor's raw bytes and the time the board measured."""

    output: bytes
    us: int


class Classification(NamedTuple):
    """One CLASSIFY answer."""

    index: int
    label: str
    score: float


def _fields(text: str, line: str) -> dict[str, str]:
    values = {}
    for token in text.split():
        key, equals, value = token.partition("=")
        if not equals:
            raise ProtocolError(f"Malformed answer {_quote(line)}: expected key=value, found {token!r} — the "
                                "firmware does not follow PROTOCOL.md; build and flash it again from this version")
        values[key] = value
    return values


def _quote(line: str, limit: int = 120) -> str:
    return repr(line if len(line) <= limit else line[:limit] + "...")


def _number(values: dict[str, str], key: str, kind: type, line: str) -> Any:
    if key not in values:
        raise ProtocolError(f"Malformed answer {_quote(line)}: no {key}= — the firmware does not follow PROTOCOL.md; "
                            "build and flash it again from this version")
    try:
        value = kind(values[key])
    except ValueError:
        raise ProtocolError(f"Malformed answer {_quote(line)}: {key}={values[key]!r} is not a number — the firmware "
                            "does not follow PROTOCOL.md; build and flash it again from this version") from None
    if kind is float and not math.isfinite(value):
        raise ProtocolError(f"Malformed answer {_quote(line)}: {key} is {value}")
    return value


def parse_ready(line: str) -> ReadyLine:
    """`TINYML READY v1 model=... in=... out=... arena=... board=...` -> ReadyLine (ProtocolError if malformed)."""
    rest = line[len(PREFIX + "READY"):].strip()
    version, _, text = rest.partition(" ")
    if not version.startswith("v"):
        text, version = rest, "v?"
    values = _fields(text, line)
    arena = _number(values, "arena", int, line) if "arena" in values else 0
    return ReadyLine(version, values.get("model", ""), _number(values, "in", int, line),
                     _number(values, "out", int, line), arena, values.get("board", ""), line)


def parse_info(line: str) -> DeviceInfo:
    """The INFO answer -> DeviceInfo (ProtocolError if malformed)."""
    values = _fields(line[len(PREFIX + "INFO"):], line)
    ops = tuple(op for op in values.get("ops", "").split(",") if op)
    return DeviceInfo(values.get("model", ""), _number(values, "in", int, line), _number(values, "out", int, line),
                      _number(values, "in_scale", float, line), _number(values, "in_zero", int, line),
                      _number(values, "out_scale", float, line), _number(values, "out_zero", int, line),
                      _number(values, "arena", int, line), ops, line)


def parse_result(line: str, n_out: int | None = None) -> tuple[bytes, int, int | None]:
    """`TINYML RESULT <hex> us=<n> [cycles=<n>]` -> (output bytes, microseconds, cycles or None)."""
    parts = line[len(PREFIX + "RESULT"):].split(None, 1)
    if not parts:
        raise ProtocolError(f"Malformed answer {_quote(line)}: RESULT without output bytes — the firmware does not "
                            "follow PROTOCOL.md; build and flash it again from this version")
    hex_text, rest = parts[0], parts[1] if len(parts) > 1 else ""
    try:
        if len(hex_text) % 2:
            raise ValueError
        output = bytes.fromhex(hex_text)
    except ValueError:
        raise ProtocolError(f"Malformed answer {_quote(line)}: the output is not hex bytes — the serial line may be "
                            "noisy (check the baud rate) or the firmware does not follow PROTOCOL.md") from None
    if n_out is not None and len(output) != n_out:
        raise ProtocolError(f"The board answered {len(output)} output bytes, the model has {n_out} — the board runs "
                            "another model: flash the firmware built from this one")
    values = _fields(rest, line)
    us = _number(values, "us", int, line)
    cycles = _number(values, "cycles", int, line) if "cycles" in values else None
    if us < 0:
        raise ProtocolError(f"Malformed answer {_quote(line)}: negative time")
    return output, us, cycles


def parse_class(line: str) -> Classification:
    """`TINYML CLASS <index> <label> <score>` -> Classification (the label may contain spaces)."""
    parts = line[len(PREFIX + "CLASS"):].split()
    try:
        return Classification(int(parts[0]), " ".join(parts[1:-1]), float(parts[-1]))
    except (IndexError, ValueError):
        raise ProtocolError(f"Malformed answer {_quote(line)}: expected CLASS <index> <label> <score>") from None


def _device_hint(message: str) -> str:
    lowered = message.lower()
    if "arena" in lowered or "allocatetensors" in lowered:
        return ("rebuild the firmware with a larger tensor arena (tflite_model.inspect() measures it) or a smaller "
                "model, and flash it again")
    if lowered.startswith("unknown command"):
        return "the firmware is older or newer than this host code: build and flash it again from this version"
    if lowered.startswith("expected"):
        return "the board runs another model than the one given: flash the firmware built from this model"
    return "fix what the board reports, then build and flash the firmware again"


# --------------------------------------------------------------------------------------- the check


@dataclass
class OnDeviceCheck:
    """What `BoardLink.check` measured: the board against the host int8 interpreter on the same input bytes.

    agreement: share of samples whose top class (argmax) matches. max_abs_diff: largest difference of any output
    value, in quantization steps (0 = bit-exact). Latencies are the board's own `us=` per inference.
    """

    n: int
    agreement: float
    max_abs_diff: int
    mean_abs_diff: float
    latency_us_mean: float
    latency_us_median: float
    latency_us_max: int
    latency_us_min: int
    device_outputs: Any  # np.ndarray (n, outputs), the model's output dtype
    host_outputs: Any
    latencies_us: Any  # np.ndarray (n,)
    disagreements: list[int] = field(default_factory=list)
    port: str = ""
    model: str = ""
    board: str = ""
    cycles: list[int] | None = None
    tolerance_steps: int = TOLERANCE_STEPS

    @property
    def ok(self) -> bool:
        """Every top class agrees and no output differs by more than `tolerance_steps`."""
        return self.agreement == 1.0 and self.max_abs_diff <= self.tolerance_steps

    def summary(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "agreement": self.agreement,
            "max_abs_diff_steps": self.max_abs_diff,
            "mean_abs_diff_steps": self.mean_abs_diff,
            "latency_us": {"mean": self.latency_us_mean, "median": self.latency_us_median,
                           "min": self.latency_us_min, "max": self.latency_us_max},
            "disagreements": list(self.disagreements),
            "ok": self.ok,
            "port": self.port,
            "model": self.model,
            "board": self.board,
        }

    def _rows(self) -> list[tuple[str, str]]:
        where = f"{self.board} on {self.port}" if self.board else self.port
        verdict = "matches the host" if self.ok else "DIFFERS from the host"
        rows = [
            ("Board", f"{where} — {verdict}"),
            ("Samples", str(self.n)),
            ("Top-class agreement", f"{self.agreement:.1%}" + (f" (differs at {self._listed()})"
                                                               if self.disagreements else "")),
            ("Largest output difference", f"{self.max_abs_diff} step{'s' if self.max_abs_diff != 1 else ''} "
                                          f"(mean {self.mean_abs_diff:.3f}; up to {self.tolerance_steps} is rounding)"),
            ("Latency on the board", f"mean {self.latency_us_mean / 1000:.3f} ms, "
                                     f"median {self.latency_us_median / 1000:.3f} ms, "
                                     f"max {self.latency_us_max / 1000:.3f} ms"),
        ]
        return rows

    def _listed(self) -> str:
        shown = ", ".join(str(i) for i in self.disagreements[:10])
        return shown + (", ..." if len(self.disagreements) > 10 else "")

    def __repr__(self) -> str:
        width = max(len(name) for name, _ in self._rows())
        return "On-device check\n" + "\n".join(f"  {name:<{width}}  {value}" for name, value in self._rows())

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><th style='text-align:left'>{escape(name)}</th><td style='text-align:left'>"
                       f"{escape(value)}</td></tr>" for name, value in self._rows())
        return f"<table class='tinyml-on-device-check'><caption>On-device check</caption>{body}</table>"


def _quantize(samples: Any, dtype: Any, scale: float | None, zero_point: int | None) -> Any:
    import numpy as np

    from ..model.quantize import quantize_values

    data = np.asarray(samples)
    if data.dtype.kind not in "fiub":
        raise ConfigError(f"samples hold {data.dtype} values: pass float samples shaped like the model input, or "
                          f"{np.dtype(dtype).name} samples already quantized.")
    return quantize_values(data, dtype, scale, zero_point, what="samples", error=ConfigError)


# ------------------------------------------------------------------------------------------ the link


class BoardLink:
    """One serial connection to a board running a jupyter-tinyml firmware.

    port: "/dev/ttyACM0", "COM5" or a pyserial URL. board: a catalogue Board or name (sets baud and DTR handling,
    names the board in messages). ready_timeout: how long to wait for READY when opening; a board that booted
    before the port was opened is found with PING instead. timeout: how long each request may take.
    on_text: called with every line that is not part of the protocol (the application's own prints).
    Use as a context manager, or call close().
    """

    def __init__(self, port: str, *, board: Board | str | None = None, baud: int | None = None,
                 ready_timeout: float = READY_TIMEOUT_S, timeout: float = REQUEST_TIMEOUT_S, wait_ready: bool = True,
                 on_text: Callable[[str], None] | None = None, exclusive: bool = True) -> None:
        self.port = port
        self.board = as_board(board) if board is not None else None
        self.baud = baud or (self.board.baud if self.board else DEFAULT_BAUD)
        self.timeout = float(timeout)
        self.ready_timeout = float(ready_timeout)
        self.on_text = on_text
        self.text: list[str] = []  # free-text lines seen so far (bounded)
        self.ready: ReadyLine | None = None
        self.last_cycles: int | None = None
        self._info: DeviceInfo | None = None
        self._buffer = bytearray()
        # Requests that timed out: their answers may still arrive and must not be taken for the next ones'.
        self._unanswered = 0
        dtr = self.board.serial_dtr if self.board else True
        self._serial = open_port(port, self.baud, timeout=0.05, write_timeout=self.timeout, exclusive=exclusive,
                                 dtr=dtr)
        try:
            if wait_ready:
                self.wait_ready(self.ready_timeout)
        except BaseException:
            self.close()
            raise

    # -- life cycle

    def __enter__(self) -> "BoardLink":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the port (idempotent)."""
        link, self._serial = getattr(self, "_serial", None), None
        if link is not None:
            try:
                link.close()
            except Exception:  # a port whose device went away may fail to close; it is gone either way
                pass

    @property
    def closed(self) -> bool:
        return self._serial is None

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("ready" if self.ready or self._info else "open")
        model = f" model={self.ready.model!r}" if self.ready else ""
        return f"<BoardLink {self.port} {state}{model}>"

    @property
    def _where(self) -> str:
        return f"the {self.board.name} on {self.port}" if self.board else f"the board on {self.port}"

    @property
    def _The_board(self) -> str:  # noqa: N802 (reads as the sentence it starts)
        return self._where[0].upper() + self._where[1:]

    # -- lines

    def _read_line(self, deadline: float) -> str | None:
        """The next complete line (without \\r\\n), or None when the deadline passes first."""
        if self._serial is None:
            raise BoardError(f"The link to {self.port} is closed — open a new BoardLink")
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                raw = bytes(self._buffer[:end])
                del self._buffer[:end + 1]
                return raw.rstrip(b"\r").decode("ascii", errors="replace")
            if len(self._buffer) > MAX_LINE:
                self._buffer.clear()
                raise ProtocolError(f"{self._where} sent {MAX_LINE} bytes without a line end — check the baud rate "
                                    f"({self.baud}) and that the firmware is a jupyter-tinyml one")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                self._serial.timeout = min(remaining, 0.05)
                chunk = self._serial.read(max(1, self._serial.in_waiting))
            except Exception as error:  # SerialException / OSError: the device went away
                self.close()
                raise BoardNotFoundError(f"{self._The_board} went away ({error}) — plug it in again (if it reset "
                                         "into its bootloader, flash it again) and reconnect") from None
            self._buffer += chunk

    def _remember(self, line: str) -> None:
        self.text.append(line)
        del self.text[:-1000]
        if self.on_text is not None:
            self.on_text(line)

    def write_line(self, text: str) -> None:
        """Send one line (a newline is added)."""
        if self._serial is None:
            raise BoardError(f"The link to {self.port} is closed — open a new BoardLink")
        try:
            self._serial.write(text.encode("ascii") + b"\n")
            self._serial.flush()
        except Exception as error:
            import serial

            if isinstance(error, serial.SerialTimeoutException):
                raise NoAnswerError(f"{self._The_board} stopped reading (write timed out "
                                    f"after {self.timeout:g} s) — press reset and retry") from None
            self.close()
            raise BoardNotFoundError(f"{self._The_board} went away ({error}) — plug it in "
                                     "again and reconnect") from None

    def _drain(self) -> None:
        """Lines already waiting (the application's prints, a late answer to a timed-out request) go to the log, so
        the next answer read is the answer to the next request."""
        while True:
            line = self._read_line(time.monotonic() + 0.001)
            if line is None:
                return
            if line.startswith(PREFIX + "READY"):
                self.ready = parse_ready(line)
                self._unanswered = 0
            elif line.startswith(PREFIX) and self._unanswered:
                self._unanswered -= 1  # the late answer to a request that timed out
            self._remember(line)

    # -- readiness

    def wait_ready(self, timeout: float | None = None) -> ReadyLine | DeviceInfo:
        """Wait for the READY line; a board that printed it before the port opened is found by PING (and INFO).

        Raises NoAnswerError when the board stays silent, DeviceError when it reports `TINYML ERROR`.
        """
        timeout = self.ready_timeout if timeout is None else float(timeout)
        start = time.monotonic()
        deadline = start + timeout
        # First give a board that resets when the port opens time to boot, then ask.
        next_probe = start + min(1.0, timeout / 4)
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            line = self._read_line(min(deadline, next_probe))
            if line is None:
                if time.monotonic() >= next_probe:
                    self.write_line("PING")
                    next_probe = time.monotonic() + min(1.0, timeout / 4)
                continue
            if not line.startswith(PREFIX):
                self._remember(line)
                continue
            kind = line[len(PREFIX):].split(" ", 1)[0]
            if kind == "READY":
                self.ready = parse_ready(line)
                return self.ready
            if kind == "PONG":
                return self.info()
            if kind == "ERROR":
                message = line[len(PREFIX + "ERROR"):].strip()
                if message.lower().startswith("unknown command"):
                    continue  # a PING that reached the board while it was still booting
                raise DeviceError(f"{self._The_board} reports: {message} — "
                                  f"{_device_hint(message)}", message)
            self._remember(line)
        hint = self.board.bootloader_hint if self.board else "double-tap reset"
        raise NoAnswerError(f"No board answered on {self.port} within {timeout:g} s — press reset and retry; if it "
                            f"stays silent, flash the tinyml firmware again ({hint} to enter the bootloader)")

    # -- requests

    def _request(self, line: str, expect: str, timeout: float | None = None) -> str:
        word = line.split(" ", 1)[0]
        self._drain()
        self.write_line(line)
        limit = self.timeout if timeout is None else float(timeout)
        deadline = time.monotonic() + limit
        while True:
            answer = self._read_line(deadline)
            if answer is None:
                self._unanswered += 1
                raise NoAnswerError(f"{self._The_board} did not answer {word} within "
                                    f"{limit:g} s — it may have crashed or hung: press reset, then retry "
                                    "(a larger timeout= helps big models)")
            if not answer.startswith(PREFIX):
                self._remember(answer)
                continue
            kind = answer[len(PREFIX):].split(" ", 1)[0]
            if self._unanswered and kind != "READY":
                self._unanswered -= 1  # the late answer to a request that timed out
                self._remember(answer)
                continue
            if kind == expect:
                return answer
            if kind == "ERROR":
                message = answer[len(PREFIX + "ERROR"):].strip()
                raise DeviceError(f"{self._The_board} answered {word} with an error: "
                                  f"{message} — {_device_hint(message)}", message)
            if kind == "READY":
                self.ready = parse_ready(answer)
                self._unanswered = 0
                raise DeviceError(f"{self._The_board} restarted while answering {word} (a "
                                  "crash: hard fault, stack overflow or watchdog) — check the arena and stack sizes, "
                                  "then retry", "restarted")
            raise ProtocolError(f"{self._The_board} answered {word} with {_quote(answer)}, "
                                f"expected TINYML {expect} — the firmware does not follow PROTOCOL.md; build and "
                                "flash it again from this version")

    def ping(self, timeout: float | None = None) -> float:
        """Round-trip time of PING/PONG, in seconds."""
        start = time.monotonic()
        self._request("PING", "PONG", timeout)
        return time.monotonic() - start

    def info(self, timeout: float | None = None) -> DeviceInfo:
        """The model the board runs and its quantization parameters."""
        self._info = parse_info(self._request("INFO", "INFO", timeout))
        return self._info

    def _n(self, which: str) -> int | None:
        if self._info is not None:
            return self._info.n_in if which == "in" else self._info.n_out
        if self.ready is not None:
            return self.ready.n_in if which == "in" else self.ready.n_out
        return None

    def _input_bytes(self, data: Any) -> bytes:
        raw = data.tobytes() if hasattr(data, "tobytes") else bytes(data)
        expected = self._n("in")
        if expected is not None and len(raw) != expected:
            raise ConfigError(f"The board's model takes {expected} input bytes, got {len(raw)}: pass one sample, "
                              "quantized to the model's input type.")
        return raw

    def infer(self, data: Any, timeout: float | None = None) -> Inference:
        """Run one inference on raw input bytes (int8 values, e.g. `np.int8` array or bytes).

        Returns (output bytes, microseconds the board measured); `last_cycles` holds its cycle count if it sent one.
        """
        raw = self._input_bytes(data)
        answer = self._request(f"INFER {raw.hex()}", "RESULT", timeout)
        output, us, cycles = parse_result(answer, self._n("out"))
        self.last_cycles = cycles
        return Inference(output, us)

    def classify(self, data: Any, timeout: float | None = None) -> Classification:
        """The board's own top class for raw input bytes: (index, label, score 0..1)."""
        raw = self._input_bytes(data)
        return parse_class(self._request(f"CLASSIFY {raw.hex()}", "CLASS", timeout))

    def check(self, tflite: Any, samples: Any, *, progress: Progress | None = None, limit: int | None = None,
              tolerance_steps: int = TOLERANCE_STEPS) -> OnDeviceCheck:
        """Run `samples` on the board and on the host int8 interpreter; compare outputs and report latency.

        tflite: the model bytes or .tflite path the firmware was built from (int8 or uint8 input and output).
        samples: float samples shaped like the model input (quantized here with the input's scale and zero point)
            or samples already of the input's integer type. limit: use only the first `limit` samples.
        progress(done, total, "check") is called after each sample.
        """
        import numpy as np

        from ..model import tflite as tflite_model

        content = tflite_model.model_bytes(tflite)
        model_inputs, model_outputs = tflite_model.inputs(content), tflite_model.outputs(content)
        if len(model_inputs) != 1 or len(model_outputs) != 1:
            raise ConfigError(f"The model has {len(model_inputs)} inputs and {len(model_outputs)} outputs; the "
                              "on-device check handles one of each.")
        source, target = model_inputs[0], model_outputs[0]
        if source.dtype not in ("int8", "uint8") or target.dtype not in ("int8", "uint8"):
            raise ConfigError(f"The model's input is {source.dtype} and output {target.dtype}: the on-device check "
                              "needs an integer model — convert with quantization='int8'.")
        in_dtype, out_dtype = np.dtype(source.dtype), np.dtype(target.dtype)
        sample_shape = tuple(source.shape[1:])
        n_in = int(np.prod(sample_shape)) if sample_shape else 1
        n_out = int(np.prod(target.shape[1:])) if len(target.shape) > 1 else 1

        data = np.asarray(samples)
        if data.shape == sample_shape:
            data = data[np.newaxis]
        if data.ndim == 0 or len(data) == 0:
            raise ConfigError("samples is empty: pass at least one sample shaped like the model input.")
        if int(np.prod(data.shape[1:])) != n_in:
            raise ConfigError(f"samples have shape {data.shape[1:]} per sample, the model input is {sample_shape}: "
                              "pass samples shaped like the model input.")
        if limit is not None:
            data = data[: int(limit)]
        quantized = _quantize(data, in_dtype, source.scale, source.zero_point).reshape(len(data), n_in)

        device = self.info()
        self._check_same_model(device, n_in, n_out, source, target)

        from ..model.quantize import interpreter_for

        interpreter = interpreter_for(content, reference=True)  # what TFLite Micro and the C target compute
        interpreter.allocate_tensors()
        input_detail = interpreter.get_input_details()[0]
        output_index = interpreter.get_output_details()[0]["index"]
        input_shape = tuple(input_detail["shape"])

        n = len(quantized)
        device_outputs = np.empty((n, n_out), out_dtype)
        host_outputs = np.empty((n, n_out), out_dtype)
        latencies = np.empty(n, np.int64)
        cycles: list[int] = []
        for i, sample in enumerate(quantized):
            interpreter.set_tensor(input_detail["index"], sample.reshape(input_shape))
            interpreter.invoke()
            host_outputs[i] = interpreter.get_tensor(output_index).reshape(-1)
            output, us = self.infer(sample.tobytes())
            device_outputs[i] = np.frombuffer(output, out_dtype)
            latencies[i] = us
            if self.last_cycles is not None:
                cycles.append(self.last_cycles)
            if progress is not None:
                progress(i + 1, n, "check")

        difference = np.abs(device_outputs.astype(np.int32) - host_outputs.astype(np.int32))
        same = device_outputs.argmax(axis=1) == host_outputs.argmax(axis=1)
        return OnDeviceCheck(
            n=n,
            agreement=float(same.mean()),
            max_abs_diff=int(difference.max()),
            mean_abs_diff=float(difference.mean()),
            latency_us_mean=float(latencies.mean()),
            latency_us_median=float(np.median(latencies)),
            latency_us_max=int(latencies.max()),
            latency_us_min=int(latencies.min()),
            device_outputs=device_outputs,
            host_outputs=host_outputs,
            latencies_us=latencies,
            disagreements=[int(i) for i in np.flatnonzero(~same)],
            port=self.port,
            model=device.model,
            board=self.board.name if self.board else (self.ready.board if self.ready else ""),
            cycles=cycles if len(cycles) == n else None,
            tolerance_steps=int(tolerance_steps),
        )

    def _check_same_model(self, device: DeviceInfo, n_in: int, n_out: int, source: Any, target: Any) -> None:
        def close(a: float, b: float | None) -> bool:
            return b is not None and math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-9)

        problems = []
        if device.n_in != n_in or device.n_out != n_out:
            problems.append(f"{device.n_in} inputs and {device.n_out} outputs, this model {n_in} and {n_out}")
        elif not (close(device.in_scale, source.scale) and device.in_zero == source.zero_point):
            problems.append(f"input scale {device.in_scale:g} zero point {device.in_zero}, this model "
                            f"{source.scale:g} and {source.zero_point}")
        elif not (close(device.out_scale, target.scale) and device.out_zero == target.zero_point):
            problems.append(f"output scale {device.out_scale:g} zero point {device.out_zero}, this model "
                            f"{target.scale:g} and {target.zero_point}")
        if problems:
            raise BoardError(f"{self._The_board} runs another model ({device.model!r}: "
                             f"{problems[0]}) — flash the firmware built from this model, or pass the .tflite it was "
                             "built from")

    # -- monitor

    def monitor(self, lines: int | None = None, seconds: float | None = None,
                on_line: Callable[[str], None] | None = None) -> list[str]:
        """Read lines as they come: stops after `lines` lines or `seconds` seconds (whichever first), or when
        interrupted (Kernel > Interrupt) if neither is given. Returns the lines; on_line sees each as it arrives."""
        received: list[str] = []
        end = math.inf if seconds is None else time.monotonic() + float(seconds)
        try:
            while lines is None or len(received) < lines:
                now = time.monotonic()
                if now >= end:
                    break
                line = self._read_line(min(end, now + 0.2))
                if line is None:
                    continue
                received.append(line)
                if on_line is not None:
                    on_line(line)
        except KeyboardInterrupt:
            pass
        return received


def connect(board: Board | str | None = None, port: str | None = None, *, ports: Iterable[Any] | None = None,
            **options: Any) -> BoardLink:
    """A BoardLink to `port`, or to the one attached board of kind `board` running a sketch (found by USB id).

    Raises BoardNotFoundError when none is attached and ConfigError when several are (pass port=).
    """
    if port is not None:
        return BoardLink(port, board=board, **options)
    if board is None:
        raise ConfigError("Pass board= (a catalogue name) or port= so the link knows where to look.")
    wanted = as_board(board)
    found = find_ports(wanted, ports, mode="application")
    if not found:
        raise BoardNotFoundError(f"No {wanted.name} attached — plug it in with a data USB cable (charge-only cables "
                                 "show nothing); detect_boards() lists what is attached")
    if len(found) > 1:
        names = ", ".join(entry.port for entry in found)
        raise ConfigError(f"Several boards could be the {wanted.name} ({names}): pass port= to pick one.")
    return BoardLink(found[0].port, board=wanted, **options)
