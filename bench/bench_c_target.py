"""The portable C target against what TFLite Micro would need, and against the LiteRT interpreter on the host.

Printed as ratios from one run on the digits CNN of the demo's shape:
- flash: the C target's constants (weights, biases, multipliers) vs the .tflite flatbuffer TFLite Micro keeps in flash;
- RAM: the C target's static memory plan vs TFLite Micro's tensor arena (measured with its own runtime);
- time: host-gcc -O2 inference of the generated C vs the LiteRT interpreter (reference kernels and default ones),
  per inference, batch 1, same inputs.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

RUNS = 2000
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


def digits_model() -> tuple[bytes, np.ndarray]:
    import keras
    from sklearn.datasets import load_digits

    from jupyter_tinyml import convert

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., np.newaxis]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(), keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:1400], data.target[:1400], epochs=3, verbose=0)
    return convert(model, x[:300]), x[1400:]


def c_microseconds(files: dict[str, str], sample: bytes) -> float:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, text in files.items():
            (root / name).write_text(text)
        (root / "main.c").write_text(TIMING_MAIN % {"runs": RUNS})
        sources = [str(root / "main.c")] + [str(root / name) for name in files if name.endswith(".c")]
        subprocess.run(["gcc", "-std=c99", "-O2", "-D_POSIX_C_SOURCE=199309L", f"-I{root}", *sources, "-lm",
                        "-o", str(root / "bench")], check=True)
        done = subprocess.run([str(root / "bench")], input=sample, capture_output=True, check=True)
        return float(done.stdout.split()[0])


def interpreter_microseconds(tflite: bytes, sample: np.ndarray, reference: bool) -> float:
    from jupyter_tinyml.model.evaluate import interpreter_for

    interpreter = interpreter_for(tflite, reference=reference)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    interpreter.set_tensor(index, sample)
    interpreter.invoke()
    started = time.perf_counter()
    for _ in range(RUNS):
        interpreter.set_tensor(index, sample)
        interpreter.invoke()
    return (time.perf_counter() - started) / RUNS * 1e6


def main() -> None:
    from jupyter_tinyml import inspect
    from jupyter_tinyml.firmware.c_target import generate_c
    from jupyter_tinyml.model.evaluate import quantize_values

    tflite, x_test = digits_model()
    info = inspect(tflite)
    model = generate_c(tflite)
    detail = info.inputs[0]
    sample = quantize_values(x_test[:1], np.int8, detail.scale, detail.zero_point)
    c_us = c_microseconds(model.files, sample.tobytes())
    ref_us = interpreter_microseconds(tflite, sample, reference=True)
    opt_us = interpreter_microseconds(tflite, sample, reference=False)
    print(f"flash: C constants {model.weights_bytes:,} B vs .tflite {len(tflite):,} B -> "
          f"{model.weights_bytes / len(tflite):.2f}x")
    print(f"RAM:   C memory plan {model.arena_bytes:,} B vs TFLite Micro arena {info.arena_measured_bytes:,} B measured "
          f"-> {model.arena_bytes / info.arena_measured_bytes:.2f}x")
    print(f"time:  C (gcc -O2) {c_us:.2f} us vs LiteRT reference kernels {ref_us:.2f} us -> {ref_us / c_us:.1f}x faster; "
          f"vs LiteRT default kernels {opt_us:.2f} us -> {opt_us / c_us:.1f}x")


if __name__ == "__main__":
    main()
