"""A serial link to a board running a jupyter-tinyml firmware (firmware/PROTOCOL.md).

`BoardLink` is one connection: it opens the port (ports.open_port), waits for the board's READY line, and sends one
request at a time with an explicit timeout; lines are read by protocol.py. `check()` runs the on-device check
(device_check.py) over the link; `monitor()` is a plain serial monitor. `connect()` finds the board by USB id.

    with BoardLink("/dev/ttyACM0", board="nano33ble") as link:
        result = link.check("model.tflite", x_test[:100], progress=print)

Errors are `BoardError` subclasses whose one-line message says what to do with the board.
"""
from __future__ import annotations

import math
import time
from typing import Any, Iterable

from ..boards import Board, as_board, find_ports
from ..errors import (
    BoardError,
    BoardGoneError,
    BoardNotAttachedError,
    ConfigError,
    DeviceError,
    NoAnswerError,
    ProtocolError,
)
from .device_check import TOLERANCE_STEPS, OnDeviceCheck, check_device
from .ports import DEFAULT_BAUD, open_port
from .programs import OutputCallback
from .protocol import (
    PREFIX,
    Classification,
    DeviceInfo,
    Inference,
    ReadyLine,
    answer_kind,
    cut_line,
    device_hint,
    error_text,
    line_limit,
    parse_class,
    parse_info,
    parse_ready,
    parse_result,
)
from .reporter import Progress
from .settings import (
    DRAIN_WAIT_S,
    MONITOR_SLICE_S,
    PROBE_INTERVAL_S,
    READ_SLICE_S,
    READY_TIMEOUT_S,
    REQUEST_TIMEOUT_S,
)

TEXT_LINES_KEPT = 1000  # free-text lines a link remembers (`text`) ...
TEXT_CHARS_KEPT = 1024 * 1024  # ... and the characters they may hold together: older lines go first


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
                 on_text: OutputCallback | None = None, exclusive: bool = True) -> None:
        self.port = port
        self.board = as_board(board) if board is not None else None
        self.baud = baud or (self.board.baud if self.board else DEFAULT_BAUD)
        self.timeout = float(timeout)
        self.ready_timeout = float(ready_timeout)
        self.on_text = on_text
        self.text: list[str] = []  # free-text lines seen so far (bounded: TEXT_LINES_KEPT, TEXT_CHARS_KEPT)
        self._text_chars = 0
        self.ready: ReadyLine | None = None
        self.last_cycles: int | None = None
        self._info: DeviceInfo | None = None
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer already searched for a line end
        self._dropped = 0  # bytes of the current line dropped past its limit
        # Requests that timed out: their answers may still arrive and must not be taken for the next ones'.
        self._unanswered = 0
        dtr = self.board.serial_dtr if self.board else True
        self._serial = open_port(port, self.baud, timeout=READ_SLICE_S, write_timeout=self.timeout,
                                 exclusive=exclusive, dtr=dtr)
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
    def where(self) -> str:
        """"the Arduino Nano 33 BLE Sense on /dev/ttyACM0": the board in a message."""
        return f"the {self.board.name} on {self.port}" if self.board else f"the board on {self.port}"

    @property
    def _The_board(self) -> str:  # noqa: N802 (reads as the sentence it starts)
        return self.where[0].upper() + self.where[1:]

    @property
    def board_name(self) -> str:
        """The catalogue name of the board, else the name its READY line gave ("" when unknown)."""
        return self.board.name if self.board else (self.ready.board if self.ready else "")

    def _open_serial(self) -> Any:
        if self._serial is None:
            raise BoardError(f"The link to {self.port} is closed — open a new BoardLink")
        return self._serial

    # -- lines

    def _read_line(self, deadline: float) -> str | None:
        """The next complete line (without \\r\\n), or None when the deadline passes first.

        A line longer than protocol.line_limit keeps its head and a note of the bytes dropped (protocol.cut_line):
        memory stays bounded whatever the board sends, and the link stays usable after it.
        """
        serial_port = self._open_serial()
        limit = line_limit(self._n("out"))
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                stop = end - 1 if end and self._buffer[end - 1] == ord("\r") else end
                raw = bytes(self._buffer[:min(stop, limit)])
                dropped = self._dropped + max(0, stop - limit)
                del self._buffer[:end + 1]
                self._scanned = self._dropped = 0
                text = raw.rstrip(b"\r").decode("ascii", errors="replace")
                return cut_line(text, dropped) if dropped else text
            if len(self._buffer) > limit:
                self._dropped += len(self._buffer) - limit
                del self._buffer[limit:]
            self._scanned = len(self._buffer)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                serial_port.timeout = min(remaining, READ_SLICE_S)
                chunk = serial_port.read(max(1, min(serial_port.in_waiting, limit)))
            except Exception as error:  # SerialException / OSError: the device went away
                self.close()
                raise BoardGoneError(self.where, str(error)) from None
            self._buffer += chunk

    def _remember(self, line: str) -> None:
        self.text.append(line)
        self._text_chars += len(line)
        while len(self.text) > TEXT_LINES_KEPT or (self._text_chars > TEXT_CHARS_KEPT and len(self.text) > 1):
            self._text_chars -= len(self.text.pop(0))
        if self.on_text is not None:
            self.on_text(line)

    def write_line(self, text: str) -> None:
        """Send one line (a newline is added)."""
        serial_port = self._open_serial()
        try:
            serial_port.write(text.encode("ascii") + b"\n")
            serial_port.flush()
        except Exception as error:
            import serial

            if isinstance(error, serial.SerialTimeoutException):
                raise NoAnswerError(f"{self._The_board} stopped reading (write timed out "
                                    f"after {self.timeout:g} s) — press reset and retry") from None
            self.close()
            raise BoardGoneError(self.where, str(error)) from None

    def _drain(self) -> None:
        """Lines already waiting (the application's prints, a late answer to a timed-out request) go to the log, so
        the next answer read is the answer to the next request."""
        while True:
            line = self._read_line(time.monotonic() + DRAIN_WAIT_S)
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
        next_probe = start + min(PROBE_INTERVAL_S, timeout / 4)
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            line = self._read_line(min(deadline, next_probe))
            if line is None:
                if time.monotonic() >= next_probe:
                    self.write_line("PING")
                    next_probe = time.monotonic() + min(PROBE_INTERVAL_S, timeout / 4)
                continue
            if not line.startswith(PREFIX):
                self._remember(line)
                continue
            kind = answer_kind(line)
            if kind == "READY":
                self.ready = parse_ready(line)
                return self.ready
            if kind == "PONG":
                return self.info()
            if kind == "ERROR":
                message = error_text(line)
                if message.lower().startswith("unknown command"):
                    continue  # a PING that reached the board while it was still booting
                raise DeviceError(f"{self._The_board} reports: {message} — "
                                  f"{device_hint(message)}", message)
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
            kind = answer_kind(answer)
            if self._unanswered and kind != "READY":
                self._unanswered -= 1  # the late answer to a request that timed out
                self._remember(answer)
                continue
            if kind == expect:
                return answer
            if kind == "ERROR":
                message = error_text(answer)
                raise DeviceError(f"{self._The_board} answered {word} with an error: "
                                  f"{message} — {device_hint(message)}", message)
            if kind == "READY":
                self.ready = parse_ready(answer)
                self._unanswered = 0
                raise DeviceError(f"{self._The_board} restarted while answering {word} (a "
                                  "crash: hard fault, stack overflow or watchdog) — check the arena and stack sizes, "
                                  "then retry", "restarted")
            shown = answer if len(answer) <= 120 else answer[:120] + "..."
            raise ProtocolError(f"{self._The_board} answered {word} with {shown!r}, "
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
        """Run one inference on the input tensor's raw bytes (int8 values, or little-endian float32 for a float input).

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
        """Run `samples` on the board and on the host int8 interpreter; compare outputs and report latency
        (device_check.check_device says what each argument takes)."""
        return check_device(self, tflite, samples, progress=progress, limit=limit, tolerance_steps=tolerance_steps)

    # -- monitor

    def monitor(self, lines: int | None = None, seconds: float | None = None,
                on_line: OutputCallback | None = None) -> list[str]:
        """Read lines as they come: stops after `lines` lines or `seconds` seconds (whichever first), or when
        interrupted (Kernel > Interrupt) if neither is given. Returns the lines; on_line sees each as it arrives."""
        received: list[str] = []
        end = math.inf if seconds is None else time.monotonic() + float(seconds)
        try:
            while lines is None or len(received) < lines:
                now = time.monotonic()
                if now >= end:
                    break
                line = self._read_line(min(end, now + MONITOR_SLICE_S))
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
        raise BoardNotAttachedError(wanted.name)
    if len(found) > 1:
        names = ", ".join(entry.port for entry in found)
        raise ConfigError(f"Several boards could be the {wanted.name} ({names}): pass port= to pick one.")
    return BoardLink(found[0].port, board=wanted, **options)


__all__ = ["BoardLink", "connect"]
