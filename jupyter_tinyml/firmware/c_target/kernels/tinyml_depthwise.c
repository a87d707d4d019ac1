/* tinyml_depthwise.c — DEPTHWISE_CONV_2D and pooling of the portable C target; TFLite's reference int8
 * semantics, bit-exact. */
#include "tinyml_kernels.h"

#include "tinyml_fixed_point.h"

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

