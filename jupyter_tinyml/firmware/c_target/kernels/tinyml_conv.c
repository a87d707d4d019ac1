/* tinyml_conv.c — CONV_2D and FULLY_CONNECTED of the portable C target; TFLite's reference int8 semantics,
 * bit-exact. */
#include "tinyml_kernels.h"

#include "tinyml_fixed_point.h"

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

