"""TFLite's host-side quantization arithmetic, reproduced bit for bit: what its kernels compute in Prepare.

quantization_util.cc QuantizeMultiplier and kernel_util.cc CalculateActivationRangeQuantized; pure functions.
"""
from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
# TFLite's fused activations (schema ActivationFunctionType).
ACTIVATION_NONE, ACTIVATION_RELU, ACTIVATION_RELU_N1_TO_1, ACTIVATION_RELU6 = 0, 1, 2, 3


def _round_half_away(value: float) -> int:
    """std::round: halves go away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(int32 multiplier, shift) with real ≈ multiplier * 2**(shift - 31), as TFLite's QuantizeMultiplier."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    fixed = _round_half_away(fraction * (1 << 31))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        shift, fixed = 0, 0
    return int(fixed), int(shift)


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """(act_min, act_max) for an int8 output, as CalculateActivationRangeQuantized (float32 division)."""
    def quantize(x: float) -> int:
        return zero_point + _round_half_away(float(np.float32(x) / np.float32(scale)))

    if activation == ACTIVATION_RELU:
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == ACTIVATION_RELU6:
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == ACTIVATION_RELU_N1_TO_1:
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    if activation == ACTIVATION_NONE:
        return INT8_MIN, INT8_MAX
    raise ValueError(f"unknown fused activation {activation}")


def compute_padding(stride: int, in_size: int, filter_size: int, out_size: int) -> int:
    """TFLite's ComputePaddingWithOffset (dilation 1): the leading padding; the odd extra pixel goes last."""
    total = (out_size - 1) * stride + filter_size - in_size
    return max(total, 0) // 2


def output_size(same: bool, in_size: int, filter_size: int, stride: int) -> int:
    """TFLite's ComputeOutSize for SAME or VALID padding (dilation 1)."""
    if same:
        return (in_size + stride - 1) // stride
    return (in_size - filter_size + stride) // stride
