/* tinyml_transpose_conv.h — TRANSPOSE_CONV (Conv2DTranspose), its own kernel. */
#ifndef TINYML_TRANSPOSE_CONV_H_
#define TINYML_TRANSPOSE_CONV_H_

#include <stdint.h>

/* Its own parameters (not tinyml_conv_params, which the convolutions are free to reshape for speed). */
typedef struct {
  int in_h, in_w, in_c;
  int out_h, out_w, out_c;
  int filter_h, filter_w;
  int stride_h, stride_w, pad_h, pad_w;
  int32_t input_offset, output_offset;
  int32_t act_min, act_max;
} tinyml_transpose_conv_params;

/* filter [out_c][filter_h][filter_w][in_c]; per-channel multiplier/shift of length out_c; bias may be 0. */
void tinyml_transpose_conv(const tinyml_transpose_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output);

#endif /* TINYML_TRANSPOSE_CONV_H_ */
