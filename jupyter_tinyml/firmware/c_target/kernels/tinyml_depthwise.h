/* tinyml_depthwise.h — DEPTHWISE_CONV_2D and the pooling ops. */
#ifndef TINYML_DEPTHWISE_H_
#define TINYML_DEPTHWISE_H_

#include <stdint.h>
#include "tinyml_conv_params.h"
#include "tinyml_depthwise_dm1.h" /* depth multiplier 1: the fast kernel and its inline 3x3 run */

/* filter [1][filter_h][filter_w][out_c], out_c = in_c * depth_multiplier. */
void tinyml_depthwise_conv_2d(const tinyml_conv_params *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int8_t *output);

typedef struct {
  int in_h, in_w, c, out_h, out_w;
  int filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
  int32_t act_min, act_max;
} tinyml_pool_params;

void tinyml_max_pool_2d(const tinyml_pool_params *p, const int8_t *input, int8_t *output);
void tinyml_average_pool_2d(const tinyml_pool_params *p, const int8_t *input, int8_t *output);

#endif /* TINYML_DEPTHWISE_H_ */
