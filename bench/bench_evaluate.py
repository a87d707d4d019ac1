"""Batched `evaluate` versus the plain per-sample interpreter loop, and the wall time of `compare`.

Run: .venv/bin/python bench/bench_evaluate.py

One int8 digits CNN (8x8x1, trained here in a few seconds) on all 1,797 digits: the loop quantizes one sample,
invokes, dequantizes, 1,797 times; evaluate resizes the batch axis and invokes once per 256 samples. Both
create their interpreter inside the timing, and both must give the same predictions. Goal: ratio >= 10.
Times are the minimum over REPEATS runs (the least disturbed one). compare runs on the 360-sample test split,
first call and a repeat; goal: a few seconds.
"""
from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the figures

import numpy as np

REPEATS = 5
TEST_SAMPLES = 360


def digits_cnn() -> tuple[object, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., np.newaxis]
    x_train, x_test, y_train, y_test = train_test_split(
        x, data.target, test_size=TEST_SAMPLES, random_state=0, stratify=data.target
    )
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    return model, x_train, x_test, y_train, y_test


def loop_predictions(content: bytes, x: np.ndarray) -> np.ndarray:
    """What a notebook usually does: one sample per invoke()."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    in_scale, in_zero = source["quantization"]
    out_scale, out_zero = target["quantization"]
    classes = np.empty(len(x), np.int64)
    for i, sample in enumerate(x):
        quantized = np.clip(np.round(sample / in_scale + in_zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(source["index"], quantized[np.newaxis])
        interpreter.invoke()
        scores = (interpreter.get_tensor(target["index"])[0].astype(np.float32) - out_zero) * out_scale
        classes[i] = scores.argmax()
    return classes


def fastest(run) -> tuple[float, object]:
    result = run()  # warm-up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    from jupyter_tinyml import compare, convert, evaluate

    model, x_train, x_test, y_train, y_test = digits_cnn()
    content = convert(model, x_train)
    x_all = np.concatenate([x_train, x_test])

    loop_time, loop_classes = fastest(lambda: loop_predictions(content, x_all))
    batched_time, result = fastest(lambda: evaluate(content, x_all))
    same = bool(np.array_equal(result.predictions, loop_classes))
    print(
        f"evaluate on {len(x_all)} digits (int8 CNN, {len(content):,} B): batched {batched_time * 1e3:.1f} ms vs "
        f"per-sample loop {loop_time * 1e3:.1f} ms -> {loop_time / batched_time:.1f}x (goal >= 10), "
        f"same predictions: {same}"
    )

    start = time.perf_counter()
    report = compare(model, content, x_test, y_test, representative_data=x_train)
    first = time.perf_counter() - start
    start = time.perf_counter()
    compare(model, content, x_test, y_test, representative_data=x_train)
    again = time.perf_counter() - start
    print(
        f"compare on the digits test split ({len(x_test)} samples): {first:.2f} s first call, {again:.2f} s again "
        f"(float {report.float_accuracy:.3f} vs int8 {report.quantized_accuracy:.3f}, "
        f"agreement {report.agreement:.3f}, {len(report.layer_errors)} tensors)"
    )


if __name__ == "__main__":
    main()
