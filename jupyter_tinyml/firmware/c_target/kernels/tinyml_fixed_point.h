/* tinyml_fixed_point.h — TFLite's fixed-point requantization (quantization_util / common.h), inline so that each
 * kernel's inner loop can keep it in registers. Shared by every kernel file. */
#ifndef TINYML_FIXED_POINT_H_
#define TINYML_FIXED_POINT_H_

#include <stdint.h>

static inline int32_t clamp32(int32_t value, int32_t low, int32_t high) {
  return value < low ? low : (value > high ? high : value);
}

/* gemmlowp's SaturatingRoundingDoublingHighMul without its one saturating case (a == b == INT32_MIN, which a
   multiplier from Prepare, >= 0, never is): the same integers for every other a and b. gemmlowp adds a nudge of
   2^30 (or 1 - 2^30 when ab < 0) and divides by 2^31 truncating toward zero; for ab < 0,
   trunc((ab + 1 - 2^30) / 2^31) = floor((ab + 2^30) / 2^31), so both signs are one floor shift: SMULL, a 64-bit add
   and a shift on the Cortex-M4, no branch. (>> of a negative value is arithmetic on every compiler the project
   uses.) */
static inline int32_t tinyml_doubling_high_mul(int32_t a, int32_t b) {
  return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp's SaturatingRoundingDoublingHighMul. */
static inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  return tinyml_doubling_high_mul(a, b);
}

/* gemmlowp's RoundingDivideByPOT: round half away from zero; exponent in [0, 31] (TFLite asserts it). */
static inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)((1u << exponent) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t tinyml_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  /* TFLite multiplies in int32 (wrapping on every target it runs on); the int64 product says the same
     without signed overflow in C. */
  const int32_t shifted = (int32_t)(uint32_t)((uint64_t)(int64_t)x << left_shift);
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift);
}

/* MultiplyByQuantizedMultiplier for a multiplier in [0, 2^31) — every multiplier quantize_multiplier gives — with a
   fast path per shift sign: a left shift needs no rounding division, a right shift no left shift. The same integers
   as tinyml_multiply_by_quantized_multiplier (tests/test_c_target_depthwise.py compares them). */
static inline int32_t tinyml_multiply_by_quantized_multiplier_fast(int32_t x, int32_t multiplier, int shift) {
  if (shift > 0) return tinyml_doubling_high_mul((int32_t)((uint32_t)x << shift), multiplier);
  return rounding_divide_by_pot(tinyml_doubling_high_mul(x, multiplier), -shift);
}

/* The right-shift case (shift = -right_shift < 0) with the output offset, in 7 instructions on the Cortex-M4 and no
   branch: returns MultiplyByQuantizedMultiplier(x, multiplier, -right_shift) + offset, given
   addend = 2^(right_shift - 1) + offset * 2^right_shift (tinyml_right_shift_addend; a generator stores it per
   channel). Exact for |x| < 2^29 (an accumulator of int8 products whose bias is not absurd; the generator checks),
   1 <= right_shift <= 22 and |offset| <= 128:
   - gemmlowp's SaturatingRoundingDoublingHighMul is y = (x * m + 2^30) >> 31 (tinyml_doubling_high_mul), which is
     SMMULR's (2x * m + 2^31) >> 32 for the doubled x;
   - its RoundingDivideByPOT is (y + 2^(e-1) - [y < 0]) >> e, and adding offset * 2^e before the floor shift adds
     offset after it; [y < 0] may be read as [x < 0] since m >= 0 (where they differ y = 0, and both give 0). */
static inline int32_t tinyml_right_shift_addend(int right_shift, int32_t offset) {
  return (int32_t)((1u << (right_shift - 1)) + (uint32_t)offset * (1u << right_shift));
}

static inline int32_t tinyml_requantize_right(int32_t x, int32_t multiplier, int right_shift, int32_t addend) {
  int32_t high;
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
  __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"((int32_t)((uint32_t)x << 1)), "r"(multiplier));
#else
  high = tinyml_doubling_high_mul(x, multiplier);
#endif
  return (high + addend - (int32_t)((uint32_t)x >> 31)) >> right_shift;
}

/* The single-rounding form (TFLITE_SINGLE_ROUNDING / the 64-bit path): one rounding of x * multiplier at bit
   31 - shift. LiteRT's reference FULLY_CONNECTED rounds this way; the convolutions round twice. */
static inline int32_t multiply_single_rounding(int32_t x, int32_t multiplier, int shift) {
  const int total_shift = 31 - shift;
  const int64_t round = (int64_t)1 << (total_shift - 1);
  const int64_t result = (int64_t)x * (int64_t)multiplier + round;
  return (int32_t)(result >> total_shift);
}

#endif /* TINYML_FIXED_POINT_H_ */
