/* tinyml_ops.h — the other ops: ADD, MEAN, SOFTMAX, QUANTIZE, and the ops that only move bytes. */
#ifndef TINYML_OPS_H_
#define TINYML_OPS_H_

#include <stdint.h>

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

#endif /* TINYML_OPS_H_ */
