"""A pretend board on a pseudo-terminal, speaking firmware/PROTOCOL.md with the host int8 interpreter.

    python tests/device_peer.py --model model.tflite [options]

It opens a pty, prints the slave's path (e.g. /dev/pts/3) as its first stdout line, and serves until its stdin
closes. Like a board that resets when the port opens, it says READY each time a program opens the slave side
(after a short "boot"). Options make it misbehave, for the error tests:

  --ready never      booted before the port opened: no READY, but answers PING/INFO/INFER
  --silent           says nothing, answers nothing (a board without the firmware, or hung)
  --error MESSAGE    allocation failed: `TINYML ERROR MESSAGE` instead of READY and as every answer
  --garbage          answers INFER with a malformed RESULT line
  --noise            free-text lines and non-ASCII bytes around every answer (the application's own prints)
  --delay S          waits S seconds before every answer
  --perturb          adds one step to one non-top output value (what rounding differences look like)
  --flip-every K     every K-th INFER answers with another top class
  --restart-after N  "crashes" after N INFERs: prints READY again instead of answering
  --us N             reports N microseconds per inference instead of the measured time
"""
from __future__ import annotations

import argparse
import os
import select
import sys
import time
import tty
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from jupyter_tinyml.model import tflite as tflite_model  # noqa: E402

BOOT_S = 0.15  # after the host opens the port, and after pyserial flushed its input, the "board" says READY


class Peer:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        content = Path(options.model).read_bytes()
        # A board computes what TFLite's reference kernels compute (TFLite Micro's are the same).
        self.interpreter = Interpreter(model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.n_in = int(np.prod(self.input["shape"][1:])) * np.dtype(self.input["dtype"]).itemsize
        self.n_out = int(np.prod(self.output["shape"][1:])) * np.dtype(self.output["dtype"]).itemsize
        self.ops = ",".join(op.name for op in tflite_model.read(content).ops)
        self.name = Path(options.model).stem
        self.labels = options.labels.split(",") if options.labels else []
        self.infers = 0
        self.master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: bytes pass as a USB CDC port passes them
        self.path = os.ttyname(slave)
        # Closing our slave descriptor lets poll() report HUP while no program has the port open.
        os.close(slave)
        self.buffer = b""

    # -- output

    def send(self, text: str | bytes) -> None:
        data = text if isinstance(text, bytes) else text.encode("ascii")
        try:
            os.write(self.master, data + b"\r\n")
        except OSError:
            pass  # the host closed the port meanwhile

    def noise(self) -> None:
        if self.options.noise:
            self.send("debug: sensor idle")
            self.send(b"\xff\xfe boot log \x80")

    def ready(self) -> None:
        if self.options.silent:
            return
        self.noise()
        if self.options.error:
            self.send(f"TINYML ERROR {self.options.error}")
        elif self.options.ready == "on-open":
            self.send(f"TINYML READY v1 model={self.name} in={self.n_in} out={self.n_out} arena=4096 "
                      f"board={self.options.board}")

    # -- requests

    def answer(self, line: str) -> None:
        if self.options.silent:
            return
        if self.options.delay:
            time.sleep(self.options.delay)
        self.noise()
        if self.options.error:
            self.send(f"TINYML ERROR {self.options.error}")
            return
        word, _, argument = line.strip().partition(" ")
        if word == "PING":
            self.send("TINYML PONG")
        elif word == "INFO":
            in_scale, in_zero = self.input["quantization"]
            out_scale, out_zero = self.output["quantization"]
            self.send(f"TINYML INFO model={self.name} in={self.n_in} out={self.n_out} in_scale={in_scale:.9g} "
                      f"in_zero={in_zero} out_scale={out_scale:.9g} out_zero={out_zero} arena=4096 ops={self.ops}")
        elif word in ("INFER", "CLASSIFY"):
            self.infer(word, argument.strip())
        else:
            self.send(f"TINYML ERROR unknown command {word}")

    def infer(self, word: str, hex_text: str) -> None:
        try:
            data = bytes.fromhex(hex_text)
        except ValueError:
            self.send("TINYML ERROR input is not hex")
            return
        if len(data) != self.n_in:
            self.send(f"TINYML ERROR expected {self.n_in} bytes, got {len(data)}")
            return
        self.infers += 1
        if self.options.restart_after and self.infers > self.options.restart_after:
            self.infers = 0
            self.ready()
            return
        sample = np.frombuffer(data, self.input["dtype"]).reshape(self.input["shape"])
        start = time.perf_counter_ns()
        self.interpreter.set_tensor(self.input["index"], sample)
        self.interpreter.invoke()
        us = max(1, (time.perf_counter_ns() - start) // 1000)
        output = self.interpreter.get_tensor(self.output["index"]).reshape(-1).copy()
        limits = np.iinfo(output.dtype)
        if self.options.perturb and len(output) > 1:
            low = int(output.argmin())
            output[low] = min(int(output[low]) + 1, limits.max)
        if self.options.flip_every and self.infers % self.options.flip_every == 0 and len(output) > 1:
            top, low = int(output.argmax()), int(output.argmin())
            output[top], output[low] = output[low], output[top]
        if word == "CLASSIFY":
            index = int(output.argmax())
            scale, zero = self.output["quantization"]
            score = min(1.0, max(0.0, (int(output[index]) - zero) * scale))
            label = self.labels[index] if index < len(self.labels) else f"class{index}"
            self.send(f"TINYML CLASS {index} {label} {score:.4f}")
        elif self.options.garbage:
            self.send("TINYML RESULT zz9 us=soon")
        else:
            reported = self.options.us if self.options.us is not None else us
            self.send(f"TINYML RESULT {output.tobytes().hex()} us={reported} cycles={reported * 64}")

    # -- the loop

    def serve(self) -> None:
        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        poller.register(sys.stdin.fileno(), select.POLLIN)
        connected = False
        while True:
            ready = dict(poller.poll(20))
            if sys.stdin.fileno() in ready and not os.read(sys.stdin.fileno(), 1024):
                return  # the test closed our stdin: power off
            events = ready.get(self.master, 0)
            if events & select.POLLHUP:
                # Nobody has the port open (poll keeps saying so: do not spin). The next open is a power-on.
                connected, self.buffer = False, b""
                time.sleep(0.01)
                continue
            if not connected:
                connected = True
                self.boot()
            if events & select.POLLIN:
                try:
                    self.buffer += os.read(self.master, 65536)
                except OSError:
                    continue
                while b"\n" in self.buffer:
                    line, self.buffer = self.buffer.split(b"\n", 1)
                    self.answer(line.rstrip(b"\r").decode("ascii", "replace"))

    def boot(self) -> None:
        time.sleep(BOOT_S)
        self.ready()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--labels", default="")
    parser.add_argument("--board", default="peer")
    parser.add_argument("--ready", choices=["on-open", "never"], default="on-open")
    parser.add_argument("--silent", action="store_true")
    parser.add_argument("--error", default="")
    parser.add_argument("--garbage", action="store_true")
    parser.add_argument("--noise", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--perturb", action="store_true")
    parser.add_argument("--flip-every", type=int, default=0)
    parser.add_argument("--restart-after", type=int, default=0)
    parser.add_argument("--us", type=int, default=None)
    peer = Peer(parser.parse_args())
    print(peer.path, flush=True)
    peer.serve()


if __name__ == "__main__":
    main()
