/* tinyml_kernels.c — int8 kernels of jupyter-tinyml's portable C target; see tinyml_kernels.h.
 * Each loop follows TFLite's reference kernels (reference_integer_ops) so that the outputs are bit-exact. */
#include "tinyml_kernels.h"

#include <math.h>
#include <string.h>

static int32_t clamp32(int32_t value, int32_t low, int32_t high) {
  return value < low ? low : (value > high ? high : value);
}

/* gemmlowp's SaturatingRoundingDoublingHighMul. */
static int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  int64_t ab;
  int32_t nudge;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp's RoundingDivideByPOT: round half away from zero. */
static int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t tinyml_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  /* TFLite multiplies in int32 (wrapping on every target it runs on); the int64 product says the same
     without signed overflow in C. */
  const int32_t shifted = (int32_t)(uint32_t)((uint64_t)(int64_t)x << left_shift);
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift);
}

/* The single-rounding form (TFLITE_SINGLE_ROUNDING / the 64-bit path): one rounding of x * multiplier at bit
   31 - shift. LiteRT's reference FULLY_CONNECTED rounds this way; the convolutions round twice. */
static int32_t multiply_single_rounding(int32_t x, int32_t multiplier, int shift) {
  const int total_shift = 31 - shift;
  const int64_t round = (int64_t)1 << (total_shift - 1);
  const int64_t result = (int64_t)x * (int64_t)multiplier + round;
  return (int32_t)(result >> total_shift);
}

void tinyml_conv_2d(const tinyml_conv_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                    const int32_t *multiplier, const int32_t *shift, int8_t *output) {
  int oy, ox, oc, fy, fx, ic;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int in_y0 = oy * p->stride_h - p->pad_h;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int in_x0 = ox * p->stride_w - p->pad_w;
      for (oc = 0; oc < p->out_c; ++oc) {
        int32_t acc = 0;
        for (fy = 0; fy < p->filter_h; ++fy) {
          const int iy = in_y0 + fy;
          if (iy < 0 || iy >= p->in_h) continue;
          for (fx = 0; fx < p->filter_w; ++fx) {
            const int ix = in_x0 + fx;
            const int8_t *in_px;
            const int8_t *f_px;
            if (ix < 0 || ix >= p->in_w) continue;
            in_px = input + ((long)iy * p->in_w + ix) * p->in_c;
            f_px = filter + (((long)oc * p->filter_h + fy) * p->filter_w + fx) * p->in_c;
            for (ic = 0; ic < p->in_c; ++ic) {
              acc += ((int32_t)in_px[ic] + p->input_offset) * (int32_t)f_px[ic];
            }
          }
        }
        if (bias) acc += bias[oc];
        acc = tinyml_multiply_by_quantized_multiplier(acc, multiplier[oc], shift[oc]);
        acc += p->output_offset;
        output[((long)oy * p->out_w + ox) * p->out_c + oc] = (int8_t)clamp32(acc, p->act_min, p->act_max);
      }
    }
  }
}

void tinyml_depthwise_conv_2d(const tinyml_conv_params *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int8_t *output) {
  int oy, ox, ic, m, fy, fx;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int in_y0 = oy * p->stride_h - p->pad_h;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int in_x0 = ox * p->stride_w - p->pad_w;
      for (ic = 0; ic < p->in_c; ++ic) {
        for (m = 0; m < p->depth_multiplier; ++m) {
          const int oc = m + ic * p->depth_multiplier;
          int32_t acc = 0;
          for (fy = 0; fy < p->filter_h; ++fy) {
            const int iy = in_y0 + fy;
            if (iy < 0 || iy >= p->in_h) continue;
            for (fx = 0; fx < p->filter_w; ++fx) {
              const int ix = in_x0 + fx;
              if (ix < 0 || ix >= p->in_w) continue;
              acc += ((int32_t)input[((long)iy * p->in_w + ix) * p->in_c + ic] + p->input_offset)
                     * (int32_t)filter[((long)fy * p->filter_w + fx) * p->out_c + oc];
            }
          }
          if (bias) acc += bias[oc];
          acc = tinyml_multiply_by_quantized_multiplier(acc, multiplier[oc], shift[oc]);
          acc += p->output_offset;
          output[((long)oy * p->out_w + ox) * p->out_c + oc] = (int8_t)clamp32(acc, p->act_min, p->act_max);
        }
      }
    }
  }
}

void tinyml_fully_connected(const tinyml_fc_params *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *output) {
  int b, o, i;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_row = input + (long)b * p->in_n;
    for (o = 0; o < p->out_n; ++o) {
      const int8_t *f_row = filter + (long)o * p->in_n;
      const int q = p->per_channel ? o : 0;
      int32_t acc = 0;
      for (i = 0; i < p->in_n; ++i) {
        acc += ((int32_t)f_row[i] + p->filter_offset) * ((int32_t)in_row[i] + p->input_offset);
      }
      if (bias) acc += bias[o];
      acc = multiply_single_rounding(acc, multiplier[q], shift[q]);
      acc += p->output_offset;
      output[(long)b * p->out_n + o] = (int8_t)clamp32(acc, p->act_min, p->act_max);
    }
  }
}

/* The part of the pooling window that lies inside the input (TFLite clips the window, it does not pad). */
static void pool_window(const tinyml_pool_params *p, int oy, int ox, int *y0, int *y1, int *x0, int *x1) {
  const int in_y = oy * p->stride_h - p->pad_h;
  const int in_x = ox * p->stride_w - p->pad_w;
  *y0 = in_y < 0 ? 0 : in_y;
  *y1 = in_y + p->filter_h > p->in_h ? p->in_h : in_y + p->filter_h;
  *x0 = in_x < 0 ? 0 : in_x;
  *x1 = in_x + p->filter_w > p->in_w ? p->in_w : in_x + p->filter_w;
}

void tinyml_max_pool_2d(const tinyml_pool_params *p, const int8_t *input, int8_t *output) {
  int oy, ox, c, y, x, y0, y1, x0, x1;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
      for (c = 0; c < p->c; ++c) {
        int32_t best = -128;
        for (y = y0; y < y1; ++y) {
          for (x = x0; x < x1; ++x) {
            const int32_t value = input[((long)y * p->in_w + x) * p->c + c];
            if (value > best) best = value;
          }
        }
        output[((long)oy * p->out_w + ox) * p->c + c] = (int8_t)clamp32(best, p->act_min, p->act_max);
      }
    }
  }
}

void tinyml_average_pool_2d(const tinyml_pool_params *p, const int8_t *input, int8_t *output) {
  int oy, ox, c, y, x, y0, y1, x0, x1;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
      for (c = 0; c < p->c; ++c) {
        int32_t sum = 0, average;
        const int32_t count = (int32_t)((y1 - y0) * (x1 - x0));
        for (y = y0; y < y1; ++y) {
          for (x = x0; x < x1; ++x) sum += input[((long)y * p->in_w + x) * p->c + c];
        }
        if (count == 0) {
          average = 0;
        } else {
          average = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        }
        output[((long)oy * p->out_w + ox) * p->c + c] = (int8_t)clamp32(average, p->act_min, p->act_max);
      }
    }
  }
}

void tinyml_add(const tinyml_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
  int i;
  for (i = 0; i < p->size; ++i) {
    const int32_t shifted1 = ((int32_t)input1[i] + p->input1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t shifted2 = ((int32_t)input2[i] + p->input2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t scaled1 = tinyml_multiply_by_quantized_multiplier(shifted1, p->input1_multiplier, p->input1_shift);
    const int32_t scaled2 = tinyml_multiply_by_quantized_multiplier(shifted2, p->input2_multiplier, p->input2_shift);
    const int32_t raw = tinyml_multiply_by_quantized_multiplier(scaled1 + scaled2, p->output_multiplier,
                                                                p->output_shift) + p->output_offset;
    output[i] = (int8_t)clamp32(raw, p->act_min, p->act_max);
  }
}

void tinyml_mean_hw(const tinyml_mean_params *p, const int8_t *input, int8_t *output) {
  const int32_t count = (int32_t)p->h * p->w;
  int c, i;
  int32_t multiplier = p->multiplier;
  int shift = p->shift;
  if (!p->same_quantization) {
    /* QuantizedMeanOrSum folds 1/count into the multiplier: shift = floor(log2(count)), at most 32 and at most
       31 + shift, then multiplier * 2^shift / count. */
    int count_shift = 0;
    while (((int64_t)1 << (count_shift + 1)) <= (int64_t)count) ++count_shift;
    if (count_shift > 32) count_shift = 32;
    if (count_shift > 31 + shift) count_shift = 31 + shift;
    multiplier = (int32_t)(((int64_t)multiplier * ((int64_t)1 << count_shift)) / count);
    shift = shift - count_shift;
  }
  for (c = 0; c < p->c; ++c) {
    int32_t acc = 0, result;
    for (i = 0; i < count; ++i) acc += input[(long)i * p->c + c];
    if (p->same_quantization) {
      result = acc / count;  /* reference_ops::Mean: integer division, truncating */
    } else {
      result = tinyml_multiply_by_quantized_multiplier(acc - p->input_zero_point * count, multiplier, shift)
               + p->output_zero_point;
    }
    output[c] = (int8_t)clamp32(result, -128, 127);
  }
}

void tinyml_softmax(const tinyml_softmax_params *p, const int8_t *input, int8_t *output) {
  int o, i;
  for (o = 0; o < p->outer; ++o) {
    const int8_t *in_row = input + (long)o * p->depth;
    int8_t *out_row = output + (long)o * p->depth;
    int32_t largest = -128;
    float sum = 0.0f;
    for (i = 0; i < p->depth; ++i) {
      if (in_row[i] > largest) largest = in_row[i];
    }
    for (i = 0; i < p->depth; ++i) sum += expf(p->beta_times_input_scale * (float)(in_row[i] - largest));
    for (i = 0; i < p->depth; ++i) {
      const float probability = expf(p->beta_times_input_scale * (float)(in_row[i] - largest)) / sum;
      const int32_t q = (int32_t)floorf(probability * p->inverse_output_scale + 0.5f) + p->output_zero_point;
      out_row[i] = (int8_t)clamp32(q, -128, 127);
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

void tinyml_copy(const int8_t *input, int8_t *output, int size) {
  if (input != output) memmove(output, input, (size_t)size);
}
