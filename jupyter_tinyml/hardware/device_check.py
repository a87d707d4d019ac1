"""The on-device check: the board against the host's int8 interpreter, on the same input bytes.

The input bytes are the model's own input type: quantized int8 (or uint8) values, or float32 values as they are for
a float-input model (quantization="int8-float-io"), which quantizes them itself. A float32 output is compared in
the steps of the int8 tensor that its DEQUANTIZE reads, so the tolerance means the same for both kinds of model.

Test samples go to the board as INFER requests; every answer is compared with TFLite's reference kernels (what
TFLite Micro and the C target compute): agreement of the top class, the largest difference in output steps, and
the latency the board measured. `check_device` needs only something that answers `info()` and `infer()` — a
serial_link.BoardLink, or anything else that speaks the protocol.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import BoardError, ConfigError
from .protocol import DeviceInfo, Inference
from .reporter import Progress

if TYPE_CHECKING:
    from ..model.tflite import Graph

# The largest output difference (in int8 steps) a deployment may show against TFLite's reference kernels and still
# pass, per firmware target. The C target computes every op exactly as the reference does, SOFTMAX, LOGISTIC and TANH
# included (integer kernels and the reference's own tables): 0 steps. Firmware of unknown make gets one step of
# rounding. TFLite Micro's CMSIS-NN kernels round
# SOFTMAX and requantization their own way: on the virtual board the digits CNN showed up to 3 steps over 360
# samples and an FC autoencoder 2, in both kernel flavours, exactly what TFLite Micro's own reference kernels give.
# Wrong arithmetic is far beyond either (per-channel Dense weights on a kernel that applies one scale to every
# channel: 17-31 steps), so the check still catches it when the top class happens to agree.
TOLERANCE_STEPS = 1
C_TOLERANCE_STEPS = 0
TFLM_TOLERANCE_STEPS = 3
TOLERANCE_BY_TARGET = {"c": C_TOLERANCE_STEPS, "tflm": TFLM_TOLERANCE_STEPS}
# Input and output types the check sends and compares: quantized integers, or float32 around an int8 model.
INTEGER_TYPES = ("int8", "uint8")
FLOAT_TYPE = "float32"


def tolerance_for(target: str | None) -> int:
    """The stated tolerance for firmware built as `target` ("c" or "tflm"); the strict one when it is unknown."""
    return TOLERANCE_BY_TARGET.get(target or "", TOLERANCE_STEPS)


class Device(Protocol):
    """What the check asks of a board: its model (info) and one inference at a time."""

    port: str
    last_cycles: int | None

    @property
    def where(self) -> str: ...  # "the Arduino Nano 33 BLE Sense on /dev/ttyACM0", for messages

    @property
    def board_name(self) -> str: ...

    def info(self) -> DeviceInfo: ...

    def infer(self, data: Any) -> Inference: ...


@dataclass
class OnDeviceCheck:
    """What `BoardLink.check` measured: the board against the host int8 interpreter on the same input bytes.

    agreement: share of samples whose top class (argmax) matches. max_abs_diff: largest difference of any output
    value, in quantization steps (0 = bit-exact). Latencies are the board's own `us=` per inference. The check
    passes (`ok`) when every top class agrees and max_abs_diff is at most `tolerance_steps`; `problems()` says
    what failed.
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
    # The board is emulated (QEMU): its us= is virtual time, one emulated instruction per ns, so the same model takes
    # the same time on every sample and every host — one figure, not a spread, and not a real chip's time.
    emulated: bool = False

    def latency_text(self) -> str:
        """The latency in a few words: 'median 1.23 ms' on a board, '1.23 ms emulated' on the virtual board (one
        figure when every sample took the same virtual time)."""
        if self.emulated and self.latency_us_min == self.latency_us_max:
            return f"{self.latency_us_max / 1000:.3f} ms emulated"
        median = f"median {self.latency_us_median / 1000:.2f} ms"
        return f"{median} emulated" if self.emulated else median

    def _latency_row(self) -> tuple[str, str]:
        if not self.emulated:
            return ("Latency on the board", f"mean {self.latency_us_mean / 1000:.3f} ms, "
                                            f"median {self.latency_us_median / 1000:.3f} ms, "
                                            f"max {self.latency_us_max / 1000:.3f} ms")
        counted = ""
        if self.cycles:
            low, high = min(self.cycles), max(self.cycles)
            counted = f"{low:,} emulated instructions" if low == high else f"{low:,}–{high:,} emulated instructions"
            counted = f" ({counted})"
        if self.latency_us_min == self.latency_us_max:
            figure = f"{self.latency_us_max / 1000:.3f} ms on every sample{counted}"
        else:
            figure = (f"median {self.latency_us_median / 1000:.3f} ms, {self.latency_us_min / 1000:.3f}–"
                      f"{self.latency_us_max / 1000:.3f} ms{counted}")
        return ("Latency (emulated)", f"{figure} — QEMU virtual time, 1 ns per instruction, not a real Cortex-M4's "
                                      "time (that depends on its clock, memory and pipeline)")

    @property
    def ok(self) -> bool:
        """Every top class agrees and no output differs by more than `tolerance_steps`."""
        return not self.problems()

    passed = ok

    def problems(self) -> list[str]:
        """Why the check fails, one sentence each (empty when it passes)."""
        found = []
        if self.disagreements or self.agreement < 1.0:
            found.append(f"the top class differs on {len(self.disagreements)} of {self.n} samples")
        if self.max_abs_diff > self.tolerance_steps:
            found.append(f"the largest output difference, {_steps(self.max_abs_diff)}, exceeds the tolerance of "
                         f"{_steps(self.tolerance_steps)}")
        return found

    def verdict(self) -> str:
        """One line: passes (with the difference and the tolerance) or fails, and why."""
        if self.ok:
            return (f"passes: top class agrees on all {self.n} samples, largest output difference "
                    f"{_steps(self.max_abs_diff)} (tolerance {_steps(self.tolerance_steps)})")
        return "FAILS: " + "; ".join(self.problems())

    def summary(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "agreement": self.agreement,
            "max_abs_diff_steps": self.max_abs_diff,
            "mean_abs_diff_steps": self.mean_abs_diff,
            "latency_us": {"mean": self.latency_us_mean, "median": self.latency_us_median,
                           "min": self.latency_us_min, "max": self.latency_us_max},
            "disagreements": list(self.disagreements),
            "tolerance_steps": self.tolerance_steps,
            "ok": self.ok,
            "verdict": self.verdict(),
            "port": self.port,
            "model": self.model,
            "board": self.board,
            "emulated": self.emulated,
        }

    def _rows(self) -> list[tuple[str, str]]:
        where = f"{self.board} on {self.port}" if self.board else self.port
        verdict = "matches the host" if self.ok else "DIFFERS from the host"
        rows = [
            ("Board", f"{where} — {verdict}"),
            ("Verdict", self.verdict()),
            ("Samples", str(self.n)),
            ("Top-class agreement", f"{self.agreement:.1%}" + (f" (differs at {self._listed()})"
                                                               if self.disagreements else "")),
            ("Largest output difference", f"{_steps(self.max_abs_diff)} (mean {self.mean_abs_diff:.3f}; tolerance "
                                          f"{_steps(self.tolerance_steps)})"
                                          + ("" if self.max_abs_diff <= self.tolerance_steps else " — EXCEEDED")),
            self._latency_row(),
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


def _steps(count: int) -> str:
    return f"{count} step{'' if count == 1 else 's'}"


def quantize_samples(samples: Any, dtype: Any, scale: float | None, zero_point: int | None) -> Any:
    """Float samples quantized with the input's scale and zero point; integer samples of the input type as they are."""
    import numpy as np

    from ..model.evaluate import quantize_values

    data = np.asarray(samples)
    if data.dtype.kind not in "fiub":
        raise ConfigError(f"samples hold {data.dtype} values: pass float samples shaped like the model input, or "
                          f"{np.dtype(dtype).name} samples already quantized.")
    return quantize_values(data, dtype, scale, zero_point, what="samples", error=ConfigError)


def check_device(device: Device, tflite: Any, samples: Any, *, progress: Progress | None = None,
                 limit: int | None = None, tolerance_steps: int = TOLERANCE_STEPS) -> OnDeviceCheck:
    """Run `samples` on the device and on the host int8 interpreter; compare outputs and report latency.

    tflite: the model bytes or .tflite path the firmware was built from: int8 or uint8 input and output, or float32
        ones around int8 layers (quantization="int8-float-io").
    samples: float samples shaped like the model input (quantized here with the input's scale and zero point for
        an integer input, sent as float32 for a float input) or samples already of the input's integer type.
        limit: use only the first `limit` samples.
    progress(done, total, "check") is called after each sample. tolerance_steps: the largest output difference
    that still passes (default TOLERANCE_STEPS).
    """
    import numpy as np

    from ..model.evaluate import interpreter_for
    from ..model.tflite import model_bytes, read

    content = model_bytes(tflite)
    graph = read(content)
    model_inputs, model_outputs = graph.inputs, graph.outputs
    if len(model_inputs) != 1 or len(model_outputs) != 1:
        raise ConfigError(f"The model has {len(model_inputs)} inputs and {len(model_outputs)} outputs; the "
                          "on-device check handles one of each.")
    source, target = model_inputs[0], model_outputs[0]
    handled = (*INTEGER_TYPES, FLOAT_TYPE)
    if source.dtype not in handled or target.dtype not in handled:
        raise ConfigError(f"The model's input is {source.dtype} and output {target.dtype}: the on-device check "
                          "needs an int8 model — convert with quantization='int8' or 'int8-float-io'.")
    output_step = _output_step(graph) if target.dtype == FLOAT_TYPE else None
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
    if source.dtype == FLOAT_TYPE:  # the model's own QUANTIZE op quantizes, on the board as on the host
        quantized = _float_samples(data).reshape(len(data), n_in)
    else:
        quantized = quantize_samples(data, in_dtype, source.scale, source.zero_point).reshape(len(data), n_in)

    info = device.info()
    # READY and INFO count bytes (PROTOCOL.md): values times the width of the type.
    _require_same_model(device, info, n_in * in_dtype.itemsize, n_out * out_dtype.itemsize, source, target)

    interpreter = interpreter_for(content, reference=True)  # what TFLite Micro and the C target compute; allocated
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
        output, us = device.infer(sample.tobytes())
        device_outputs[i] = np.frombuffer(output, out_dtype)
        latencies[i] = us
        if device.last_cycles is not None:
            cycles.append(device.last_cycles)
        if progress is not None:
            progress(i + 1, n, "check")

    if output_step is None:
        difference = np.abs(device_outputs.astype(np.int32) - host_outputs.astype(np.int32))
    else:  # real values that are multiples of one int8 step: the difference in steps, as for an int8 output
        real = np.abs(device_outputs.astype(np.float64) - host_outputs.astype(np.float64)) / output_step
        worst = float(np.iinfo(np.int32).max)  # a NaN or infinity from the board is as far off as it gets
        difference = np.rint(np.nan_to_num(real, nan=worst, posinf=worst)).astype(np.int64)
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
        port=device.port,
        model=info.model,
        board=device.board_name,
        cycles=cycles if len(cycles) == n else None,
        tolerance_steps=int(tolerance_steps),
        emulated=getattr(getattr(device, "board", None), "upload", "") == "qemu",
    )


def _float_samples(data: Any) -> Any:
    """Samples for a float32 input, as float32; refuses what the model cannot take."""
    import numpy as np

    if data.dtype.kind not in "fiub":
        raise ConfigError(f"samples hold {data.dtype} values: pass float samples shaped like the model input.")
    real = data.astype(np.float32)
    if not np.isfinite(real).all():
        raise ConfigError("samples hold NaN or infinite values: clean or impute them first.")
    return real


def _output_step(graph: Graph) -> float:
    """The size of one int8 step of a float32 output: the scale of the tensor its DEQUANTIZE reads. A model that
    computes its output in float has no such step, and the check, which compares int8 arithmetic, refuses it."""
    producer = {output: operator for operator in graph.operators for output in operator.outputs}
    operator = producer.get(graph.output_indices[0]) if graph.output_indices else None
    if operator is not None and operator.name == "DEQUANTIZE" and operator.inputs:
        scale = graph.tensors[operator.inputs[0]].scale
        if scale:
            return float(scale)
    raise ConfigError("The model computes its float32 output in float (no int8 output before a DEQUANTIZE): the "
                      "on-device check compares int8 arithmetic — convert with quantization='int8' or "
                      "'int8-float-io'.")


def _require_same_model(device: Device, info: DeviceInfo, n_in: int, n_out: int, source: Any, target: Any) -> None:
    """n_in and n_out are bytes, as the board counts them; a float tensor has no scale (the board says 0)."""
    def close(a: float, b: float | None) -> bool:
        return math.isclose(a, b or 0.0, rel_tol=1e-3, abs_tol=1e-9)

    problems = []
    if info.n_in != n_in or info.n_out != n_out:
        problems.append(f"{info.n_in} inputs and {info.n_out} outputs, this model {n_in} and {n_out}")  # bytes
    elif not (close(info.in_scale, source.scale) and info.in_zero == (source.zero_point or 0)):
        problems.append(f"input scale {info.in_scale:g} zero point {info.in_zero}, this model "
                        f"{source.scale or 0.0:g} and {source.zero_point or 0}")
    elif not (close(info.out_scale, target.scale) and info.out_zero == (target.zero_point or 0)):
        problems.append(f"output scale {info.out_scale:g} zero point {info.out_zero}, this model "
                        f"{target.scale or 0.0:g} and {target.zero_point or 0}")
    if problems:
        where = device.where
        raise BoardError(f"{where[:1].upper()}{where[1:]} runs another model ({info.model!r}: {problems[0]}) — flash "
                         "the firmware built from this model, or pass the .tflite it was built from")


__all__ = ["Device", "OnDeviceCheck", "TFLM_TOLERANCE_STEPS", "TOLERANCE_STEPS", "check_device", "quantize_samples",
           "tolerance_for"]
