"""The portable C target: generated C99, compiled with gcc, gives the TFLite interpreter's int8 outputs.

Reference: LiteRT's interpreter with the reference kernels (BUILTIN_REF), not XNNPACK. Every op must match exactly,
SOFTMAX included. The other ops have their own file, test_c_target_ops.py.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from jupyter_tinyml.errors import QuantizationError  # noqa: E402
from jupyter_tinyml.firmware.c_target import SUPPORTED_OPS, generate_c  # noqa: E402
from jupyter_tinyml.model.tflite import model_bytes, read  # noqa: E402
from prerequisites import require_arm_tools  # noqa: E402
from reference_models import requantize_tflite  # noqa: E402

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
TEST_MAIN = r"""
#include <stdio.h>
#include "model_c.h"
/* Reads samples of TINYML_INPUT_BYTES from stdin until EOF; writes TINYML_OUTPUT_BYTES per sample. */
int main(void) {
  static int8_t in[TINYML_INPUT_BYTES];
  static int8_t out[TINYML_OUTPUT_BYTES];
  while (fread(in, 1, sizeof in, stdin) == sizeof in) {
    if (tinyml_invoke(in, out) != 0) return 2;
    fwrite(out, 1, sizeof out, stdout);
  }
  return 0;
}
"""


def int8_tflite(model, samples: np.ndarray) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([s[None].astype(np.float32)] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def reference(tflite: bytes, inputs: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=tflite, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for sample in inputs:
        interpreter.set_tensor(source["index"], sample.reshape(source["shape"]))
        interpreter.invoke()
        results.append(interpreter.get_tensor(target["index"]).reshape(-1).copy())
    return np.stack(results)


def quantized_inputs(tflite: bytes, floats: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=tflite)
    scale, zero_point = interpreter.get_input_details()[0]["quantization"]
    return np.clip(np.round(floats / scale) + zero_point, -128, 127).astype(np.int8)


def run_c(tflite: bytes, inputs: np.ndarray, workdir: Path) -> tuple[np.ndarray, object]:
    model = generate_c(tflite)
    for filename, text in model.files.items():
        (workdir / filename).write_text(text)
    (workdir / "main.c").write_text(TEST_MAIN)
    binary = workdir / "model_test"
    sources = [str(workdir / name) for name in model.files if name.endswith(".c")]
    subprocess.run(["gcc", *CFLAGS, "-o", str(binary), str(workdir / "main.c"), *sources, "-lm"], check=True,
                   capture_output=True, text=True)
    done = subprocess.run([str(binary)], input=inputs.astype(np.int8).tobytes(), capture_output=True, check=True)
    return np.frombuffer(done.stdout, dtype=np.int8).reshape(len(inputs), -1), model


def check(keras_model, input_shape: tuple[int, ...], tmp_path: Path, seed: int, *, tolerance: int = 0,
          samples: int = 32, tflite: bytes | None = None) -> object:
    rng = np.random.default_rng(seed)
    calibration = rng.normal(size=(32, *input_shape)).astype(np.float32)
    tflite = tflite or int8_tflite(keras_model, calibration)
    # Wider than the calibration data, so some values saturate too.
    inputs = quantized_inputs(tflite, 1.5 * rng.normal(size=(samples, *input_shape)).astype(np.float32))
    expected = reference(tflite, inputs)
    got, model = run_c(tflite, inputs, tmp_path)
    difference = np.abs(got.astype(int) - expected.astype(int))
    assert difference.max() <= tolerance, (model.ops, int(difference.max()), int((difference > 0).sum()))
    return model


def keras(layers, input_shape):
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=input_shape), *layers])
    # Non-zero biases, so the bias path is exercised too.
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.random.default_rng(1).normal(scale=0.3, size=layer.bias.shape))
    return model


# ------------------------------------------------------------------------------------------ kernel by kernel

CONV_CASES = [  # (input shape, filters, kernel, strides, padding, activation)
    ((9, 9, 3), 4, 3, 1, "same", None),
    ((10, 7, 2), 5, 3, 2, "same", "relu"),
    ((8, 8, 3), 3, (2, 3), (2, 1), "valid", "relu6"),
    ((11, 11, 1), 6, 5, 3, "valid", None),
    ((6, 9, 4), 8, 1, 1, "valid", "relu"),
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv_2d_matches_interpreter_exactly(case, tmp_path):
    shape, filters, kernel, strides, padding, activation = CONV_CASES[case]
    relu6 = activation == "relu6"
    layer = tf.keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding,
                                   activation=tf.nn.relu6 if relu6 else activation)
    check(keras([layer], shape), shape, tmp_path, seed=case)


DEPTHWISE_CASES = [  # (input shape, kernel, strides, padding, multiplier, activation)
    ((9, 9, 3), 3, 1, "same", 1, "relu"),
    ((10, 8, 4), 3, 2, "same", 2, None),
    ((7, 9, 2), (3, 2), (1, 2), "valid", 2, "relu6"),
    ((8, 8, 5), 5, 2, "valid", 1, None),
]


@pytest.mark.parametrize("case", range(len(DEPTHWISE_CASES)))
def test_depthwise_conv_2d_matches_interpreter_exactly(case, tmp_path):
    shape, kernel, strides, padding, multiplier, activation = DEPTHWISE_CASES[case]
    layer = tf.keras.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding, depth_multiplier=multiplier,
                                            activation=tf.nn.relu6 if activation == "relu6" else activation)
    check(keras([layer], shape), shape, tmp_path, seed=10 + case)


@pytest.mark.parametrize("activation", [None, "relu", "relu6"])
def test_fully_connected_matches_interpreter_exactly(activation, tmp_path):
    # Enough samples to catch a rounding difference: LiteRT's reference FC rounds once, the convolutions twice.
    layer = tf.keras.layers.Dense(16, activation=tf.nn.relu6 if activation == "relu6" else activation)
    model = check(keras([layer], (40,)), (40,), tmp_path, seed=20, samples=300)
    assert model.ops == ["FULLY_CONNECTED"]


def test_per_tensor_fully_connected_matches_interpreter_exactly(tmp_path):
    model = keras([tf.keras.layers.Dense(16)], (40,))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    calibration = np.random.default_rng(21).normal(size=(32, 40)).astype(np.float32)
    converter.representative_dataset = lambda: ([s[None]] for s in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    result = check(None, (40,), tmp_path, seed=21, samples=300, tflite=converter.convert())
    assert result.weights_bytes == 16 * 40 + 16 * 4 + 2 * 4  # one multiplier and shift for the whole tensor


@pytest.mark.parametrize("scales", [(0.05, 3, 0.031, -7), (0.02, -128, 0.09, 10), (0.1, 0, 0.1001, 1)])
def test_quantize_requantizes_like_the_interpreter(scales, tmp_path):
    tflite = requantize_tflite(*scales)
    inputs = np.arange(-128, 112, dtype=np.int16).astype(np.int8).reshape(10, 24)  # every value but 16
    got, model = run_c(tflite, inputs, tmp_path)
    assert model.ops == ["QUANTIZE"]
    np.testing.assert_array_equal(got, reference(tflite, inputs))


POOL_CASES = [  # (layer, input shape, pool, strides, padding)
    ("max", (9, 9, 3), 2, 2, "valid"),
    ("max", (9, 7, 2), 3, 2, "same"),
    ("avg", (8, 8, 3), 2, 2, "valid"),
    ("avg", (9, 7, 4), 3, 2, "same"),
    ("avg", (10, 10, 2), (3, 2), (1, 3), "same"),
]


@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_pooling_matches_interpreter_exactly(case, tmp_path):
    kind, shape, pool, strides, padding = POOL_CASES[case]
    cls = tf.keras.layers.MaxPooling2D if kind == "max" else tf.keras.layers.AveragePooling2D
    # A conv in front gives the pool a quantized activation that is not the model input.
    model = keras([tf.keras.layers.Conv2D(3, 1), cls(pool, strides=strides, padding=padding)], shape)
    result = check(model, shape, tmp_path, seed=30 + case)
    assert ("MAX_POOL_2D" if kind == "max" else "AVERAGE_POOL_2D") in result.ops


def test_add_matches_interpreter_exactly(tmp_path):
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input(shape=(6, 6, 3))
    a = tf.keras.layers.Conv2D(4, 3, padding="same")(inputs)
    b = tf.keras.layers.Conv2D(4, 1, activation="relu")(inputs)
    added = tf.keras.layers.Add()([a, b])
    model = tf.keras.Model(inputs, tf.keras.layers.ReLU()(added))
    result = check(model, (6, 6, 3), tmp_path, seed=40)
    assert "ADD" in result.ops


@pytest.mark.parametrize("keepdims", [False, True])
def test_mean_matches_interpreter_exactly(keepdims, tmp_path):
    layers = [tf.keras.layers.Conv2D(5, 3, activation="relu"),
              tf.keras.layers.GlobalAveragePooling2D(keepdims=keepdims)]
    result = check(keras(layers, (7, 6, 2)), (7, 6, 2), tmp_path, seed=50 + keepdims, samples=64)
    assert "MEAN" in result.ops


def test_softmax_matches_interpreter_exactly(tmp_path):
    layers = [tf.keras.layers.Dense(10), tf.keras.layers.Softmax()]
    result = check(keras(layers, (12,)), (12,), tmp_path, seed=60, samples=300)
    assert "SOFTMAX" in result.ops


# ---------------------------------------------------------------------------------------------- whole models


def test_digits_cnn_matches_interpreter(tmp_path):
    layers = [tf.keras.layers.Conv2D(8, 3, activation="relu"), tf.keras.layers.MaxPooling2D(),
              tf.keras.layers.Conv2D(16, 3, activation="relu"), tf.keras.layers.MaxPooling2D(),
              tf.keras.layers.Flatten(), tf.keras.layers.Dense(32, activation="relu"),
              tf.keras.layers.Dense(10, activation="softmax")]
    model = check(keras(layers, (28, 28, 1)), (28, 28, 1), tmp_path, seed=70, samples=64)
    assert {"CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"} <= set(model.ops)
    # Buffers are reused: the arena is smaller than all activations side by side, yet holds every op's
    # inputs and output at once (no two buffers alive at the same op overlap).
    assert model.arena_bytes < model.activation_bytes
    assert model.arena_bytes % 16 == 0
    for a in model.buffers:
        assert a.offset % 16 == 0 and a.offset + a.size <= model.arena_bytes
        for b in model.buffers:
            if a is not b and a.first <= b.last and b.first <= a.last:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)


def test_tabular_mlp_matches_interpreter(tmp_path):
    layers = [tf.keras.layers.Dense(16, activation="relu"), tf.keras.layers.Dense(8, activation="relu"),
              tf.keras.layers.Dense(3, activation="softmax")]
    check(keras(layers, (6,)), (6,), tmp_path, seed=80, samples=64)


def test_conv1d_time_windows_match_interpreter(tmp_path):
    layers = [tf.keras.layers.Conv1D(8, 5, activation="relu"), tf.keras.layers.MaxPooling1D(2),
              tf.keras.layers.Conv1D(8, 3, strides=2, padding="same", activation="relu"),
              tf.keras.layers.Flatten(), tf.keras.layers.Dense(4)]
    model = check(keras(layers, (40, 3)), (40, 3), tmp_path, seed=90, samples=64)
    assert "CONV_2D" in model.ops


def test_depthwise_separable_cnn_matches_interpreter(tmp_path):
    layers = [tf.keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
              tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6"),
              tf.keras.layers.Conv2D(16, 1, activation="relu6"),
              tf.keras.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu"),
              tf.keras.layers.Conv2D(16, 1, activation="relu"),
              tf.keras.layers.GlobalAveragePooling2D(), tf.keras.layers.Dense(5, activation="softmax")]
    model = check(keras(layers, (24, 24, 3)), (24, 24, 3), tmp_path, seed=100, samples=64)
    assert {"DEPTHWISE_CONV_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED"} <= set(model.ops)


# ------------------------------------------------------------------------------------------------ the rest


def test_memory_plan_reuses_memory_of_dead_buffers():
    from jupyter_tinyml.firmware.c_target.memory_plan import Buffer, plan

    chain = [Buffer(i, f"t{i}", size, i, i + 1) for i, size in enumerate([100, 40, 100, 8])]
    placed, total = plan(chain)
    # t0 (ops 0-1) and t2 (ops 2-3) never live together: they share offset 0; t1 and t3 sit above them.
    offsets = {b.name: b.offset for b in placed}
    assert offsets["t0"] == offsets["t2"] == 0
    assert total == 112 + 48 and total < sum(b.size for b in chain)


def test_unsupported_op_names_it_and_the_supported_ones():
    tflite = int8_tflite(keras([tf.keras.layers.Conv2D(2, 3), tf.keras.layers.UpSampling2D()], (6, 6, 1)),
                         np.random.default_rng(0).normal(size=(16, 6, 6, 1)).astype(np.float32))
    assert "TILE" in {op.name for op in read(model_bytes(tflite)).ops}
    with pytest.raises(QuantizationError, match="no kernel for TILE") as error:
        generate_c(tflite)
    assert all(name in str(error.value) for name in SUPPORTED_OPS)


def test_model_header_keeps_the_board_api():
    tflite = int8_tflite(keras([tf.keras.layers.Dense(4)], (5,)),
                         np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32))
    model = generate_c(tflite, name="model")
    header = model.files["model_c.h"]
    for text in ("#define TINYML_INPUT_BYTES  5", "#define TINYML_OUTPUT_BYTES 4", "TINYML_ARENA_BYTES",
                 "int tinyml_invoke(const int8_t *input, int8_t *output);", "tinyml_op_names", "tinyml_model_name"):
        assert text in header
    assert 'tinyml_op_names = "FULLY_CONNECTED"' in model.files["model_c.c"]
    # weights, bias, and a multiplier and shift per tensor or per output channel (the converter's choice)
    assert model.weights_bytes in (5 * 4 + 4 * 4 + 2 * 4, 5 * 4 + 4 * 4 + 2 * 4 * 4)


def test_cortex_m4_compile_is_warning_free(tmp_path):
    require_arm_tools("arm-none-eabi-gcc")
    compiler = shutil.which("arm-none-eabi-gcc")
    layers = [tf.keras.layers.Conv2D(4, 3, activation="relu"), tf.keras.layers.DepthwiseConv2D(3),
              tf.keras.layers.AveragePooling2D(2), tf.keras.layers.GlobalAveragePooling2D(),
              tf.keras.layers.Dense(3, activation="softmax")]
    tflite = int8_tflite(keras(layers, (12, 12, 2)), np.random.default_rng(0).normal(size=(16, 12, 12, 2)))
    files = generate_c(tflite).files
    for filename, text in files.items():
        (tmp_path / filename).write_text(text)
    for source in (name for name in files if name.endswith(".c")):
        done = subprocess.run([compiler, "-std=c99", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb",
                               "-O2", "-c", source, "-o", os.devnull], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0 and not done.stderr, done.stderr


def test_c_project_is_judged_by_the_one_budget_verdict(tmp_path):
    """The C target's flash and RAM go through budget.check_budget like TFLite Micro's: a board whose RAM holds the
    static memory plan but not the plan with the stack is refused with the verdict's own sentence."""
    from dataclasses import replace

    from jupyter_tinyml import write_project
    from jupyter_tinyml.boards import find_board
    from jupyter_tinyml.budget import check_budget
    from jupyter_tinyml.errors import ConfigError

    layers = [tf.keras.layers.Dense(16, activation="relu"), tf.keras.layers.Dense(3, activation="softmax")]
    content = int8_tflite(keras(layers, (6,)), np.random.default_rng(3).random((32, 6)).astype(np.float32))
    board = find_board("virtual-cortex-m4")
    project = write_project(content, board=board, out_dir=tmp_path / "fits", target="c")
    assert project.budget == check_budget(project.flash_bytes, project.arena_bytes, board,
                                          input_bytes=project.model.input_bytes, target="c")
    assert project.budget.fits and "static memory plan (exact)" in project.budget.ram_text()
    assert project.budget.ram_needed > project.arena_bytes  # the stack and the serial line are counted too

    shrunk = replace(board, name="Shrunk RAM Board", ram_bytes=project.arena_bytes + 64)
    with pytest.raises(ConfigError) as error:
        write_project(content, board=shrunk, out_dir=tmp_path / "refused", target="c")
    verdict = check_budget(project.flash_bytes, project.arena_bytes, shrunk, input_bytes=project.model.input_bytes,
                           target="c")
    assert not verdict.fits
    assert str(error.value) == f"the model does not fit the Shrunk RAM Board: {verdict.problems()[0]}"
    assert not (tmp_path / "refused").exists()
