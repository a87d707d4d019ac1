"""Reads a .tflite: ops, tensors, quantization parameters, sizes, and the TFLite Micro arena it needs.

Exact parts are pure functions of the model bytes: the firmware, the widgets and the magics all use them.
The flatbuffer is read with the schema module that ships in `tflite_micro`; the arena is measured by running
the model in TFLite Micro's own Python runtime, in a child process, because that runtime crashes the process
(segmentation fault) on some too-small arenas and a notebook kernel must survive the search. Neither
TensorFlow nor the runtime is imported at module level: `import jupyter_tinyml` stays fast.
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
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any, Union

from .errors import QuantizationError

TFLite = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]

FILE_IDENTIFIER = b"TFL3"
# TFLite Micro aligns every arena allocation to 16 bytes (MicroArenaBufferAlignment) on every target, so the
# search stops at that step and the firmware should declare the arena `alignas(16)`.
ARENA_ALIGNMENT = 16
# Defaults of the stated margin; `inspect` explains them.
MARGIN_FRACTION = 0.10
MARGIN_BYTES = 1024
# One run of the model in the child process; a tiny CNN takes milliseconds, so this only stops a hang.
TRY_TIMEOUT_S = 120.0
# The search gives up past this (a microcontroller has at most a few MiB of RAM).
ARENA_CEILING = 1 << 30

_DATA = Path(__file__).parent / "data"


@dataclass
class OpInfo:
    """One operator kind the model uses: builtin name (e.g. "CONV_2D"), its version, how many times it occurs."""

    name: str
    version: int
    count: int
    supported_by_tflm: bool = True


@dataclass
class TensorInfo:
    """A model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "float32", ...
    scale: float | None = None  # None when not quantized
    zero_point: int | None = None


@dataclass
class ModelInspection:
    """What `inspect` found. `arena_bytes` = measured + margin (what firmware should allocate).

    arena_* are None when the arena could not be measured; `unsupported_ops` names the ops TFLite Micro lacks
    and `arena_error` says in one line why nothing was measured. `kernel_scratch_bytes` is the part of the
    margin reserved for optimized Cortex-M kernels (CMSIS-NN); `arena_recorded_bytes` is what TFLite Micro's
    RecordingMicroAllocator reported for the same run (a cross-check of the search).
    """

    ops: list[OpInfo]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    flash_bytes: int
    arena_measured_bytes: int | None
    arena_margin_bytes: int | None
    arena_bytes: int | None
    unsupported_ops: list[str] = field(default_factory=list)
    arena_error: str | None = None
    arena_recorded_bytes: int | None = None
    kernel_scratch_bytes: int = 0

    def __str__(self) -> str:
        return describe(self)

    def _repr_html_(self) -> str:
        return describe_html(self)


# ------------------------------------------------------------------------------------------- reading


def model_bytes(tflite: TFLite) -> bytes:
    """The flatbuffer's bytes, from bytes or from a path; anything that is not a TFLite model is refused."""
    if isinstance(tflite, (bytes, bytearray, memoryview)):
        data, name = bytes(tflite), f"the given {len(tflite)} bytes"
    elif isinstance(tflite, (str, os.PathLike)):
        path = Path(tflite)
        name = str(path)
        if not path.is_file():
            raise QuantizationError(f"{name} is not a TFLite flatbuffer (no such file) — "
                                    "check the path, or pass the bytes that convert() returned")
        data = path.read_bytes()
    else:
        raise QuantizationError(f"a {type(tflite).__name__} is not a TFLite flatbuffer (expected bytes or a path) — "
                                "pass the bytes that convert() returned or the path of a .tflite file")
    if data[4:8] != FILE_IDENTIFIER:
        found = "it is shorter than 8 bytes" if len(data) < 8 else f"bytes 4:8 are {data[4:8]!r}, not b'TFL3'"
        raise QuantizationError(f"{name} is not a TFLite flatbuffer ({found}) — "
                                "pass the bytes that convert() returned or a .tflite file")
    return data


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


@lru_cache(maxsize=None)
def _enum_names(enum: str) -> dict[int, str]:
    cls = getattr(_schema(), enum)
    return {value: name for name, value in vars(cls).items() if not name.startswith("_") and isinstance(value, int)}


def _root(data: bytes) -> Any:
    schema = _schema()
    try:
        model = schema.Model.GetRootAs(data, 0)
        if model.SubgraphsLength() < 1:
            raise ValueError("no subgraph")
    except Exception as error:  # a truncated or corrupt flatbuffer fails in many ways
        raise QuantizationError(f"the TFLite flatbuffer cannot be read ({error}) — "
                                "convert the model again; the file may be truncated") from None
    return model


def _opcode_name(opcode: Any) -> tuple[str, bool]:
    """(name, is_custom). TFLite reads the larger of the two code fields: codes above 127 live only in the new
    `builtin_code` field (the old int8 field holds 127), and old files only set the deprecated one."""
    code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
    if code == _schema().BuiltinOperator.CUSTOM:
        custom = opcode.CustomCode()
        return (custom.decode("utf-8", "replace") if custom else "CUSTOM"), True
    return _enum_names("BuiltinOperator").get(code, f"BUILTIN_{code}"), False


def ops(tflite: TFLite) -> list[OpInfo]:
    """The operator kinds the model's subgraphs use, with version and count, sorted by name.

    Builtin ops are named as in TFLite's BuiltinOperator enum ("CONV_2D"), custom ops by their custom code.
    A kind listed in the file's operator codes but used by no operator is left out.
    """
    model = _root(model_bytes(tflite))
    counts: dict[int, int] = {}
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            index = subgraph.Operators(o).OpcodeIndex()
            counts[index] = counts.get(index, 0) + 1
    found: dict[tuple[str, int], OpInfo] = {}
    for index, count in counts.items():
        opcode = model.OperatorCodes(index)
        name, custom = _opcode_name(opcode)
        supported = name in (tflm_custom_ops() if custom else tflm_builtin_ops())
        key = (name, opcode.Version())
        if key in found:  # two opcode entries for the same kind and version: count them as one
            found[key].count += count
        else:
            found[key] = OpInfo(name, opcode.Version(), count, supported)
    return sorted(found.values(), key=lambda op: (op.name, op.version))


def _tensor_info(tensor: Any) -> TensorInfo:
    quantization = tensor.Quantization()
    scale = zero_point = None
    # Per-tensor parameters only: a per-axis quantized input or output (not seen from TFLiteConverter) stays None.
    if quantization is not None and quantization.ScaleLength() == 1:
        scale = float(quantization.Scale(0))
        zero_point = int(quantization.ZeroPoint(0)) if quantization.ZeroPointLength() else 0
    dtype = _enum_names("TensorType").get(tensor.Type(), f"type{tensor.Type()}").lower()
    name = tensor.Name().decode("utf-8", "replace") if tensor.Name() else ""
    return TensorInfo(name, tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else (),
                      dtype, scale, zero_point)


def inputs(tflite: TFLite) -> list[TensorInfo]:
    """The main subgraph's inputs, in the order the interpreter numbers them."""
    subgraph = _root(model_bytes(tflite)).Subgraphs(0)
    return [_tensor_info(subgraph.Tensors(subgraph.Inputs(i))) for i in range(subgraph.InputsLength())]


def outputs(tflite: TFLite) -> list[TensorInfo]:
    """The main subgraph's outputs, in the order the interpreter numbers them."""
    subgraph = _root(model_bytes(tflite)).Subgraphs(0)
    return [_tensor_info(subgraph.Tensors(subgraph.Outputs(i))) for i in range(subgraph.OutputsLength())]


# ------------------------------------------------------------------------------ TFLite Micro support


def _read_names(filename: str) -> frozenset[str]:
    lines = (_DATA / filename).read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


@lru_cache(maxsize=None)
def tflm_builtin_ops() -> frozenset[str]:
    """Builtin op names TFLite Micro has kernels for (data/tflm_ops.txt; `probe_tflm_ops` regenerates it)."""
    return _read_names("tflm_ops.txt")


@lru_cache(maxsize=None)
def tflm_custom_ops() -> frozenset[str]:
    """Custom op names TFLite Micro registers itself (data/tflm_custom_ops.txt), e.g. TFLite_Detection_PostProcess."""
    return _read_names("tflm_custom_ops.txt")


def unsupported_ops(tflite: TFLite) -> list[str]:
    """Names of the ops the model uses that TFLite Micro has no kernel for (builtin or custom), sorted."""
    return sorted({op.name for op in ops(tflite) if not op.supported_by_tflm})


# ---------------------------------------------------------------------------- optimized kernel scratch


def _round_up(value: float, step: int = ARENA_ALIGNMENT) -> int:
    return int(math.ceil(value / step)) * step


def kernel_scratch_bytes(tflite: TFLite) -> int:
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
    model = _root(model_bytes(tflite))
    builtin = _schema().BuiltinOperator
    largest = 0
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)

        def shape(operator: Any, position: int) -> tuple[int, ...]:
            if position >= operator.InputsLength() or operator.Inputs(position) < 0:
                return ()
            tensor = subgraph.Tensors(operator.Inputs(position))
            return tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()

        for o in range(subgraph.OperatorsLength()):
            operator = subgraph.Operators(o)
            opcode = model.OperatorCodes(operator.OpcodeIndex())
            code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
            data, weights = shape(operator, 0), shape(operator, 1)
            if code == builtin.CONV_2D and len(data) == 4 and len(weights) == 4:
                largest = max(largest, 4 * _round_up(data[3] * weights[1] * weights[2], 4))
            elif code == builtin.DEPTHWISE_CONV_2D and len(data) == 4 and len(weights) == 4:
                largest = max(largest, 2 * data[3] * weights[1] * weights[2])
            elif code == builtin.AVERAGE_POOL_2D and len(data) == 4:
                largest = max(largest, 4 * data[3])
    return _round_up(largest)


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
        package_parent = str(Path(__file__).resolve().parent.parent)
        code = (f"import sys; sys.path.insert(0, {package_parent!r}); "
                "from jupyter_tinyml.tflite_model import _worker_main; _worker_main()")
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
class _Arena:
    measured: int | None
    recorded: int | None
    error: str | None
    tries: int


_ARENA_CACHE: dict[str, _Arena] = {}


def _first_guess(model: Any) -> int:
    """An arena that is very likely big enough, so the search rarely starts in the crash-prone small sizes:
    every non-constant tensor of the main subgraph side by side, plus room for TFLite Micro's structs."""
    subgraph = model.Subgraphs(0)
    width = {"int8": 1, "uint8": 1, "bool": 1, "int16": 2, "float16": 2, "int32": 4, "float32": 4}
    total = 0
    for t in range(subgraph.TensorsLength()):
        tensor = subgraph.Tensors(t)
        buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() < model.BuffersLength() else None
        if buffer is not None and buffer.DataLength() > 0:
            continue  # a constant: read from flash, not copied into the arena
        elements = math.prod(max(int(d), 1) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else 1
        dtype = _enum_names("TensorType").get(tensor.Type(), "").lower()
        total += _round_up(elements * width.get(dtype, 8)) + 128
    return max(4096, _round_up(total + 256 * subgraph.OperatorsLength() + 2048, 1024))


def _search(data: bytes, worker: _RuntimeWorker) -> _Arena:
    model = _root(data)
    worker.load(data, model.Subgraphs(0).InputsLength())
    tries = 0

    def attempt(arena: int, command: str = "try") -> str:
        nonlocal tries
        tries += 1
        return worker.ask(command, arena)

    # 1. Grow until one arena allocates and invokes.
    low, high = 0, _first_guess(model)  # `low` always fails (0 trivially), `high` is the candidate
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
                return _Arena(None, None, f"TFLite Micro cannot run this model: {answer[7:]}", tries)
        if high >= ceiling:
            return _Arena(None, None, f"TFLite Micro cannot run this model even with a {high:,}-byte arena: "
                                      f"{answer.partition(' ')[2]}", tries)
        low, high = high, high * (4 if answer.startswith("invoke") else 2)
        answer = attempt(high, "record")
    recorded = int(answer.split()[1]) if len(answer.split()) > 1 else None

    # 2. Bracket the recorded total: the smallest working arena is usually within a few bytes of it.
    if recorded is not None:
        for candidate in (_round_up(recorded) - ARENA_ALIGNMENT, _round_up(recorded)):
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
    measured = max(high, _round_up(recorded)) if recorded is not None else high
    return _Arena(measured, recorded, None, tries)


def _arena(data: bytes) -> _Arena:
    key = hashlib.sha256(data).hexdigest()
    if key not in _ARENA_CACHE:
        missing = unsupported_ops(data)
        if missing:
            return _Arena(None, None, f"TFLite Micro has no kernel for {', '.join(missing)}", 0)
        worker = _RuntimeWorker()
        try:
            _ARENA_CACHE[key] = _search(data, worker)
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
    arena = _arena(data)
    if arena.measured is None:
        advice = ("replace those layers with ones TFLite Micro supports and convert again" if unsupported_ops(data)
                  else "this model does not run in TFLite Micro as converted; try converting it again with int8 "
                       "builtin ops only (TFLITE_BUILTINS_INT8)")
        raise QuantizationError(f"the tensor arena cannot be measured: {arena.error} — {advice}")
    return arena.measured


# ------------------------------------------------------------------------------------------- inspect


def inspect(tflite: TFLite, *, margin_fraction: float = MARGIN_FRACTION,
            margin_bytes: int = MARGIN_BYTES) -> ModelInspection:
    """Everything the firmware needs from a .tflite: ops, inputs, outputs, flash and the tensor arena.

    flash_bytes is the model's size: the flatbuffer is stored in flash as it is.
    arena_bytes = arena_measured_bytes + arena_margin_bytes, where the margin is
    `margin_fraction * measured + margin_bytes + kernel_scratch_bytes(model)`, rounded up to 16 bytes.

    Why this margin. The measurement runs TFLite Micro's reference kernels on a 64-bit host:
    - The arena's head (the activation tensors, laid out by the same greedy planner) is the same size on
      every target, because tensor sizes do not depend on the CPU.
    - The tail (TfLiteEvalTensor, TfLiteTensor and node structs, kernels' persistent data) holds pointers and
      size_t, 8 bytes on the host and 4 on a Cortex-M, and the host run also carries the
      RecordingMicroAllocator's own bookkeeping; so the host figure is an upper bound for those parts.
      TFLite Micro's own memory_arena_threshold_test records its figures on x86-64 and only checks that a
      32-bit target does not exceed them by more than 3%.
    - What the host cannot see: optimized kernels on the board request scratch buffers the reference kernels
      do not (CMSIS-NN's im2col buffer for CONV_2D, ...); for Cortex-M4/M7/M33 that part is estimated from the
      model's shapes by `kernel_scratch_bytes` and added in full. ESP-NN on an ESP32-S3 can ask for more
      than this margin holds (it copies padded inputs and filters); there, check the board's own
      `interpreter.arena_used_bytes()`.
    - The rest is judgement, not measurement: 10% covers a board library built from an older or newer
      TFLite Micro than the host runtime (per-op persistent data and planner details change between releases;
      TFLite Micro itself tolerates 3% drift between commits), and 1 KiB covers a tiny model's fixed costs
      and an arena that is not declared `alignas(16)` (up to 15 bytes lost to alignment).
    Pass margin_fraction=0, margin_bytes=0 to see the bare measurement plus the kernel estimate.

    When the model uses an op TFLite Micro lacks, nothing is run: arena_* are None, `unsupported_ops` lists
    the ops and `arena_error` says so.
    """
    data = model_bytes(tflite)
    op_list = ops(data)
    missing = sorted({op.name for op in op_list if not op.supported_by_tflm})
    scratch = kernel_scratch_bytes(data)
    arena = _arena(data)
    measured = arena.measured
    margin = None if measured is None else _round_up(margin_fraction * measured + margin_bytes + scratch)
    return ModelInspection(
        ops=op_list, inputs=inputs(data), outputs=outputs(data), flash_bytes=len(data),
        arena_measured_bytes=measured, arena_margin_bytes=margin,
        arena_bytes=None if measured is None or margin is None else measured + margin,
        unsupported_ops=missing, arena_error=arena.error, arena_recorded_bytes=arena.recorded,
        kernel_scratch_bytes=scratch)


# ------------------------------------------------------------------------------------------- reports


def _tensor_text(tensor: TensorInfo) -> str:
    quantization = (f"scale {tensor.scale:.6g}, zero point {tensor.zero_point}" if tensor.scale is not None
                    else "not quantized")
    return f"{tensor.name or '(unnamed)'}: {tensor.dtype} {list(tensor.shape)}, {quantization}"


def _arena_text(inspection: ModelInspection) -> str:
    if inspection.arena_bytes is None or inspection.arena_measured_bytes is None:
        return f"not measured — {inspection.arena_error or 'no measurement'}"
    return (f"{inspection.arena_bytes:,} bytes = {inspection.arena_measured_bytes:,} measured with TFLite Micro "
            f"+ {inspection.arena_margin_bytes or 0:,} margin (of which {inspection.kernel_scratch_bytes:,} "
            "for CMSIS-NN kernels)")


def describe(inspection: ModelInspection) -> str:
    """A short plain-text report: ops with versions, inputs and outputs, flash, arena, unsupported ops."""
    op_text = ", ".join(f"{op.name} v{op.version}" + (f" ×{op.count}" if op.count > 1 else "")
                        + ("" if op.supported_by_tflm else " (not in TFLite Micro)") for op in inspection.ops)
    lines = [f"Ops:    {op_text or '—'}"]
    lines += [f"Input:  {_tensor_text(tensor)}" for tensor in inspection.inputs]
    lines += [f"Output: {_tensor_text(tensor)}" for tensor in inspection.outputs]
    lines.append(f"Flash:  {inspection.flash_bytes:,} bytes (the .tflite as it is)")
    lines.append(f"Arena:  {_arena_text(inspection)}")
    if inspection.unsupported_ops:
        lines.append(f"UNSUPPORTED by TFLite Micro: {', '.join(inspection.unsupported_ops)} — replace these ops "
                     "(layers) with supported ones and convert again; the firmware cannot run this model")
    return "\n".join(lines)


def describe_html(inspection: ModelInspection) -> str:
    """The same report as `describe`, as a small HTML table for notebooks."""
    rows = []
    for line in describe(inspection).splitlines():
        label, _, text = line.partition(":")
        style = ' style="color:#b00020;font-weight:600"' if label.startswith("UNSUPPORTED") else ""
        rows.append(f'<tr{style}><th style="text-align:left;padding-right:1em">{escape(label)}</th>'
                    f'<td style="text-align:left">{escape(text.strip())}</td></tr>')
    return f'<table class="tinyml-model">{"".join(rows)}</table>'


# ------------------------------------------------------------------------- regenerating data/tflm_ops.txt


def _probe_model(name: str, custom: bool, sentinel: str, sentinel_custom: bool) -> bytes:
    """A model whose only operators are `name` then `sentinel`, an op the runtime lacks. TFLite Micro looks up
    every operator's kernel before it prepares any, so the lookup error names `name` if it is missing and the
    sentinel if it is not, and nothing ever runs on the empty tensors."""
    import flatbuffers

    schema = _schema()
    codes = []
    for op_name, is_custom in ((name, custom), (sentinel, sentinel_custom)):
        code = schema.OperatorCodeT()
        value = schema.BuiltinOperator.CUSTOM if is_custom else getattr(schema.BuiltinOperator, op_name)
        code.builtinCode = value
        code.deprecatedBuiltinCode = min(value, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
        code.customCode = op_name if is_custom else None
        code.version = 1
        codes.append(code)
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs = [], [], []
    subgraph.operators = []
    for index in range(2):
        operator = schema.OperatorT()
        operator.opcodeIndex, operator.inputs, operator.outputs = index, [], []
        if index == 0 and name == "VAR_HANDLE" and not custom:  # the Python runtime reads its shared name
            operator.builtinOptionsType = schema.BuiltinOptions.VarHandleOptions
            operator.builtinOptions = schema.VarHandleOptionsT()
            operator.builtinOptions.sharedName = "probe"
        subgraph.operators.append(operator)
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, codes, [subgraph]
    model.buffers = [schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def probe_tflm_ops(custom_candidates: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(builtin names, custom names) that the installed TFLite Micro runtime has kernels for, found by asking it.

    Every name of the BuiltinOperator enum is tried; custom names only from `custom_candidates`. This is how
    data/tflm_ops.txt was made: the runtime's resolver registers every op through MicroMutableOpResolver's
    Add* methods, so the list is what `MicroMutableOpResolver::AddXxx()` offers in that TFLite Micro version.
    """
    schema = _schema()
    builtins = sorted(name for name, value in vars(schema.BuiltinOperator).items()
                      if not name.startswith("_") and isinstance(value, int)
                      and name not in ("CUSTOM", "PLACEHOLDER_FOR_GREATER_OP_CODES", "DELEGATE"))
    worker = _RuntimeWorker(timeout=30)

    def failing_op(model: bytes) -> str:
        worker.load(model, 0)
        answer = worker.ask("try", 1 << 16)
        # TFLite Micro says "Failed to get registration from op code NAME" (CUSTOM for any custom op).
        return answer.partition("registration from op code ")[2].split(" ")[0].strip("'|")

    try:
        supported = [name for name in builtins
                     if failing_op(_probe_model(name, False, "TINYML_PROBE_SENTINEL", True)) == "CUSTOM"]
        missing = [name for name in builtins if name not in supported]
        custom: list[str] = []
        if custom_candidates and missing:
            custom = [name for name in custom_candidates
                      if failing_op(_probe_model(name, True, missing[0], False)) == missing[0]]
    finally:
        worker.close()
    return supported, custom
