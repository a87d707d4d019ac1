/* tinyml_conv_params.h — the parameters of CONV_2D and DEPTHWISE_CONV_2D, which their kernel files share. */
#ifndef TINYML_CONV_PARAMS_H_
#define TINYML_CONV_PARAMS_H_

#include <stdint.h>

typedef struct {
  int in_h, in_w, in_c;
  int out_h, out_w, out_c;
  int filter_h, filter_w;
  int stride_h, stride_w, pad_h, pad_w;
  int depth_multiplier;          /* depthwise only */
  int32_t input_offset, output_offset;
  int32_t act_min, act_max;
} tinyml_conv_params;

#endif /* TINYML_CONV_PARAMS_H_ */
