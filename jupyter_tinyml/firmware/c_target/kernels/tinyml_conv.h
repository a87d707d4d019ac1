/* tinyml_conv.h — CONV_2D and FULLY_CONNECTED. */
#ifndef TINYML_CONV_H_
#define TINYML_CONV_H_

#include <stdint.h>
#include "tinyml_conv_params.h"

/* 1 where the kernels use the Cortex-M's DSP instructions (tinyml_conv_simd.h): the generated model then keeps a
 * one-row FULLY_CONNECTED's weights interleaved by 4 rows (`#if TINYML_FC_INTERLEAVED` in model_c.c), the order
 * its 4-filter SIMD loop reads; elsewhere in plain rows, which a host compiler vectorises. */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && defined(__GNUC__)
#define TINYML_FC_INTERLEAVED 1
#else
#define TINYML_FC_INTERLEAVED 0
#endif

typedef struct {
  int in_h, in_w, in_c;
  int out_h, out_w, out_c;
  int filter_h, filter_w;
  int stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
  int32_t input_zero_point;      /* what im2col writes for a tap outside the input (see tinyml_conv_2d) */
  int32_t output_offset;
  int32_t act_min, act_max;
  int right_shifts;              /* 1: every shift <= -1, so the requantization takes its one-sum form */
  int scratch_rows;              /* im2col patches the scratch buffer holds (>= 2) */
} tinyml_conv2d_params;

/* CONV_2D as TFLite's reference kernel computes it, bit-exact: filter [out_c][filter_h][filter_w][in_c];
 * per-channel multiplier/shift of length out_c. `bias` is NOT the model's bias: the generator folds the input
 * offset into it (bias[c] + input_offset * sum of filter c), so the inner loops multiply raw int8 values. A tap
 * outside the input (padding) is written as the input zero point, whose product then cancels exactly what the
 * folded bias added for it — as TFLite, which skips such taps. `scratch`: scratch_rows * filter_h * filter_w *
 * in_c bytes for im2col, or 0 for a 1x1 stride-1 convolution (which reads its input rows in place). */
void tinyml_conv_2d(const tinyml_conv2d_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                    const int32_t *multiplier, const int32_t *shift, int8_t *output, int8_t *scratch);

typedef struct {
  int batches, in_n, out_n;
  int32_t input_offset, filter_offset, output_offset;
  int per_channel;               /* 0: multiplier[0]/shift[0] for every output */
  int32_t act_min, act_max;
  int right_shifts;              /* 1: every shift <= -1, so the requantization takes its one-sum form */
  int interleaved;               /* 1: one batch; with TINYML_FC_INTERLEAVED the weights are interleaved by 4 rows
                                    (conv_lowering.interleave_rows) */
} tinyml_fc_params;

/* filter [out_n][in_n] (or interleaved, see the flag). With filter_offset 0 (symmetric weights, what the
 * converter writes) `bias` is the folded bias (bias[o] + input_offset * sum of row o) and never 0; otherwise it is
 * the model's bias (0 when none) and a plain loop adds both offsets. */
void tinyml_fully_connected(const tinyml_fc_params *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *output);

#endif /* TINYML_CONV_H_ */
