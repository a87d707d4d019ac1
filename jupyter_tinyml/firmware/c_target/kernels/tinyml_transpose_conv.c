/* tinyml_transpose_conv.c — TRANSPOSE_CONV as reference_integer_ops::TransposeConv computes it, without its int32
 * scratch buffer: the reference scatters each input pixel into every output it touches; here each output gathers
 * the input pixels that touch it (out = in * stride - pad + tap, so in = (out + pad - tap) / stride when that
 * divides evenly). Every product is the same, and an int32 sum does not depend on its order, so the outputs are
 * identical while the RAM is only the output's. */
#include "tinyml_transpose_conv.h"

#include "tinyml_fixed_point.h"

void tinyml_transpose_conv(const tinyml_transpose_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output) {
  int oy, ox, oc, ky, kx, c;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      for (oc = 0; oc < p->out_c; ++oc) {
        int32_t acc = 0;
        for (ky = 0; ky < p->filter_h; ++ky) {
          const int ty = oy + p->pad_h - ky;
          int iy;
          if (ty < 0 || ty % p->stride_h != 0) continue;
          iy = ty / p->stride_h;
          if (iy >= p->in_h) continue;
          for (kx = 0; kx < p->filter_w; ++kx) {
            const int tx = ox + p->pad_w - kx;
            int ix;
            const int8_t *in_px, *taps;
            if (tx < 0 || tx % p->stride_w != 0) continue;
            ix = tx / p->stride_w;
            if (ix >= p->in_w) continue;
            in_px = input + ((long)iy * p->in_w + ix) * p->in_c;
            taps = filter + (((long)oc * p->filter_h + ky) * p->filter_w + kx) * p->in_c;
            for (c = 0; c < p->in_c; ++c) acc += ((int32_t)in_px[c] + p->input_offset) * taps[c];
          }
        }
        if (bias) acc += bias[oc];
        acc = tinyml_multiply_by_quantized_multiplier(acc, multiplier[oc], shift[oc]) + p->output_offset;
        *output++ = (int8_t)clamp32(acc, p->act_min, p->act_max);
      }
    }
  }
}
