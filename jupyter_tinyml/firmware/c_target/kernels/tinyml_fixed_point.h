/* tinyml_fixed_point.h — TFLite's fixed-point requantization (quantization_util / common.h), inline so that each
 * kernel's inner loop can keep it in registers. Shared by every kernel file. */
#ifndef TINYML_FIXED_POINT_H_
#define TINYML_FIXED_POINT_H_

#include <stdint.h>

static inline int32_t clamp32(int32_t value, int32_t low, int32_t high) {
  return value < low ? low : (value > high ? high : value);
}

/* gemmlowp's SaturatingRoundingDoublingHighMul. */
static inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  int64_t ab;
  int32_t nudge;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp's RoundingDivideByPOT: round half away from zero. */
static inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
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

/* The single-rounding form (TFLITE_SINGLE_ROUNDING / the 64-bit path): one rounding of x * multiplier at bit
   31 - shift. LiteRT's reference FULLY_CONNECTED rounds this way; the convolutions round twice. */
static inline int32_t multiply_single_rounding(int32_t x, int32_t multiplier, int shift) {
  const int total_shift = 31 - shift;
  const int64_t round = (int64_t)1 << (total_shift - 1);
  const int64_t result = (int64_t)x * (int64_t)multiplier + round;
  return (int32_t)(result >> total_shift);
}

#endif /* TINYML_FIXED_POINT_H_ */
