/* tinyml_depthwise.c — DEPTHWISE_CONV_2D and pooling of the portable C target; TFLite's reference int8
 * semantics, bit-exact. */
#include "tinyml_kernels.h"

#include <string.h>

#include "tinyml_depthwise_simd.h"
#include "tinyml_fixed_point.h"

/* The general kernel (any depth multiplier; depth multiplier 1 takes tinyml_depthwise_dm1.c): the window's valid
 * rows and columns are found once per output pixel, so no tap tests a bound (TFLite skips the taps in the padding). */
void tinyml_depthwise_conv_2d(const tinyml_conv_params *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int8_t *output) {
  const long filter_row = (long)p->filter_w * p->out_c, in_row = (long)p->in_w * p->in_c;
  int oy, ox, ic, m, fy, fx;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int in_y0 = oy * p->stride_h - p->pad_h;
    const int fy0 = in_y0 < 0 ? -in_y0 : 0;
    const int fy1 = in_y0 + p->filter_h > p->in_h ? p->in_h - in_y0 : p->filter_h;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int in_x0 = ox * p->stride_w - p->pad_w;
      const int fx0 = in_x0 < 0 ? -in_x0 : 0;
      const int fx1 = in_x0 + p->filter_w > p->in_w ? p->in_w - in_x0 : p->filter_w;
      int8_t *out = output + ((long)oy * p->out_w + ox) * p->out_c;
      for (ic = 0; ic < p->in_c; ++ic) {
        for (m = 0; m < p->depth_multiplier; ++m) {
          const int oc = m + ic * p->depth_multiplier;
          int32_t acc = bias ? bias[oc] : 0;
          for (fy = fy0; fy < fy1; ++fy) {
            /* the row's first valid tap: an address inside the input */
            const int8_t *in = input + (in_y0 + fy) * in_row + (long)(in_x0 + fx0) * p->in_c + ic;
            const int8_t *w = filter + fy * filter_row + (long)fx0 * p->out_c + oc;
            for (fx = 0; fx < fx1 - fx0; ++fx) {
              acc += ((int32_t)in[(long)fx * p->in_c] + p->input_offset) * (int32_t)w[(long)fx * p->out_c];
            }
          }
          acc = tinyml_multiply_by_quantized_multiplier_fast(acc, multiplier[oc], shift[oc]) + p->output_offset;
          out[oc] = (int8_t)clamp32(acc, p->act_min, p->act_max);
        }
      }
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

/* TFLite's rounded average of an average pool's window, clamped to the activation. */
static int8_t pool_average(int32_t sum, int32_t count, const tinyml_pool_params *p) {
  int32_t average = 0;
  if (count != 0) average = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
  return (int8_t)clamp32(average, p->act_min, p->act_max);
}

/* Both pools take channels innermost, 4 at a time where the Cortex-M4's SIMD applies: one word load gives 4
 * channels of a window pixel (the old loop went channel by channel, strided). */
void tinyml_max_pool_2d(const tinyml_pool_params *p, const int8_t *input, int8_t *output) {
  int oy, ox, c, y, x, y0, y1, x0, x1;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      int8_t *out = output + ((long)oy * p->out_w + ox) * p->c;
      pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
      c = 0;
#if TINYML_DW_SIMD
      /* SSUB8 sets a GE flag per byte where the new value is >= the best so far, SEL takes those bytes: a signed
         byte-wise max of 4 channels in 2 instructions. The activation clamp is the same max and min, then a store. */
      for (; c + 4 <= p->c; c += 4) {
        uint32_t best = 0x80808080u, bytes, low, high;
        for (y = y0; y < y1; ++y) {
          for (x = x0; x < x1; ++x) {
            memcpy(&bytes, input + ((long)y * p->in_w + x) * p->c + c, 4);
            __ssub8(bytes, best);
            best = __sel(bytes, best);
          }
        }
        low = (uint32_t)(uint8_t)p->act_min * 0x01010101u;
        high = (uint32_t)(uint8_t)p->act_max * 0x01010101u;
        __ssub8(best, low);
        best = __sel(best, low);
        __ssub8(high, best);
        best = __sel(best, high);
        memcpy(out + c, &best, 4);
      }
#endif
      for (; c < p->c; ++c) {
        int32_t best = -128;
        for (y = y0; y < y1; ++y) {
          for (x = x0; x < x1; ++x) {
            const int32_t value = input[((long)y * p->in_w + x) * p->c + c];
            if (value > best) best = value;
          }
        }
        out[c] = (int8_t)clamp32(best, p->act_min, p->act_max);
      }
    }
  }
}

void tinyml_average_pool_2d(const tinyml_pool_params *p, const int8_t *input, int8_t *output) {
  int oy, ox, c, y, x, y0, y1, x0, x1;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      int8_t *out = output + ((long)oy * p->out_w + ox) * p->c;
      int32_t count;
      pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
      count = (int32_t)((y1 - y0) * (x1 - x0));
      c = 0;
#if TINYML_DW_SIMD
      /* SXTAB16 adds 2 sign-extended bytes into 2 16-bit sums: exact while a window holds at most 256 values
         (256 * -128 = -32768 still fits), which the 4 sums of a word then share 2 instructions per pixel. */
      if (count <= 256) {
        for (; c + 4 <= p->c; c += 4) {
          uint32_t even = 0, odd = 0, bytes;
          for (y = y0; y < y1; ++y) {
            for (x = x0; x < x1; ++x) {
              memcpy(&bytes, input + ((long)y * p->in_w + x) * p->c + c, 4);
              even = (uint32_t)__sxtab16(even, bytes);
              odd = tinyml_sxtab16_ror8(odd, bytes);
            }
          }
          out[c] = pool_average((int16_t)(even & 0xFFFFu), count, p);
          out[c + 1] = pool_average((int16_t)(odd & 0xFFFFu), count, p);
          out[c + 2] = pool_average((int16_t)(even >> 16), count, p);
          out[c + 3] = pool_average((int16_t)(odd >> 16), count, p);
        }
      }
#endif
      for (; c < p->c; ++c) {
        int32_t sum = 0;
        for (y = y0; y < y1; ++y) {
          for (x = x0; x < x1; ++x) sum += input[((long)y * p->in_w + x) * p->c + c];
        }
        out[c] = pool_average(sum, count, p);
      }
    }
  }
}
