"""The activations lowered to C: every int8 -> int8 function of one value becomes a 256-byte table computed here, on
the host, and SOFTMAX runs in integer fixed point; the device runs no `expf` at all.

Why tables: an int8 input takes 256 values, so any elementwise int8 op is exactly a lookup. LiteRT's reference
resolver (BUILTIN_REF) itself computes LOGISTIC and TANH for int8 through such a table, filled in Prepare with
float `expf`/`tanhf` (activations.cc PopulateLookupTable; measured: identical on every input, while gemmlowp's
fixed-point logistic is not). RELU, RELU6, LEAKY_RELU and HARD_SWISH are integer kernels (reference_ops::ReluX,
QuantizeLeakyRelu, HardSwish), reproduced below bit for bit for each of the 256 inputs. The float tables call the C
library's own `expf`/`tanhf` through ctypes, as LiteRT does, so the entries are its entries, not numpy's (which may
differ by one ulp). SOFTMAX depends on a whole row, so it is no table: its int8 reference is reference_ops::Softmax,
integer arithmetic throughout (gemmlowp's fixed-point exp), run on the device with parameters from here. A float
table of exponentials (LiteRT's optimized path) gives the same outputs on all but ~1 in 20,000 values.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from ...errors import QuantizationError
from ...model.tflite import Tensor
from . import fixed_point
from .integer_math import (multiply_by_quantized_multiplier, rounding_divide_by_pot,
                           saturating_rounding_doubling_high_mul, trunc_div)
from .op_context import Lowerer, OpContext, check_int8, label, size

_F32 = np.float32
INT8_VALUES = range(-128, 128)


@lru_cache(maxsize=1)
def _libm() -> ctypes.CDLL:
    """The C math library LiteRT's kernels call (glibc's libm on Linux)."""
    library = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    for function in ("expf", "tanhf"):
        getattr(library, function).restype = ctypes.c_float
        getattr(library, function).argtypes = [ctypes.c_float]
    return library


def expf(x: np.float32) -> np.float32:
    return _F32(_libm().expf(float(x)))


def tanhf(x: np.float32) -> np.float32:
    return _F32(_libm().tanhf(float(x)))


def round_half_away(x: np.float32) -> int:
    """std::round on a float."""
    return int(math.copysign(math.floor(abs(float(x)) + 0.5), float(x)))


def _clamp8(value: int) -> int:
    return max(-128, min(127, value))


# ----------------------------------------------------------------------------------------- the tables


def float_table(data: Tensor, out: Tensor, transform: Callable[[np.float32], np.float32]) -> list[int]:
    """activations.cc PopulateLookupTable<int8_t>: dequantize in float, transform, round, requantize."""
    inverse_scale = _F32(1) / _F32(out.scale)
    table = []
    for value in INT8_VALUES:
        dequantized = _F32(data.scale) * _F32(value - data.zero_point)
        rescaled = round_half_away(transform(dequantized) * inverse_scale)
        table.append(_clamp8(rescaled + out.zero_point))
    return table


def logistic_table(data: Tensor, out: Tensor) -> list[int]:
    return float_table(data, out, lambda x: _F32(1) / (_F32(1) + expf(-x)))


def tanh_table(data: Tensor, out: Tensor) -> list[int]:
    return float_table(data, out, tanhf)


def relu_table(data: Tensor, out: Tensor, low: float | None, high: float | None) -> list[int]:
    """activations.cc QuantizedReluX -> reference_ops::ReluX: requantize by in/out scale, clamp to the bounds
    (zero_point + roundf(bound / scale), within int8)."""
    multiplier, shift = fixed_point.quantize_multiplier(data.scale / out.scale)

    def bound(value: float) -> int:
        return out.zero_point + round_half_away(_F32(value) / _F32(out.scale))

    act_min = -128 if low is None else max(-128, bound(low))
    act_max = 127 if high is None else min(127, bound(high))
    return [max(act_min, min(act_max, out.zero_point + multiply_by_quantized_multiplier(
        value - data.zero_point, multiplier, shift))) for value in INT8_VALUES]


def leaky_relu_table(data: Tensor, out: Tensor, alpha: float) -> list[int]:
    """activations.cc LeakyReluPrepare + reference_ops::QuantizeLeakyRelu: one multiplier for x >= 0, one for
    x < 0 (alpha times it; the product is formed in float)."""
    alpha_multiplier = fixed_point.quantize_multiplier(float(_F32(data.scale) * _F32(alpha) / _F32(out.scale)))
    identity = fixed_point.quantize_multiplier(data.scale / out.scale)
    table = []
    for value in INT8_VALUES:
        x = value - data.zero_point
        m, s = identity if x >= 0 else alpha_multiplier
        table.append(_clamp8(out.zero_point + multiply_by_quantized_multiplier(x, m, s)))
    return table


def _int16(x: int) -> int:
    return (x + (1 << 15)) % (1 << 16) - (1 << 15)


def _saturating_left_shift16(value: int, amount: int) -> int:
    return max(-(1 << 15), min((1 << 15) - 1, value * (1 << amount)))


def _downscale_to_int16(multiplier: int) -> int:
    """quantization_util DownScaleInt32ToInt16Multiplier."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


def hard_swish_table(data: Tensor, out: Tensor) -> list[int]:
    """activations.cc HardSwishPrepare + reference_ops::HardSwish<int8_t>, in int16 fixed point."""
    hires_input_scale = _F32(1.0 / 128.0) * _F32(data.scale)
    reluish_scale = _F32(3.0 / 32768.0)
    out_m, out_exp = fixed_point.quantize_multiplier(float(hires_input_scale / _F32(out.scale)))
    out_m16 = _downscale_to_int16(out_m)
    relu_m, relu_exp = fixed_point.quantize_multiplier(float(hires_input_scale / reluish_scale))
    relu_m16 = _downscale_to_int16(relu_m)
    if out_exp > 0:
        # The reference kernel's final RoundingDivideByPOT takes -exponent: it has no meaning for a left shift.
        raise QuantizationError(f"HARD_SWISH with an output scale ({out.scale:g}) below the input's / 128: TFLite's "
                                "int8 kernel cannot rescale up — convert the model again")
    table = []
    for value in INT8_VALUES:
        hires = _int16((value - data.zero_point) * 128)
        preshift = _int16(saturating_rounding_doubling_high_mul(hires, out_m16, bits=16))
        reluish = hires
        if relu_exp > 0:
            reluish = _saturating_left_shift16(reluish, relu_exp - 1)
        reluish = _int16(saturating_rounding_doubling_high_mul(reluish, relu_m16, bits=16))
        if relu_exp > 0:
            reluish = _saturating_left_shift16(reluish, 1)
        if relu_exp < 0:
            reluish = rounding_divide_by_pot(reluish, -relu_exp)
        reluish = _int16((reluish + (1 << 15)) >> 1)
        # SaturatingDoublingHighMul: rounds towards zero (no nudge).
        pre_out = (1 << 15) - 1 if reluish == preshift == -(1 << 15) else _int16(trunc_div(reluish * preshift,
                                                                                              1 << 15))
        table.append(_clamp8(_int16(rounding_divide_by_pot(pre_out, -out_exp) + out.zero_point)))
    return table


# ----------------------------------------------------------------------------------------- the lowerers


def emit_lookup(op: OpContext, table: list[int]) -> None:
    """One 256-byte table indexed by the input byte (entry 0 is input -128)."""
    name = op.emit.array("int8_t", f"{op.prefix}_table", table)
    op.emit.calls.append(f"  tinyml_lookup({name}, {op.input_pointers[0]}, {op.output_pointer}, {size(op.output)});")


def _unary(name: str, table: Callable[[OpContext, Tensor, Tensor], list[int]]) -> Lowerer:
    def lower_unary(op: OpContext) -> None:
        data, out = op.tensor(0), op.output
        check_int8(name, data, out)
        if size(data) != size(out) or len(data.scales) != 1 or len(out.scales) != 1:
            raise QuantizationError(f"{name} of {label(data)!r}: the C target runs it on per-tensor int8 "
                                    "activations of one shape")
        if data.data is not None:
            raise QuantizationError(f"{name} of a constant: convert again so that the converter folds it")
        emit_lookup(op, table(op, data, out))
    return lower_unary


def softmax_parameters(input_scale: float, beta: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) as activations.cc SoftmaxPrepare computes them for the
    reference kernel: PreprocessSoftmaxScaling with 5 integer bits, then -CalculateInputRadius."""
    integer_bits = 5
    real = min(float(_F32(beta)) * float(_F32(input_scale)) * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    multiplier, left_shift = fixed_point.quantize_multiplier(real)
    radius = math.floor(1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift))
    return multiplier, left_shift, -radius


def _softmax(op: OpContext) -> None:
    """reference_ops::Softmax, the path LiteRT's reference resolver takes for int8: gemmlowp's fixed-point exp and
    reciprocal on the device, every parameter from here."""
    data, out = op.tensor(0), op.output
    check_int8("SOFTMAX", data, out)
    if out.zero_point != -128 or _F32(out.scale) != _F32(1.0 / 256):
        raise QuantizationError(f"SOFTMAX with output scale {out.scale} and zero point {out.zero_point}: TFLite's "
                                "int8 SOFTMAX needs 1/256 and -128 — convert the model again")
    multiplier, left_shift, diff_min = softmax_parameters(data.scale, float(op.option("beta")))
    depth = data.shape[-1]
    op.emit.params("tinyml_softmax_params", f"{op.prefix}_params", {
        "outer": size(data) // depth, "depth": depth, "input_multiplier": multiplier,
        "input_left_shift": left_shift, "diff_min": diff_min})
    op.emit.calls.append(f"  tinyml_softmax(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")


LOWERERS: dict[str, Lowerer] = {
    "HARD_SWISH": _unary("HARD_SWISH", lambda op, d, o: hard_swish_table(d, o)),
    "LEAKY_RELU": _unary("LEAKY_RELU", lambda op, d, o: leaky_relu_table(d, o, float(op.option("alpha")))),
    "LOGISTIC": _unary("LOGISTIC", lambda op, d, o: logistic_table(d, o)),
    "RELU": _unary("RELU", lambda op, d, o: relu_table(d, o, 0.0, None)),
    "RELU6": _unary("RELU6", lambda op, d, o: relu_table(d, o, 0.0, 6.0)),
    "RELU_N1_TO_1": _unary("RELU_N1_TO_1", lambda op, d, o: relu_table(d, o, -1.0, 1.0)),
    "SOFTMAX": _softmax,
    "TANH": _unary("TANH", lambda op, d, o: tanh_table(d, o)),
}
