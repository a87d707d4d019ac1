/* tinyml_ops.c — the other ops of the portable C target; TFLite's reference int8 semantics (LiteRT BUILTIN_REF). */
#include "tinyml_kernels.h"

#include "tinyml_fixed_point.h"

#include <string.h>

void tinyml_lookup(const int8_t *table, const int8_t *input, int8_t *output, int size) {
  int i;
  for (i = 0; i < size; ++i) output[i] = table[(uint8_t)(input[i] + 128)];
}

/* ---- gemmlowp's fixed-point exp and reciprocal (fixedpoint.h), as TFLite's reference SOFTMAX uses them. A value
 * "Qn" has n integer bits and 31 - n fractional bits in an int32. Sums wrap as gemmlowp's raw additions do. */

static inline int32_t add_wrap(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

/* SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0. */
static inline int32_t saturating_shift_left(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)(((int32_t)1 << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), Q0 in and out: a Taylor expansion around -1/8. */
static int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
  const int32_t constant_term = 1895147668;   /* exp(-1/8) */
  const int32_t constant_1_over_3 = 715827883;
  const int32_t x = add_wrap(a, (int32_t)1 << 28);
  const int32_t x2 = saturating_rounding_doubling_high_mul(x, x);
  const int32_t x3 = saturating_rounding_doubling_high_mul(x2, x);
  const int32_t x4 = saturating_rounding_doubling_high_mul(x2, x2);
  const int32_t x4_over_4 = rounding_divide_by_pot(x4, 2);
  const int32_t poly = rounding_divide_by_pot(
      add_wrap(saturating_rounding_doubling_high_mul(add_wrap(x4_over_4, x3), constant_1_over_3), x2), 1);
  return add_wrap(constant_term, saturating_rounding_doubling_high_mul(constant_term, add_wrap(x, poly)));
}

/* exp(a) for a <= 0 given in Q5 (SOFTMAX's kScaledDiffIntegerBits), result Q0: exp of a mod 1/4, then one
 * multiplication by exp(-2^k) per set bit k of the rest (the barrel shifter). */
static int32_t exp_on_negative_values_q5(int32_t a) {
  static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t one_quarter = (int32_t)1 << 24;
  const int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter;
  const int32_t remainder = (int32_t)((uint32_t)a_mod_quarter_minus_one_quarter - (uint32_t)a);
  int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
      saturating_shift_left(a_mod_quarter_minus_one_quarter, 5));
  int k;
  for (k = 0; k < 7; ++k) {
    if (remainder & ((int32_t)1 << (24 + k))) result = saturating_rounding_doubling_high_mul(result, multipliers[k]);
  }
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0 in and out: Newton-Raphson, three steps in Q2. */
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);  /* RoundingHalfSum */
  int32_t x = add_wrap(1515870810, saturating_rounding_doubling_high_mul(half_denominator, -1010580540));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = saturating_rounding_doubling_high_mul(half_denominator, x);
    const int32_t one_minus = (int32_t)(((uint32_t)1 << 29) - (uint32_t)half_denominator_times_x);
    x = add_wrap(x, saturating_shift_left(saturating_rounding_doubling_high_mul(x, one_minus), 2));
  }
  return saturating_shift_left(x, 1);
}

static inline int count_leading_zeros(uint32_t x) {
#if defined(__GNUC__)
  return x == 0 ? 32 : __builtin_clz(x);
#else
  int n = 0;
  while (n < 32 && !(x & 0x80000000u)) { x <<= 1; ++n; }
  return n;
#endif
}

void tinyml_softmax(const tinyml_softmax_params *p, const int8_t *input, int8_t *output) {
  int o, i;
  for (o = 0; o < p->outer; ++o) {
    const int8_t *in_row = input + (long)o * p->depth;
    int8_t *out_row = output + (long)o * p->depth;
    int32_t largest = -128, sum_of_exps = 0, shifted_scale;
    int headroom, num_bits_over_unit;
    for (i = 0; i < p->depth; ++i) {
      if (in_row[i] > largest) largest = in_row[i];
    }
    for (i = 0; i < p->depth; ++i) {
      const int32_t diff = (int32_t)in_row[i] - largest;
      if (diff >= p->diff_min) {
        const int32_t scaled = saturating_rounding_doubling_high_mul(diff * ((int32_t)1 << p->input_left_shift),
                                                                     p->input_multiplier);
        /* Q0 -> Q12 (kAccumulationIntegerBits): room for up to 4096 ones. */
        sum_of_exps = add_wrap(sum_of_exps, rounding_divide_by_pot(exp_on_negative_values_q5(scaled), 12));
      }
    }
    /* GetReciprocal: the sum as 1 + x with x in [0, 1) times 2^num_bits_over_unit. */
    headroom = count_leading_zeros((uint32_t)sum_of_exps);
    num_bits_over_unit = 12 - headroom;
    shifted_scale = one_over_one_plus_x_for_x_in_0_1(
        (int32_t)(((uint32_t)sum_of_exps << headroom) - ((uint32_t)1 << 31)));
    for (i = 0; i < p->depth; ++i) {
      const int32_t diff = (int32_t)in_row[i] - largest;
      int32_t q = -128;
      if (diff >= p->diff_min) {
        const int32_t scaled = saturating_rounding_doubling_high_mul(diff * ((int32_t)1 << p->input_left_shift),
                                                                     p->input_multiplier);
        const int32_t exp_q0 = exp_on_negative_values_q5(scaled);
        q = clamp32(rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted_scale, exp_q0),
                                           num_bits_over_unit + 31 - 8) - 128, -128, 127);
      }
      out_row[i] = (int8_t)q;
    }
  }
}

/* MultiplyByQuantizedMultiplier for a multiplier >= 0 and a right shift (shift <= 0), the case of every ADD/SUB/MUL
 * output: no left shift to branch over. */
static inline int32_t requantize_right(int32_t x, int32_t multiplier, int shift) {
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -shift);
}

static inline int32_t binary_one(const tinyml_binary_params *p, const int32_t *table1, const int32_t *table2,
                                 int8_t x1, int8_t x2) {
  int32_t raw;
  if (p->kind == 2) {  /* MUL: reference_integer_ops::MulElementwise */
    raw = tinyml_multiply_by_quantized_multiplier(((int32_t)x1 + p->input1_offset) * ((int32_t)x2 + p->input2_offset),
                                                  p->output_multiplier, p->output_shift);
  } else {             /* ADD, SUB: both inputs at twice the larger scale, 20 bits up (the tables) */
    const int32_t sum = p->kind == 0 ? table1[(uint8_t)(x1 + 128)] + table2[(uint8_t)(x2 + 128)]
                                     : table1[(uint8_t)(x1 + 128)] - table2[(uint8_t)(x2 + 128)];
    raw = p->output_shift <= 0 ? requantize_right(sum, p->output_multiplier, p->output_shift)
                               : tinyml_multiply_by_quantized_multiplier(sum, p->output_multiplier, p->output_shift);
  }
  return clamp32(raw + p->output_offset, p->act_min, p->act_max);
}

void tinyml_binary(const tinyml_binary_params *p, const int32_t *table1, const int32_t *table2,
                   const int8_t *input1, const int8_t *input2, int8_t *output) {
  int a, b, c, d;
  if (p->contiguous) {
    const int n = p->shape[0] * p->shape[1] * p->shape[2] * p->shape[3];
    if (p->kind == 0 && p->output_shift <= 0) {
      /* The residual ADD of ResNets, its own tight loop: the parameters in locals (an int8_t store may alias
         *p, so the compiler would reload them per element), gemmlowp's rounding high multiply as one 64-bit
         floor shift (exact for a multiplier >= 0: trunc((ab + 1 - 2^30) / 2^31) = floor((ab + 2^30) / 2^31) when
         ab < 0), and RoundingDivideByPOT with its mask and half hoisted. */
      const int32_t multiplier = p->output_multiplier, offset = p->output_offset;
      const int32_t low = p->act_min, high = p->act_max;
      const int right = -p->output_shift;
      const int32_t mask = (int32_t)((1u << right) - 1u), half = mask >> 1;
      for (a = 0; a < n; ++a) {
        const int32_t sum = table1[(uint8_t)(input1[a] + 128)] + table2[(uint8_t)(input2[a] + 128)];
        const int32_t scaled = (int32_t)(((int64_t)sum * multiplier + ((int64_t)1 << 30)) >> 31);
        const int32_t q = (scaled >> right) + ((scaled & mask) > half + (scaled < 0)) + offset;
        output[a] = (int8_t)(q < low ? low : (q > high ? high : q));
      }
    } else {
      for (a = 0; a < n; ++a) output[a] = (int8_t)binary_one(p, table1, table2, input1[a], input2[a]);
    }
    return;
  }
  for (a = 0; a < p->shape[0]; ++a) {
    for (b = 0; b < p->shape[1]; ++b) {
      for (c = 0; c < p->shape[2]; ++c) {
        const int8_t *row1 = input1 + a * p->stride1[0] + b * p->stride1[1] + c * p->stride1[2];
        const int8_t *row2 = input2 + a * p->stride2[0] + b * p->stride2[1] + c * p->stride2[2];
        for (d = 0; d < p->shape[3]; ++d) {
          *output++ = (int8_t)binary_one(p, table1, table2, row1[d * p->stride1[3]], row2[d * p->stride2[3]]);
        }
      }
    }
  }
}

void tinyml_mean(const tinyml_reduce_params *p, const int8_t *input, int8_t *output) {
  int o, i, k;
  for (o = 0; o < p->outer; ++o) {
    const int8_t *block = input + (long)o * p->count * p->inner;
    for (i = 0; i < p->inner; ++i) {
      int32_t acc = 0, result;
      for (k = 0; k < p->count; ++k) acc += block[(long)k * p->inner + i];
      if (p->same_quantization) {
        result = acc / p->count;  /* reference_ops::Mean: integer division, truncating */
      } else {
        result = tinyml_multiply_by_quantized_multiplier(acc - p->input_zero_point * p->count, p->multiplier,
                                                         p->shift) + p->output_zero_point;
      }
      *output++ = (int8_t)clamp32(result, -128, 127);
    }
  }
}

void tinyml_reduce_max(const tinyml_reduce_params *p, const int8_t *input, int8_t *output) {
  int o, i, k;
  for (o = 0; o < p->outer; ++o) {
    const int8_t *block = input + (long)o * p->count * p->inner;
    for (i = 0; i < p->inner; ++i) {
      int8_t largest = -128;
      for (k = 0; k < p->count; ++k) {
        if (block[(long)k * p->inner + i] > largest) largest = block[(long)k * p->inner + i];
      }
      *output++ = largest;
    }
  }
}

void tinyml_requantize(const tinyml_requantize_params *p, const int8_t *input, int8_t *output) {
  int i;
  for (i = 0; i < p->size; ++i) {
    const int32_t value = tinyml_multiply_by_quantized_multiplier((int32_t)input[i] - p->input_zero_point,
                                                                  p->multiplier, p->shift)
                          + p->output_zero_point;
    output[i] = (int8_t)clamp32(value, -128, 127);
  }
}

void tinyml_concatenation(const int8_t *const *parts, const int *rows, int count, int outer, int8_t *output) {
  int o, i;
  for (o = 0; o < outer; ++o) {
    for (i = 0; i < count; ++i) {
      memcpy(output, parts[i] + (long)o * rows[i], (size_t)rows[i]);
      output += rows[i];
    }
  }
}

void tinyml_pad(const tinyml_pad_params *p, const int8_t *input, int8_t *output) {
  int a, b, c;
  const int depth = p->out_shape[3];
  for (a = 0; a < p->out_shape[0]; ++a) {
    const int ia = a - p->before[0];
    for (b = 0; b < p->out_shape[1]; ++b) {
      const int ib = b - p->before[1];
      for (c = 0; c < p->out_shape[2]; ++c) {
        const int ic = c - p->before[2];
        if (ia < 0 || ia >= p->in_shape[0] || ib < 0 || ib >= p->in_shape[1] || ic < 0 || ic >= p->in_shape[2]) {
          memset(output, (int)p->value, (size_t)depth);
        } else {
          const int8_t *row = input + (((long)ia * p->in_shape[1] + ib) * p->in_shape[2] + ic) * p->in_shape[3];
          const int after = depth - p->before[3] - p->in_shape[3];
          memset(output, (int)p->value, (size_t)p->before[3]);
          memcpy(output + p->before[3], row, (size_t)p->in_shape[3]);
          memset(output + p->before[3] + p->in_shape[3], (int)p->value, (size_t)after);
        }
        output += depth;
      }
    }
  }
}

void tinyml_transpose(const tinyml_transpose_params *p, const int8_t *input, int8_t *output) {
  int a, b, c, d;
  for (a = 0; a < p->shape[0]; ++a) {
    for (b = 0; b < p->shape[1]; ++b) {
      for (c = 0; c < p->shape[2]; ++c) {
        const int8_t *row = input + (long)a * p->stride[0] + (long)b * p->stride[1] + (long)c * p->stride[2];
        for (d = 0; d < p->shape[3]; ++d) *output++ = row[(long)d * p->stride[3]];
      }
    }
  }
}

void tinyml_copy(const int8_t *input, int8_t *output, int size) {
  if (input != output) memmove(output, input, (size_t)size);
}
