/* tinyml_ops.h — the ops besides the convolutions: table lookups (the activations), SOFTMAX, broadcast ADD/SUB/MUL,
 * MEAN and REDUCE_MAX, QUANTIZE, CONCATENATION, PAD, TRANSPOSE, and the ops that only move bytes. */
#ifndef TINYML_OPS_H_
#define TINYML_OPS_H_

#include <stdint.h>

/* TRANSPOSE_CONV has a file of its own; every model_c.c reaches it through tinyml_kernels.h -> here. */
#include "tinyml_transpose_conv.h"

/* Any int8 -> int8 function of one value (LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH): the generator
 * computed its 256 results; table[0] is the result for input -128. */
void tinyml_lookup(const int8_t *table, const int8_t *input, int8_t *output, int size);

typedef struct {
  int outer, depth;
  int32_t input_multiplier;      /* beta * input scale in Q5.26 steps (PreprocessSoftmaxScaling) */
  int input_left_shift;
  int32_t diff_min;              /* input - row max below this contributes nothing (output -128) */
} tinyml_softmax_params;

/* TFLite's reference int8 SOFTMAX (reference_ops::Softmax, output scale 1/256, zero point -128): gemmlowp's
 * fixed-point exp and reciprocal, integer arithmetic only. */
void tinyml_softmax(const tinyml_softmax_params *p, const int8_t *input, int8_t *output);

typedef struct {
  int kind;                      /* 0 ADD, 1 SUB, 2 MUL */
  int shape[4];                  /* the output's shape, padded to 4-D on the left */
  int stride1[4], stride2[4];    /* element strides of each input; 0 along a broadcast axis */
  int contiguous;                /* 1: no broadcasting, both inputs read in output order */
  int32_t input1_offset, input2_offset, output_offset;  /* MUL */
  int32_t output_multiplier;
  int output_shift;
  int32_t act_min, act_max;
} tinyml_binary_params;

/* ADD, SUB, MUL with broadcasting: TFLite's reference int8 arithmetic per element. For ADD and SUB, table1 and
 * table2 hold each input's rescaled value for each of its 256 values (input + offset, shifted up 20 bits, times
 * its multiplier: computed by the generator), so an element costs two lookups and one requantization; for MUL they
 * are 0. */
void tinyml_binary(const tinyml_binary_params *p, const int32_t *table1, const int32_t *table2,
                   const int8_t *input1, const int8_t *input2, int8_t *output);

typedef struct {
  int outer, count, inner;       /* the input seen as [outer][count][inner], reduced over count */
  int same_quantization;         /* MEAN: 1 when input and output share scale and zero point (plain integer mean) */
  int32_t input_zero_point, output_zero_point;
  int32_t multiplier;            /* MEAN: already divided by count (QuantizedMeanOrSum) */
  int shift;
} tinyml_reduce_params;

/* MEAN over the middle axis: reference_ops::Mean (truncating) or QuantizedMeanOrSum. */
void tinyml_mean(const tinyml_reduce_params *p, const int8_t *input, int8_t *output);
/* REDUCE_MAX over the middle axis (input and output share their quantization). */
void tinyml_reduce_max(const tinyml_reduce_params *p, const int8_t *input, int8_t *output);

typedef struct {
  int size;
  int32_t input_zero_point, output_zero_point, multiplier;
  int shift;
} tinyml_requantize_params;

/* QUANTIZE from int8 to int8: TFLite's reference Requantize. */
void tinyml_requantize(const tinyml_requantize_params *p, const int8_t *input, int8_t *output);

/* CONCATENATION: for each of `outer` rows, rows[i] bytes of each part in turn. */
void tinyml_concatenation(const int8_t *const *parts, const int *rows, int count, int outer, int8_t *output);

typedef struct {
  int in_shape[4], before[4], out_shape[4];
  int32_t value;
} tinyml_pad_params;

/* PAD / PADV2 up to 4-D: the input placed at `before`, everything else `value`. */
void tinyml_pad(const tinyml_pad_params *p, const int8_t *input, int8_t *output);

typedef struct {
  int shape[4];                  /* the output's shape, padded to 4-D on the left */
  int stride[4];                 /* the input's element stride along each output axis */
} tinyml_transpose_params;

/* TRANSPOSE up to 4-D. */
void tinyml_transpose(const tinyml_transpose_params *p, const int8_t *input, int8_t *output);

/* RESHAPE, EXPAND_DIMS, SQUEEZE: the bytes do not change. */
void tinyml_copy(const int8_t *input, int8_t *output, int size);

#endif /* TINYML_OPS_H_ */
