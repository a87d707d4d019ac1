"""The portable C target against what TFLite Micro would need, and against the LiteRT interpreter on the host.

    .venv/bin/python bench/bench_c_target.py              # digits and MLPerf Tiny's four; or name some: ... kws ad

Printed as ratios from one run per model (tests/reference_models.py: the digits CNN of the demo's shape, and models
with MLPerf Tiny's four reference architectures):
- flash: the C target's constants (weights, biases, multipliers) vs the .tflite flatbuffer TFLite Micro keeps in flash;
- RAM: the C target's static memory plan vs TFLite Micro's tensor arena (measured with its own runtime);
- time: host-gcc -O2 inference of the generated C vs the LiteRT interpreter (reference kernels and default ones),
  per inference, batch 1, same inputs.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # reference_models, trained_models

import numpy as np  # noqa: E402

# Host time to spend per measurement: the runs are as many as fit, at least MIN_RUNS (a VWW inference takes ms).
SECONDS_PER_MEASUREMENT = 2.0
MIN_RUNS = 20
MODELS = ("digits", "kws", "vww", "ic", "ad")
TIMING_MAIN = r"""
#include <stdio.h>
#include <time.h>
#include "model_c.h"
int main(void) {
  static int8_t input[TINYML_INPUT_BYTES], output[TINYML_OUTPUT_BYTES];
  if (fread(input, 1, sizeof input, stdin) != sizeof input) return 2;
  struct timespec a, b;
  long checksum = 0;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < %(runs)d; ++i) { input[0] = (int8_t)i; tinyml_invoke(input, output); checksum += output[0]; }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%%.3f %%ld\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / %(runs)d / 1000.0, checksum);
  return 0;
}
"""


def c_microseconds(files: dict[str, str], sample: bytes, runs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, text in files.items():
            (root / name).write_text(text)
        (root / "main.c").write_text(TIMING_MAIN % {"runs": runs})
        sources = [str(root / "main.c")] + [str(root / name) for name in files if name.endswith(".c")]
        subprocess.run(["gcc", "-std=c99", "-O2", "-D_POSIX_C_SOURCE=199309L", f"-I{root}", *sources, "-lm",
                        "-o", str(root / "bench")], check=True)
        done = subprocess.run([str(root / "bench")], input=sample, capture_output=True, check=True)
        return float(done.stdout.split()[0])


def interpreter_microseconds(tflite: bytes, sample: np.ndarray, reference: bool, runs: int) -> float:
    from jupyter_tinyml.model.evaluate import interpreter_for

    interpreter = interpreter_for(tflite, reference=reference)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    interpreter.set_tensor(index, sample)
    interpreter.invoke()
    started = time.perf_counter()
    for _ in range(runs):
        interpreter.set_tensor(index, sample)
        interpreter.invoke()
    return (time.perf_counter() - started) / runs * 1e6


def runs_for(tflite: bytes, sample: np.ndarray) -> int:
    """As many runs as take about SECONDS_PER_MEASUREMENT on LiteRT's reference kernels (the slowest side)."""
    once = interpreter_microseconds(tflite, sample, reference=True, runs=1)
    return max(MIN_RUNS, int(SECONDS_PER_MEASUREMENT * 1e6 / max(once, 1.0)))


def measure(name: str) -> str:
    """One model's row: flash and RAM against TFLite Micro's, host time against LiteRT's two kernel sets."""
    from reference_models import build

    from jupyter_tinyml import inspect
    from jupyter_tinyml.firmware.c_target import generate_c
    from jupyter_tinyml.model.evaluate import quantize_values

    reference_model = build(name)
    tflite = reference_model.tflite
    info = inspect(tflite)
    model = generate_c(tflite)
    detail = info.inputs[0]
    sample = quantize_values(reference_model.samples[:1], np.int8, detail.scale, detail.zero_point)
    runs = runs_for(tflite, sample)
    c_us = c_microseconds(model.files, sample.tobytes(), runs)
    ref_us = interpreter_microseconds(tflite, sample, reference=True, runs=runs)
    try:
        opt_us = interpreter_microseconds(tflite, sample, reference=False, runs=runs)
        optimized = f"{opt_us:>10.1f} {opt_us / c_us:>7.2f}x"
    except RuntimeError as error:  # LiteRT's XNNPACK delegate refuses some graphs at run time
        optimized = f"  n/a ({str(error).splitlines()[0][:60]})"
    flash, ram = model.weights_bytes / len(tflite), model.arena_bytes / info.arena_measured_bytes
    return f"{name:<7} {flash:>6.2f}x {ram:>6.2f}x {c_us:>10.1f} {ref_us:>10.1f} {ref_us / c_us:>7.2f}x {optimized}"


def main(names: list[str]) -> None:
    print("flash: the C constants / the .tflite TFLite Micro keeps; RAM: the C memory plan / TFLite Micro's measured "
          "arena;\ntime: one inference on this host, C (gcc -O2) vs LiteRT's reference and default kernels "
          "(x: how many times faster C is)")
    print(f"{'model':<7} {'flash':>7} {'RAM':>7} {'C us':>10} {'ref us':>10} {'C vs ref':>8} {'opt us':>10} "
          f"{'C vs opt':>8}")
    for name in names:
        print(measure(name), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(MODELS))
