"""DEPTHWISE_CONV_2D's fast depth-multiplier-1 kernel (kernels/tinyml_depthwise_dm1.{c,h}) and the inline
requantization (kernels/tinyml_fixed_point.h): identical integers to LiteRT's reference kernels (BUILTIN_REF).

On the host the kernels compile to their portable C path; on the virtual board (QEMU, Cortex-M4) to the DSP one
(SXTAB16/SMLABB, SSAT) — both are checked against the reference here.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tensorflow as tf  # noqa: E402 — a declared dependency (the ml extra): no skip

from jupyter_tinyml.firmware.c_target import kernel_files  # noqa: E402
from jupyter_tinyml.firmware.c_target.depthwise_lowering import border_shapes, right_shifts_only  # noqa: E402
from test_c_target import check, int8_tflite, keras, quantized_inputs, reference, run_c  # noqa: E402

# (input shape, kernel, strides, padding, depth multiplier, activation): depth multiplier 1 takes the fast kernel
# (3x3: the generated interior run plus the border windows; other sizes: the window path), 2 the general one.
# Channel counts that are not a multiple of 4 exercise the leftover-channel path; inputs as small as the window, or
# one pixel wide, make every pixel a border pixel.
CASES = [
    ((12, 10, 8), 3, 1, "same", 1, "relu"),
    ((11, 9, 16), 3, 2, "same", 1, None),
    ((9, 8, 6), 3, 2, "valid", 1, "relu6"),
    ((7, 7, 5), 3, 1, "valid", 1, None),
    ((3, 3, 4), 3, 1, "same", 1, None),
    ((6, 1, 7), 3, 1, "same", 1, "relu"),
    ((10, 6, 12), (3, 3), (1, 2), "same", 1, None),
    ((8, 9, 4), (2, 3), 1, "same", 1, "relu"),
    ((9, 9, 9), 5, 2, "same", 1, None),
    ((8, 7, 3), 3, 2, "same", 2, "relu"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_depthwise_matches_the_reference_kernel_exactly(case: int, tmp_path: Path) -> None:
    shape, kernel, strides, padding, multiplier, activation = CASES[case]
    layer = tf.keras.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding, depth_multiplier=multiplier,
                                            activation=tf.nn.relu6 if activation == "relu6" else activation)
    model = check(keras([layer], shape), shape, tmp_path, seed=100 + case, samples=24)
    source = model.files["model_c.c"]
    if multiplier == 1:
        assert "tinyml_depthwise_conv_dm1(" in source
        interior = re.findall(r"tinyml_dw3x3_run\(in, out, count, \w+, \d+, \d+L, \d+L, (\d),", source)
        # 3x3: the generated run, with the branch-free requantization (these shifts are all negative)
        assert interior == (["1"] if kernel in (3, (3, 3)) else [])
    else:
        assert "tinyml_depthwise_conv_2d(" in source


def test_a_left_shift_takes_the_general_requantization_exactly(tmp_path: Path) -> None:
    """Inputs calibrated 10x wider than the ReLU6-clipped outputs give multipliers above 1 (left shifts), where the
    branch-free right-shift form does not apply: the generated run says so (right_only 0) and stays exact."""
    layer = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation=tf.nn.relu6)
    model = keras([layer], (7, 6, 8))
    layer.kernel.assign(3 * np.random.default_rng(2).normal(size=layer.kernel.shape))
    rng = np.random.default_rng(111)
    tflite = int8_tflite(model, 10 * rng.normal(size=(32, 7, 6, 8)).astype(np.float32))
    inputs = quantized_inputs(tflite, 2 * rng.normal(size=(24, 7, 6, 8)).astype(np.float32)).reshape(24, -1)
    got, generated = run_c(tflite, inputs, tmp_path)
    np.testing.assert_array_equal(got, reference(tflite, inputs))
    assert len(np.unique(got)) > 100  # not a saturated output
    flags = re.findall(r"tinyml_dw3x3_run\(in, out, count, \w+, \d+, \d+L, \d+L, (\d),", generated.files["model_c.c"])
    assert flags == ["0"]


def test_clipped_window_shapes_are_unrolled_where_they_are_common() -> None:
    def fields(size: tuple[int, int], stride: int, pad: int, out: tuple[int, int]) -> dict[str, int]:
        return {"in_h": size[0], "in_w": size[1], "out_h": out[0], "out_w": out[1], "stride_h": stride,
                "stride_w": stride, "pad_h": pad, "pad_w": pad}

    # DS-CNN's 25x5 maps, SAME: 8 clipped shapes (the corners and edges), nearly half the pixels.
    assert border_shapes(fields((25, 5), 1, 1, (25, 5))) == [(3, 3), (3, 6), (3, 7), (6, 3), (6, 6), (6, 7),
                                                            (7, 3), (7, 6)]
    # Stride 2 from an even size: TFLite pads the bottom and right only.
    assert border_shapes(fields((6, 6), 2, 0, (3, 3))) == [(3, 3), (3, 7), (7, 3)]
    assert border_shapes(fields((48, 48), 1, 1, (48, 48))) == []  # a thin border: not worth the flash


def test_a_depthwise_separable_stack_matches_the_reference(tmp_path: Path) -> None:
    """DS-CNN's block (depthwise 3x3 + BN + ReLU, pointwise), twice, with a stride-2 depthwise in between."""
    layers = [tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
              tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
              tf.keras.layers.Conv2D(12, 1, activation="relu"),
              tf.keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu"),
              tf.keras.layers.Conv2D(8, 1), tf.keras.layers.GlobalAveragePooling2D()]
    model = check(keras(layers, (13, 11, 2)), (13, 11, 2), tmp_path, seed=120, samples=16)
    assert model.ops.count("DEPTHWISE_CONV_2D") == 2


# ------------------------------------------------------------------------------------ the requantization header

HARNESS = r"""
#include <stdio.h>
#include "tinyml_fixed_point.h"
/* Reads "x multiplier shift offset" lines; prints the general and the fast form, and (for shift in -22..-1) the
   right-shift form, which adds the output offset itself, less the offset. */
int main(void) {
  long x, m, s, offset;
  while (scanf("%ld %ld %ld %ld", &x, &m, &s, &offset) == 4) {
    const int32_t general = tinyml_multiply_by_quantized_multiplier((int32_t)x, (int32_t)m, (int)s);
    const int32_t fast = tinyml_multiply_by_quantized_multiplier_fast((int32_t)x, (int32_t)m, (int)s);
    const int32_t right = s < 0 && s >= -22 ? tinyml_requantize_right(
        (int32_t)x, (int32_t)m, (int)-s, tinyml_right_shift_addend((int)-s, (int32_t)offset)) - (int32_t)offset
        : fast;
    printf("%ld %ld %ld\n", (long)general, (long)fast, (long)right);
  }
  return 0;
}
"""


def tflite_multiply(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (the double-rounding reference), in Python integers."""
    left, right = max(shift, 0), max(-shift, 0)
    a = ((x << left) + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wrap, as TFLite on its targets
    if a == multiplier == -(1 << 31):
        high = (1 << 31) - 1
    else:
        ab = a * multiplier
        total = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
        high = total >> 31 if total >= 0 else -((-total) >> 31)  # int64 division truncates toward zero
    mask = (1 << right) - 1
    remainder, threshold = high & mask, (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if remainder > threshold else 0)


def test_requantization_fast_paths_give_tflites_integers(tmp_path: Path) -> None:
    for name, text in kernel_files().items():
        (tmp_path / name).write_text(text)
    (tmp_path / "harness.c").write_text(HARNESS)
    binary = tmp_path / "harness"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-o", str(binary),
                    str(tmp_path / "harness.c")], check=True, cwd=tmp_path)
    rng = np.random.default_rng(7)
    n = 20_000
    # Accumulator-sized values (the right-shift form's domain, |x| < 2^29), multipliers as quantize_multiplier
    # gives them ([2^30, 2^31)), shifts of either sign; plus the rounding ties and the extremes.
    xs = np.concatenate([rng.integers(-(1 << 29) + 1, 1 << 29, n), rng.integers(-3000, 3000, n)])
    ms = rng.integers(1 << 30, (1 << 31) - 1, 2 * n)
    shifts = rng.integers(-31, 8, 2 * n)
    edges = [(x, m, s) for x in (0, 1, -1, (1 << 29) - 1, -(1 << 29) + 1) for m in (1 << 30, (1 << 31) - 1)
             for s in (-31, -22, -12, -1, 0, 1)]
    triples = [(int(x), int(m), int(s)) for x, m, s in zip(xs, ms, shifts)] + edges
    # Ties: with m = 2^30 the high multiply halves x, so an odd x is a tie of the first rounding and
    # (2j + 1) * 2^e a tie of the second.
    triples += [(2 * k + 1, 1 << 30, -e) for k in range(-40, 40) for e in (1, 3, 9)]
    triples += [((2 * k + 1) << e, 1 << 30, -e) for k in range(-40, 40) for e in (1, 3, 9)]
    offsets = rng.integers(-128, 129, len(triples))  # the output offset the right-shift form folds in
    lines = "\n".join(f"{x} {m} {s} {o}" for (x, m, s), o in zip(triples, offsets))
    done = subprocess.run([str(binary)], input=lines, text=True, capture_output=True, check=True)
    got = np.array([[int(v) for v in line.split()] for line in done.stdout.splitlines()])
    expected = np.array([tflite_multiply(x, m, s) for x, m, s in triples])
    for column, form in enumerate(("general", "fast", "right-shift")):
        wrong = np.flatnonzero(got[:, column] != expected)
        assert not len(wrong), (form, [triples[i] for i in wrong[:5]], got[wrong[:5], column], expected[wrong[:5]])


def test_the_right_shift_form_is_chosen_only_where_it_is_exact() -> None:
    weights = np.full((9, 4), 127, dtype=np.int8)
    assert right_shifts_only(weights, np.zeros(4), [-3, -1, -7, -22])
    assert not right_shifts_only(weights, np.zeros(4), [-3, 0, -7, -20])  # a shift that is not negative
    assert not right_shifts_only(weights, np.zeros(4), [-3, -1, -23, -20])  # too large for the addend
    assert not right_shifts_only(weights, np.array([0, 1 << 29, 0, 0]), [-3, -1, -7, -20])  # a huge bias


# ------------------------------------------------------------------------------------------ on the Cortex-M4


def test_the_dsp_paths_on_the_virtual_board_match_the_reference(tmp_path: Path) -> None:
    """The kernels as the Cortex-M4 runs them (depthwise: SXTAB16, SMLABB/SMLATT, SSAT; pools: SSUB8/SEL, SXTAB16):
    BoardLink.check compares the board's outputs with the reference kernels' on the host."""
    from prerequisites import require_arm_tools

    require_arm_tools("arm-none-eabi-gcc", "qemu-system-arm")
    from jupyter_tinyml.firmware.c_target import generate_c
    from jupyter_tinyml.hardware.serial_link import BoardLink
    from jupyter_tinyml.hardware.virtual import image, qemu

    k = tf.keras.layers
    layers = [k.DepthwiseConv2D(3, padding="same", activation="relu"),
              k.DepthwiseConv2D(3, strides=2, padding="same"),
              k.MaxPooling2D(2, strides=1, padding="same"),
              k.DepthwiseConv2D((2, 3), padding="valid", activation="relu6"),
              k.AveragePooling2D(2, strides=1, padding="same"),
              k.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
              k.MaxPooling2D(3, strides=2, padding="same"),
              k.AveragePooling2D((3, 2)),
              k.Flatten(), k.Dense(3)]
    rng = np.random.default_rng(130)
    shape = (12, 10, 6)  # 6 and 12 channels: groups of 4 and leftover channels
    tflite = int8_tflite(keras(layers, shape), rng.normal(size=(32, *shape)).astype(np.float32))
    generated = generate_c(tflite)
    assert {"DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D"} <= set(generated.ops)
    built = image.build(generated, output_dir=tmp_path / "board", labels=["a", "b", "c"])
    assert built.ok, built.error_text()
    with qemu.flash(built) as board, BoardLink(board.port, board="virtual-cortex-m4", timeout=60) as link:
        result = link.check(tflite, 1.5 * rng.normal(size=(8, *shape)).astype(np.float32))
    assert result.max_abs_diff == 0 and result.agreement == 1.0
