/* tinyml_conv.h — CONV_2D and FULLY_CONNECTED. */
#ifndef TINYML_CONV_H_
#define TINYML_CONV_H_

#include <stdint.h>
#include "tinyml_conv_params.h"

/* filter [out_c][filter_h][filter_w][in_c]; per-channel multiplier/shift of length out_c; bias may be 0. */
void tinyml_conv_2d(const tinyml_conv_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                    const int32_t *multiplier, const int32_t *shift, int8_t *output);
typedef struct {
  int batches, in_n, out_n;
  int32_t input_offset, filter_offset, output_offset;
  int per_channel;               /* 0: multiplier[0]/shift[0] for every output */
  int32_t act_min, act_max;
} tinyml_fc_params;

/* filter [out_n][in_n]; bias may be 0. */
void tinyml_fully_connected(const tinyml_fc_params *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *output);

#endif /* TINYML_CONV_H_ */
