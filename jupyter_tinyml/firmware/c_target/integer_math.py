"""gemmlowp's and TFLite's integer helpers in Python, bit for bit: what the generator needs to compute a kernel's
results on the host (an activation's 256-entry table, an ADD input's rescaled values). Pure functions on Python
ints; int32 wrapping is explicit where TFLite's C++ wraps."""
from __future__ import annotations


def _wrap32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def trunc_div(a: int, b: int) -> int:
    """C's integer division (towards zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def saturating_rounding_doubling_high_mul(a: int, b: int, bits: int = 32) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul for int32 (bits=32) or int16 (bits=16)."""
    low = -(1 << (bits - 1))
    if a == b == low:
        return -low - 1
    ab = a * b
    nudge = (1 << (bits - 2)) if ab >= 0 else 1 - (1 << (bits - 2))
    return trunc_div(ab + nudge, 1 << (bits - 1))


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT: round half away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (the double-rounding form, tinyml_fixed_point.h's)."""
    shifted = _wrap32(x << max(shift, 0))
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), max(-shift, 0))
