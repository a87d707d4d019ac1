"""CONV_2D and FULLY_CONNECTED of the C target on random shapes: the compiled kernels (host gcc, the portable
path; the Cortex-M4's DSP path runs in tests/test_virtual_board.py's model test) give LiteRT's reference kernels'
outputs exactly — odd and even filter and pixel counts (the kernels' overlapping last pair), depths that are not a
multiple of 4 or 8 (their remainder loops), 1x1 in place and k x k through im2col with padding, dilation, strides,
FC on one row, on many (Dense on N x T x C), per-tensor and per-channel — and the requantization's one-sum form
equals TFLite's double and single rounding on the integers where they differ most."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import tensorflow as tf  # noqa: E402 — a declared dependency (the ml extra): no skip
from test_c_target import CFLAGS, check, int8_tflite, keras  # noqa: E402

from jupyter_tinyml.firmware.c_target import generate_c, kernel_files  # noqa: E402
from jupyter_tinyml.firmware.c_target.conv_lowering import folded_bias, interleave_rows, scratch_rows  # noqa: E402

def fixed_batch(layers, input_shape):
    """keras() with a batch of 1 in the model: TFLite's converter then writes a dilated CONV_2D (with a free batch
    axis it wraps the convolution in SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND) and a static RESHAPE around Dense on
    N x T x C."""
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=input_shape, batch_size=1), *layers])
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.random.default_rng(1).normal(scale=0.3, size=layer.bias.shape))
    return model


CONV_CASES = [  # (input shape, filters, kernel, strides, padding, dilation, activation)
    ((7, 5, 1), 3, (4, 3), 2, "same", 1, None),        # one input channel (KWS' first layer), odd filters
    ((9, 9, 6), 1, 3, 1, "same", 1, "relu"),           # a single filter
    ((5, 7, 13), 9, 1, 1, "valid", 1, None),           # 1x1 in place, depth 13 (4 + 1 remainder), 35 pixels
    ((6, 6, 8), 10, 1, 2, "same", 1, "relu6"),         # 1x1 strided: through im2col
    ((10, 9, 3), 4, 3, 1, "same", 2, "relu"),          # dilated, SAME padding
    ((12, 11, 2), 5, (3, 2), 1, "valid", (2, 3), None),  # dilated differently per axis
    ((16, 16, 20), 6, 3, 1, "same", 1, None),          # depth 180: several im2col batches of the scratch buffer
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv_2d_random_shapes_match_reference_exactly(case, tmp_path):
    shape, filters, kernel, strides, padding, dilation, activation = CONV_CASES[case]
    layer = tf.keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                                   activation=tf.nn.relu6 if activation == "relu6" else activation)
    model = check(fixed_batch([layer], shape), shape, tmp_path, seed=100 + case, samples=12)
    assert model.ops == ["CONV_2D"], model.ops


@pytest.mark.parametrize("units, input_shape", [(1, (17,)), (7, (33,)), (8, (23,)), (12, (5, 9)), (3, (4, 6, 10))])
def test_fully_connected_random_shapes_match_reference_exactly(units, input_shape, tmp_path):
    """One output, odd outputs, and Dense on a 2-D and 3-D sample (TFLite's FC with keep_num_dims, or a RESHAPE
    around it): each row of the last axis is one batch of the kernel."""
    layer = tf.keras.layers.Dense(units, activation="relu")
    model = check(fixed_batch([layer], input_shape), input_shape, tmp_path, seed=120 + units, samples=40)
    assert "FULLY_CONNECTED" in model.ops


def test_folded_bias_is_the_offset_times_each_filters_sum():
    weights = np.array([[[1, -2], [3, 4]], [[-128, 127], [0, 5]]], dtype=np.int8)
    assert folded_bias(np.array([10, -20]), weights, 3).tolist() == [10 + 3 * 6, -20 + 3 * 4]
    assert folded_bias(None, weights, -128).tolist() == [-128 * 6, -128 * 4]
    # int32 wraps as the device's adds do
    assert folded_bias(np.array([2**31 - 1]), np.ones((1, 1), np.int8), 1).tolist() == [-2**31]


def test_interleaved_fc_weights_are_the_order_the_dsp_kernel_reads():
    """Per group of 4 rows: 4 columns of each row in turn, then the group's k % 4 last columns row by row; the
    n % 4 last rows whole (tinyml_conv.c fc_row_interleaved walks exactly this)."""
    weights = np.arange(6 * 9).reshape(6, 9)
    expected = []
    for block in (0, 4):
        for row in range(4):
            expected += list(weights[row, block:block + 4])
    for row in range(4):
        expected.append(weights[row, 8])
    expected += list(weights[4]) + list(weights[5])
    assert interleave_rows(weights).tolist() == expected
    assert interleave_rows(weights[:3]).tolist() == weights[:3].reshape(-1).tolist()


def test_scratch_rows_hold_at_least_a_pair_and_stay_in_budget():
    assert scratch_rows(40, 125) == 24 and scratch_rows(576, 64) == 2 and scratch_rows(288, 64) == 2
    assert scratch_rows(9, 3) == 3  # every pixel at once


REQUANT_MAIN = r"""
#include <stdio.h>
#include "tinyml_conv.c"
/* Reads x, multiplier, shift triples; prints each mode's result against the general form's. */
int main(void) {
  long x, m, s;
  while (scanf("%ld %ld %ld", &x, &m, &s) == 3) {
    channel_scale d = channel(DOUBLE_ROUNDING_RIGHT, (const int32_t[]){(int32_t)m}, (const int32_t[]){(int32_t)s}, 0);
    channel_scale q = channel(SINGLE_ROUNDING_RIGHT, (const int32_t[]){(int32_t)m}, (const int32_t[]){(int32_t)s}, 0);
    printf("%ld %ld %ld %ld\n", (long)right_shift_requantize(DOUBLE_ROUNDING_RIGHT, (int32_t)x, d.multiplier, d.round,
                                                              d.shift),
           (long)tinyml_multiply_by_quantized_multiplier((int32_t)x, (int32_t)m, (int)s),
           (long)right_shift_requantize(SINGLE_ROUNDING_RIGHT, (int32_t)x, q.multiplier, q.round, q.shift),
           (long)multiply_single_rounding((int32_t)x, (int32_t)m, (int)s));
    /* the general form, any shift: its own line */
    printf("%ld %ld\n", (long)double_rounding((int32_t)x, (int32_t)m, (int32_t)(s + 20)),
           (long)tinyml_multiply_by_quantized_multiplier((int32_t)x, (int32_t)m, (int)(s + 20)));
  }
  return 0;
}
"""


def test_one_sum_requantization_equals_tflites_roundings(tmp_path: Path):
    """right_shift_requantize (every shift <= -1) and double_rounding (any shift) against the reference forms,
    compiled from the kernel's own source: extreme accumulators, exact halves and the multipliers Prepare gives."""
    for name, text in kernel_files().items():
        (tmp_path / name).write_text(text)
    (tmp_path / "main.c").write_text(REQUANT_MAIN)
    subprocess.run(["gcc", *CFLAGS, "-Wno-unused-function", "-o", str(tmp_path / "requant"), str(tmp_path / "main.c")],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    rng = np.random.default_rng(7)
    n = 20000
    shifts = rng.integers(-31, 0, n)
    multipliers = np.where(rng.random(n) < 0.1, 1 << 30, rng.integers(1 << 30, 1 << 31, n))
    xs = np.concatenate([rng.integers(-2**31, 2**31, n // 2), rng.integers(-5000, 5000, n // 2)])
    halves = (rng.integers(-2000, 2000, n) << np.maximum(-shifts - 1, 0))  # near exact halves after the shift
    xs = np.where(rng.random(n) < 0.3, np.clip(halves, -2**31, 2**31 - 1), xs)
    xs[:4] = [-2**31, 2**31 - 1, 0, -1]
    lines = "\n".join(f"{x} {m} {s}" for x, m, s in zip(xs, multipliers, shifts))
    done = subprocess.run([str(tmp_path / "requant")], input=lines, capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    results = np.array([[int(v) for v in line.split()] for line in lines[0::2]])
    general = np.array([[int(v) for v in line.split()] for line in lines[1::2]])  # shifts -11..19
    assert len(results) == len(general) == n
    assert (results[:, 0] == results[:, 1]).all() and (results[:, 2] == results[:, 3]).all()
    assert (general[:, 0] == general[:, 1]).all()


def test_1x1_convolution_needs_no_scratch_and_kxk_shares_one():
    layers = [tf.keras.layers.Conv2D(4, 3, padding="same"), tf.keras.layers.Conv2D(6, 1),
              tf.keras.layers.Conv2D(5, 5, padding="same")]
    tflite = int8_tflite(keras(layers, (8, 8, 3)), np.random.default_rng(0).normal(size=(8, 8, 8, 3)))
    source = generate_c(tflite).files["model_c.c"]
    assert source.count("static int8_t tinyml_conv_scratch[") == 1
    calls = [line for line in source.splitlines() if line.strip().startswith("tinyml_conv_2d(")]
    assert [call.rstrip(");").split(", ")[-1] for call in calls] == ["tinyml_conv_scratch", "0", "tinyml_conv_scratch"]
    # sized for the largest batch of patches: 3 x 3 x 3 deep or 5 x 5 x 6 deep, 64 pixels each
    largest = max(scratch_rows(depth, 64) * depth for depth in (27, 150))
    assert f"tinyml_conv_scratch[{largest}];" in source


def test_a_dilated_convolution_with_a_free_batch_size_is_refused_with_the_way_out() -> None:
    """Keras converts Conv2D(dilation_rate=2) with a free batch axis to SPACE_TO_BATCH_ND -> CONV_2D ->
    BATCH_TO_SPACE_ND; the refusal says to fix the batch size, which makes it one dilated CONV_2D."""
    import keras as keras3

    from jupyter_tinyml.errors import QuantizationError
    from jupyter_tinyml.model.convert import convert

    keras3.utils.set_random_seed(0)
    model = keras3.Sequential([keras3.Input((12, 12, 2)), keras3.layers.Conv2D(4, 3, dilation_rate=2)])
    tflite = convert(model, np.random.default_rng(0).normal(size=(16, 12, 12, 2)).astype(np.float32))
    with pytest.raises(QuantizationError, match=r"SPACE_TO_BATCH_ND.*keras\.Input\(\.\.\., batch_size=1\)"):
        generate_c(tflite)
