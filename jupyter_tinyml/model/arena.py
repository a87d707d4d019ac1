"""The tensor arena a .tflite needs: measured by running TFLite Micro's own Python runtime on it, plus the scratch
that optimized Cortex-M kernels add; and which ops that runtime has kernels for (how data/tflm_ops.txt is made).

The runtime runs in a child process: it crashes the process (segmentation fault) on some too-small arenas, and a
notebook kernel must survive the search. The model is read through `tflite.read`; neither TensorFlow nor the
runtime is imported here at module level.
"""
from __future__ import annotations

import hashlib
import math
import os
import queue
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import QuantizationError
from .tflite import DTYPE_BYTES, Graph, TFLite, builtin_op_names, element_count, model_bytes, probe_model, read

# One run of the model in the child process; a tiny CNN takes milliseconds, so this only stops a hang.
TRY_TIMEOUT_S = 120.0
# The search gives up past this (a microcontroller has at most a few MiB of RAM).
ARENA_CEILING = 1 << 30
# TFLite Micro aligns every arena allocation to 16 bytes (MicroArenaBufferAlignment) on every target, so the
# search stops at that step and the firmware should declare the arena `alignas(16)`.
ARENA_ALIGNMENT = 16
# How long one probe of the runtime's op list may take (an empty two-op model).
PROBE_TIMEOUT_S = 30.0


def round_up(value: float, step: int = ARENA_ALIGNMENT) -> int:
    """`value` rounded up to a multiple of `step` (16 bytes, the arena's alignment, by default)."""
    return int(math.ceil(value / step)) * step


# ---------------------------------------------------------------------------- optimized kernel scratch


def kernel_scratch_bytes(graph: Graph) -> int:
    """Arena bytes that CMSIS-NN kernels ask for beyond the reference kernels the host runtime runs, on a
    Cortex-M with the DSP extension (M4, M7, M33): an estimate from the model's shapes, used in the margin.

    CONV_2D takes an im2col buffer of two int16 columns, 2 * 2 * align4(C_in * K_h * K_w) bytes
    (arm_convolve_s8_get_buffer_size); DEPTHWISE_CONV_2D C_in * K_h * K_w int16
    (arm_depthwise_conv_s8_opt_get_buffer_size; counted even for the 3x3 case that needs none);
    AVERAGE_POOL_2D C int32 (arm_avgpool_s8_get_buffer_size). Each is a scratch buffer that lives only while
    its op runs, so the largest one counts. Cores without DSP (Cortex-M0+) need none of these.
    Not covered: Helium cores (Cortex-M55/M85), whose CMSIS-NN also keeps kernel sums, and ESP-NN on the
    ESP32-S3, which copies the padded input and the filter into scratch and can need several times more.
    """
    largest = 0
    for subgraph in graph.subgraphs:
        def shape(inputs: tuple[int, ...], position: int) -> tuple[int, ...]:
            if position >= len(inputs) or inputs[position] < 0:
                return ()
            return subgraph.tensors[inputs[position]].shape

        for operator in subgraph.operators:
            if operator.custom:
                continue
            data, weights = shape(operator.inputs, 0), shape(operator.inputs, 1)
            if operator.name == "CONV_2D" and len(data) == 4 and len(weights) == 4:
                largest = max(largest, 4 * round_up(data[3] * weights[1] * weights[2], 4))
            elif operator.name == "DEPTHWISE_CONV_2D" and len(data) == 4 and len(weights) == 4:
                largest = max(largest, 2 * data[3] * weights[1] * weights[2])
            elif operator.name == "AVERAGE_POOL_2D" and len(data) == 4:
                largest = max(largest, 4 * data[3])
    return round_up(largest)


# ----------------------------------------------------------------------------------- the arena search


def _worker_main() -> None:
    """Runs in the child process: answers arena tries for the model it was last sent (see `_RuntimeWorker`).

    Requests on stdin, one line each: `model <length> <inputs>` followed by the raw bytes; `try <arena>`;
    `record <arena>`. Answers on stdout, one line each: `ready`; `ok [<recorded total>]`, `alloc <message>`
    (the interpreter could not be built, e.g. the arena is too small), `invoke <message>` or `crash <message>`.
    TFLite Micro prints its reasons to stderr; they are read back from a temporary file so the answer can carry
    them. Where the OS can fork, each try runs in a forked copy, so a crash of the runtime costs milliseconds
    instead of a new process.
    """
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    log = tempfile.TemporaryFile()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    import numpy as np
    from tflite_micro.python.tflite_micro import runtime

    def printed_since(start: int) -> str:
        log.seek(start)
        text = log.read().decode("utf-8", "replace")
        log.seek(0, 2)
        return " | ".join(line.strip() for line in text.splitlines() if line.strip())[:400]

    def run(command: str, arena: int, model: bytes, n_inputs: int) -> str:
        start = log.seek(0, 2)
        try:
            interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena)
        except Exception as error:
            return f"alloc {printed_since(start) or error}"
        try:
            for index in range(n_inputs):
                # Zeros, not whatever the arena held: an index or a shape input must be valid to run.
                details = interpreter.get_input_details(index)
                interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), index)
            interpreter.invoke()
        except Exception as error:
            return f"invoke {printed_since(start) or error} ({error})"
        recorded = ""
        if command == "record":
            start = log.seek(0, 2)
            interpreter.print_allocations()
            for text in printed_since(start).split(" | "):
                if "Arena allocation total" in text:
                    recorded = " " + text.split("total")[1].split()[0]
        return f"ok{recorded}"

    def run_forked(command: str, arena: int, model: bytes, n_inputs: int) -> str:
        start = log.seek(0, 2)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copy: one try, its answer into the pipe, and out without any cleanup
            os.close(read_end)
            try:
                answer = run(command, arena, model, n_inputs)
            except BaseException as error:
                answer = f"alloc {error}"
            os.write(write_end, answer.encode("utf-8", "replace"))
            os._exit(0)
        os.close(write_end)
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        answer = b"".join(chunks).decode("utf-8", "replace")
        if not answer:
            signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            answer = f"crash the TFLite Micro runtime crashed (signal {signal}): {printed_since(start)}"
        return answer

    requests = sys.stdin.buffer
    model, n_inputs = b"", 0
    while True:
        line = requests.readline()
        if not line:
            return
        command, *args = line.decode().split()
        if command == "model":
            model, n_inputs = requests.read(int(args[0])), int(args[1])
            answers.write("ready\n")
            continue
        answer = (run_forked if hasattr(os, "fork") else run)(command, int(args[0]), model, n_inputs)
        answers.write(answer.replace("\n", " ") + "\n")


class _RuntimeWorker:
    """A child Python process that runs TFLite Micro for us; restarted when the runtime crashes it."""

    def __init__(self, timeout: float = TRY_TIMEOUT_S) -> None:
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.model = b""
        self.n_inputs = 0
        self.crashes = 0

    def _start(self) -> None:
        package_parent = str(Path(__file__).resolve().parents[2])
        code = (f"import sys; sys.path.insert(0, {package_parent!r}); "
                "from jupyter_tinyml.model.arena import _worker_main; _worker_main()")
        self.process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lines = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None
        lines = self.lines

        def read() -> None:
            for line in iter(stdout.readline, b""):
                lines.put(line)
            lines.put(b"")  # the child is gone

        # A reader thread, so that waiting for an answer can time out on every platform.
        threading.Thread(target=read, daemon=True).start()
        self._send(f"model {len(self.model)} {self.n_inputs}\n".encode() + self.model)
        if self._answer() != "ready":
            raise QuantizationError("the TFLite Micro runtime did not start in a child process — "
                                    "check that `python -c 'import tflite_micro'` works in this environment")

    def _send(self, data: bytes) -> None:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the child died; _answer reads the end of its output and reports it

    def _answer(self) -> str:
        try:
            line = self.lines.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise QuantizationError(f"TFLite Micro ran the model for more than {self.timeout:.0f} s in one try — "
                                    "the model is too large to measure here; try a smaller model") from None
        return line.decode("utf-8", "replace").strip()

    def load(self, model: bytes, n_inputs: int) -> None:
        self.model, self.n_inputs = model, n_inputs
        if self.process is None:
            self._start()
            return
        self._send(f"model {len(model)} {n_inputs}\n".encode() + model)
        if self._answer() != "ready":  # the child had died: start afresh with this model
            self.close()
            self._start()

    def ask(self, command: str, arena: int) -> str:
        """`ok [...]`, `alloc ...`, `invoke ...`, or `crash` when the runtime killed the child (then restarted)."""
        if self.process is None:
            self._start()
        self._send(f"{command} {arena}\n".encode())
        answer = self._answer()
        if answer:
            return answer
        self.crashes += 1
        self.close()
        self._start()
        return "crash the TFLite Micro runtime crashed (segmentation fault)"

    def close(self) -> None:
        if self.process is not None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None


@dataclass(frozen=True)
class ArenaSearch:
    """What the search found: the smallest working arena (None when nothing ran), TFLite Micro's recorded total
    for the working run, why nothing was measured, and how many arenas it tried."""

    measured: int | None
    recorded: int | None
    error: str | None
    tries: int


_ARENA_CACHE: dict[str, ArenaSearch] = {}


def _first_guess(graph: Graph) -> int:
    """An arena that is very likely big enough, so the search rarely starts in the crash-prone small sizes:
    every non-constant tensor of the main subgraph side by side, plus room for TFLite Micro's structs."""
    total = 0
    for tensor in graph.tensors:
        if tensor.data is not None:
            continue  # a constant: read from flash, not copied into the arena
        total += round_up(element_count(tensor.shape) * DTYPE_BYTES.get(tensor.dtype, 8)) + 128
    return max(4096, round_up(total + 256 * len(graph.operators) + 2048, 1024))


def _search(data: bytes, graph: Graph, worker: _RuntimeWorker) -> ArenaSearch:
    worker.load(data, len(graph.input_indices))
    tries = 0

    def attempt(arena: int, command: str = "try") -> str:
        nonlocal tries
        tries += 1
        return worker.ask(command, arena)

    # 1. Grow until one arena allocates and invokes.
    low, high = 0, _first_guess(graph)  # `low` always fails (0 trivially), `high` is the candidate
    # The guess already holds every activation side by side; far beyond it, a failure is not about the arena.
    ceiling = min(ARENA_CEILING, high * 64)
    answer = attempt(high, "record")
    invoke_failures = 0
    while not answer.startswith("ok"):
        if answer.startswith("invoke"):
            invoke_failures += 1
            # Allocation succeeded, so the arena was big enough to plan; a second invoke failure at 4x the size
            # is not about the arena.
            if invoke_failures >= 2:
                return ArenaSearch(None, None, f"TFLite Micro cannot run this model: {answer[7:]}", tries)
        if high >= ceiling:
            return ArenaSearch(None, None, f"TFLite Micro cannot run this model even with a {high:,}-byte arena: "
                                           f"{answer.partition(' ')[2]}", tries)
        low, high = high, high * (4 if answer.startswith("invoke") else 2)
        answer = attempt(high, "record")
    recorded = int(answer.split()[1]) if len(answer.split()) > 1 else None

    # 2. Bracket the recorded total: the smallest working arena is usually within a few bytes of it.
    if recorded is not None:
        for candidate in (round_up(recorded) - ARENA_ALIGNMENT, round_up(recorded)):
            if low < candidate < high:
                if attempt(candidate).startswith("ok"):
                    high = candidate
                else:
                    low = candidate

    # 3. Bisect on multiples of 16 bytes.
    while high - low > ARENA_ALIGNMENT:
        middle = (low + high) // 2 // ARENA_ALIGNMENT * ARENA_ALIGNMENT
        if middle <= low:
            middle = low + ARENA_ALIGNMENT
        if attempt(middle).startswith("ok"):
            high = middle
        else:
            low = middle
    # The recorded total is what the allocator held after a successful run; below it the same allocator can only
    # have fitted through alignment slack, so the larger figure is the one to trust.
    measured = max(high, round_up(recorded)) if recorded is not None else high
    return ArenaSearch(measured, recorded, None, tries)


def search_arena(content: bytes) -> ArenaSearch:
    """The arena search for the model in `content` (see measure_arena), never raising for a model TFLite Micro
    cannot run: then `measured` is None and `error` says why. Cached by the SHA-256 of the bytes."""
    key = hashlib.sha256(content).hexdigest()
    if key not in _ARENA_CACHE:
        graph = read(content)
        missing = graph.unsupported_ops
        if missing:
            return ArenaSearch(None, None, f"TFLite Micro has no kernel for {', '.join(missing)}", 0)
        worker = _RuntimeWorker()
        try:
            _ARENA_CACHE[key] = _search(content, graph, worker)
        finally:
            worker.close()
    return _ARENA_CACHE[key]


def measure_arena(tflite: TFLite) -> int:
    """The smallest tensor arena, in bytes and a multiple of 16, with which TFLite Micro's runtime builds the
    interpreter (AllocateTensors) and invokes the model once.

    Found by trying arenas in a child process (the runtime can crash on a too-small one): first a generous
    guess from the tensor sizes, doubled until it works, then a bisection to 16 bytes, started next to the total
    that TFLite Micro's RecordingMicroAllocator reports for the working run. The result is never below that
    recorded total. Cached by the SHA-256 of the bytes. Raises QuantizationError when the model uses an op
    TFLite Micro lacks or cannot run at all.
    """
    data = model_bytes(tflite)
    arena = search_arena(data)
    if arena.measured is None:
        advice = ("replace those layers with ones TFLite Micro supports and convert again" if read(data).unsupported_ops
                  else "this model does not run in TFLite Micro as converted; try converting it again with int8 "
                       "builtin ops only (TFLITE_BUILTINS_INT8)")
        raise QuantizationError(f"the tensor arena cannot be measured: {arena.error} — {advice}")
    return arena.measured


# ------------------------------------------------------------------------- regenerating data/tflm_ops.txt


def probe_tflm_ops(custom_candidates: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(builtin names, custom names) that the installed TFLite Micro runtime has kernels for, found by asking it.

    Every name of the BuiltinOperator enum is tried; custom names only from `custom_candidates`. This is how
    data/tflm_ops.txt was made: the runtime's resolver registers every op through MicroMutableOpResolver's
    Add* methods, so the list is what `MicroMutableOpResolver::AddXxx()` offers in that TFLite Micro version.
    Each probe is a model whose operators are the candidate then a sentinel the runtime lacks: TFLite Micro looks
    up every operator's kernel before it prepares any, so the lookup error names the candidate if it is missing
    and the sentinel if it is not, and nothing ever runs on the empty tensors.
    """
    builtins = [name for name in builtin_op_names()
                if name not in ("CUSTOM", "PLACEHOLDER_FOR_GREATER_OP_CODES", "DELEGATE")]
    worker = _RuntimeWorker(timeout=PROBE_TIMEOUT_S)

    def failing_op(model: bytes) -> str:
        worker.load(model, 0)
        answer = worker.ask("try", 1 << 16)
        # TFLite Micro says "Failed to get registration from op code NAME" (CUSTOM for any custom op).
        return answer.partition("registration from op code ")[2].split(" ")[0].strip("'|")

    try:
        supported = [name for name in builtins
                     if failing_op(probe_model(name, False, "TINYML_PROBE_SENTINEL", True)) == "CUSTOM"]
        missing = [name for name in builtins if name not in supported]
        custom: list[str] = []
        if custom_candidates and missing:
            custom = [name for name in custom_candidates
                      if failing_op(probe_model(name, True, missing[0], False)) == missing[0]]
    finally:
        worker.close()
    return supported, custom
