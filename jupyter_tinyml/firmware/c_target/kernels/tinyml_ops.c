/* tinyml_ops.c — the other ops of the portable C target; TFLite's reference int8 semantics. */
#include "tinyml_kernels.h"

#include "tinyml_fixed_point.h"

#include <math.h>
#include <string.h>

void tinyml_add(const tinyml_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
  int i;
  for (i = 0; i < p->size; ++i) {
    const int32_t shifted1 = ((int32_t)input1[i] + p->input1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t shifted2 = ((int32_t)input2[i] + p->input2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t scaled1 = tinyml_multiply_by_quantized_multiplier(shifted1, p->input1_multiplier, p->input1_shift);
    const int32_t scaled2 = tinyml_multiply_by_quantized_multiplier(shifted2, p->input2_multiplier, p->input2_shift);
    const int32_t raw = tinyml_multiply_by_quantized_multiplier(scaled1 + scaled2, p->output_multiplier,
                                                                p->output_shift) + p->output_offset;
    output[i] = (int8_t)clamp32(raw, p->act_min, p->act_max);
  }
}

void tinyml_mean_hw(const tinyml_mean_params *p, const int8_t *input, int8_t *output) {
  const int32_t count = (int32_t)p->h * p->w;
  int c, i;
  int32_t multiplier = p->multiplier;
  int shift = p->shift;
  if (!p->same_quantization) {
    /* QuantizedMeanOrSum folds 1/count into the multiplier: shift = floor(log2(count)), at most 32 and at most
       31 + shift, then multiplier * 2^shift / count. */
    int count_shift = 0;
    while (((int64_t)1 << (count_shift + 1)) <= (int64_t)count) ++count_shift;
    if (count_shift > 32) count_shift = 32;
    if (count_shift > 31 + shift) count_shift = 31 + shift;
    multiplier = (int32_t)(((int64_t)multiplier * ((int64_t)1 << count_shift)) / count);
    shift = shift - count_shift;
  }
  for (c = 0; c < p->c; ++c) {
    int32_t acc = 0, result;
    for (i = 0; i < count; ++i) acc += input[(long)i * p->c + c];
    if (p->same_quantization) {
      result = acc / count;  /* reference_ops::Mean: integer division, truncating */
    } else {
      result = tinyml_multiply_by_quantized_multiplier(acc - p->input_zero_point * count, multiplier, shift)
               + p->output_zero_point;
    }
    output[c] = (int8_t)clamp32(result, -128, 127);
  }
}

void tinyml_softmax(const tinyml_softmax_params *p, const int8_t *input, int8_t *output) {
  int o, i;
  for (o = 0; o < p->outer; ++o) {
    const int8_t *in_row = input + (long)o * p->depth;
    int8_t *out_row = output + (long)o * p->depth;
    int32_t largest = -128;
    float sum = 0.0f;
    for (i = 0; i < p->depth; ++i) {
      if (in_row[i] > largest) largest = in_row[i];
    }
    for (i = 0; i < p->depth; ++i) sum += expf(p->beta_times_input_scale * (float)(in_row[i] - largest));
    for (i = 0; i < p->depth; ++i) {
      const float probability = expf(p->beta_times_input_scale * (float)(in_row[i] - largest)) / sum;
      const int32_t q = (int32_t)floorf(probability * p->inverse_output_scale + 0.5f) + p->output_zero_point;
      out_row[i] = (int8_t)clamp32(q, -128, 127);
    }
  }
}

void tinyml_requantize(const tinyml_requantize_params *p, const int8_t *input, int8_t *output) {
  int i;
  for (i = 0; i < p->size; ++i) {
    const int32_t value = tinyml_multiply_by_quantized_multiplier((int32_t)input[i] - p->input_zero_point,
                                                                  p->multiplier, p->shift)
                          + p->output_zero_point;
    output[i] = (int8_t)clamp32(value, -128, 127);
  }
}

void tinyml_copy(const int8_t *input, int8_t *output, int size) {
  if (input != output) memmove(output, input, (size_t)size);
}
