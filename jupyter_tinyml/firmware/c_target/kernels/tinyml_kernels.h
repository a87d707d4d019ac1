/* tinyml_kernels.h — int8 kernels of jupyter-tinyml's portable C target (TFLite's reference semantics, NHWC,
 * batch 1). Every parameter that TFLite computes in Prepare (multipliers, shifts, padding, activation bounds) is
 * computed on the host by the generator and passed in; nothing here allocates memory. */
#ifndef TINYML_KERNELS_H_
#define TINYML_KERNELS_H_

#include <stdint.h>

/* TFLite's fixed-point requantization (quantization_util / common.h, double rounding). */
int32_t tinyml_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift);

typedef struct {
  int in_h, in_w, in_c;
  int out_h, out_w, out_c;
  int filter_h, filter_w;
  int stride_h, stride_w, pad_h, pad_w;
  int depth_multiplier;          /* depthwise only */
  int32_t input_offset, output_offset;
  int32_t act_min, act_max;
} tinyml_conv_params;

/* filter [out_c][filter_h][filter_w][in_c]; per-channel multiplier/shift of length out_c; bias may be 0. */
void tinyml_conv_2d(const tinyml_conv_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                    const int32_t *multiplier, const int32_t *shift, int8_t *output);
/* filter [1][filter_h][filter_w][out_c], out_c = in_c * depth_multiplier. */
void tinyml_depthwise_conv_2d(const tinyml_conv_params *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int8_t *output);

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

typedef struct {
  int in_h, in_w, c, out_h, out_w;
  int filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
  int32_t act_min, act_max;
} tinyml_pool_params;

void tinyml_max_pool_2d(const tinyml_pool_params *p, const int8_t *input, int8_t *output);
void tinyml_average_pool_2d(const tinyml_pool_params *p, const int8_t *input, int8_t *output);

typedef struct {
  int size;
  int32_t input1_offset, input2_offset, output_offset;
  int left_shift;
  int32_t input1_multiplier, input2_multiplier, output_multiplier;
  int input1_shift, input2_shift, output_shift;
  int32_t act_min, act_max;
} tinyml_add_params;

/* Elementwise, both inputs of the same shape. */
void tinyml_add(const tinyml_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);

typedef struct {
  int h, w, c;
  int same_quantization;         /* 1: input and output share scale and zero point (plain integer mean) */
  int32_t input_zero_point, output_zero_point;
  int32_t multiplier;
  int shift;
} tinyml_mean_params;

/* Mean over H and W of [1][h][w][c] -> c values, as TFLite's reference_ops::QuantizedMeanOrSum (keep_dims or
 * not), or its plain integer Mean when input and output share scale and zero point. */
void tinyml_mean_hw(const tinyml_mean_params *p, const int8_t *input, int8_t *output);

typedef struct {
  int outer, depth;
  float beta_times_input_scale, inverse_output_scale;
  int32_t output_zero_point;
} tinyml_softmax_params;

/* In float on the device (expf), rounded to nearest: within 1 LSB of TFLite's int8 softmax. */
void tinyml_softmax(const tinyml_softmax_params *p, const int8_t *input, int8_t *output);

typedef struct {
  int size;
  int32_t input_zero_point, output_zero_point, multiplier;
  int shift;
} tinyml_requantize_params;

/* QUANTIZE from int8 to int8: TFLite's reference Requantize. */
void tinyml_requantize(const tinyml_requantize_params *p, const int8_t *input, int8_t *output);

/* RESHAPE, EXPAND_DIMS, SQUEEZE: the bytes do not change. */
void tinyml_copy(const int8_t *input, int8_t *output, int size);

#endif /* TINYML_KERNELS_H_ */
