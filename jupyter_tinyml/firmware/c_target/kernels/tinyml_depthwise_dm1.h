/* tinyml_depthwise_dm1.h — DEPTHWISE_CONV_2D with depth multiplier 1 (DS-CNN's and MobileNet's); TFLite's reference
 * int8 semantics, bit-exact.
 *
 * The op's constants come as one int32 "stream" the generator packs (depthwise_lowering.pack_depthwise_stream), so
 * one pointer walks them: for each full group g of 4 channels, 2 * taps packed weight words (per tap [w0 | w2] and
 * [w1 | w3], tinyml_depthwise_simd.h), then the 4 biases, multipliers, right shifts (-shift) and addends of
 * tinyml_requantize_right (0 where the shift is not negative); then, per leftover channel (past the last multiple
 * of 4), its taps' weights as plain int32, its bias, multiplier, right shift and addend.
 *
 * tinyml_depthwise_conv_dm1 (tinyml_depthwise_dm1.c) walks the output, finds each pixel's valid window once (no tap
 * tests a bound; TFLite skips the taps in the padding and so does it) and hands each row's run of 3x3 windows that
 * lie wholly inside the input to `interior`: a function the generated model_c.c defines per op around
 * tinyml_dw3x3_run below with the op's shape as literals, so the compiler turns every tap offset into an immediate
 * and keeps the loop in registers. That is where nearly all of a MobileNet's depthwise MACs run. The clipped
 * windows go to the op's `border` function around tinyml_dw3x3_window (DS-CNN's 5-pixel-wide maps: nearly half). */
#ifndef TINYML_DEPTHWISE_DM1_H_
#define TINYML_DEPTHWISE_DM1_H_

#include <stdint.h>

#include "tinyml_conv_params.h"
#include "tinyml_depthwise_simd.h"
#include "tinyml_fixed_point.h"

/* How model_c.c declares an op's generated functions. GCC's first scheduling pass hoists the 9 taps' loads ahead of
 * their multiplies and so needs more registers than the Cortex-M4 has (about 35 spill instructions per 4 channels
 * in DS-CNN's loop); without it the loop stays in registers. */
#if defined(__GNUC__) && !defined(__clang__)
#define TINYML_DW_GENERATED static __attribute__((optimize("no-schedule-insns")))
#else
#define TINYML_DW_GENERATED static
#endif

/* `count` adjacent output pixels whose windows lie inside the input: `in` is the first one's top-left input pixel,
 * `out` its output pixel. */
typedef void (*tinyml_dw_run_fn)(const int8_t *in, int8_t *out, int count);
/* One output pixel whose window is clipped: `base` is the offset from `input` of the window's top-left tap (which may
 * lie in the padding, so it is an offset, not a pointer); bit i of `rows` / `cols` says window row / column i lies
 * inside the input. */
typedef void (*tinyml_dw_window_fn)(const int8_t *input, long base, int8_t *out, unsigned rows, unsigned cols);

/* `interior` and `border` are the op's generated 3x3 functions, or 0 (any other filter): the kernel's own window
 * loop then takes every pixel. */
void tinyml_depthwise_conv_dm1(const tinyml_conv_params *p, const int8_t *input, const int32_t *stream,
                               int8_t *output, tinyml_dw_run_fn interior, tinyml_dw_window_fn border);

/* The words of the stream per full group of 4 channels and per leftover channel. */
#define TINYML_DW_GROUP_WORDS(taps) (2 * (taps) + 16)
#define TINYML_DW_LEFTOVER_WORDS(taps) ((taps) + 4)

/* The output offset and the activation clamp; SSAT does the int8 part in one instruction when the literals allow. */
TINYML_DW_INLINE int8_t tinyml_dw_clamp(int32_t value, int32_t act_min, int32_t act_max) {
#if defined(__ARM_FEATURE_SAT) && defined(__GNUC__)
  value = __ssat(value, 8); /* act_min >= -128 and act_max <= 127 always (int8 activation ranges) */
  if (act_min > -128 && value < act_min) value = act_min;
  if (act_max < 127 && value > act_max) value = act_max;
  return (int8_t)value;
#else
  return (int8_t)clamp32(value, act_min, act_max);
#endif
}

/* Requantizes one channel's accumulator as TFLite's depthwise conv does (MultiplyByQuantizedMultiplier, output
 * offset, activation clamp). `params` points at the channel's multiplier; its right shift (-shift) and addend
 * follow at `stride` words each. right_only (a literal): every shift of the op is negative and small and its
 * accumulators stay within 2^29, so tinyml_requantize_right applies (the generator decides). */
TINYML_DW_INLINE int8_t tinyml_dw_output(int32_t acc, const int32_t *params, int stride, int right_only,
                                         int32_t output_offset, int32_t act_min, int32_t act_max) {
  if (right_only) {
    acc = tinyml_requantize_right(acc, params[0], params[stride], params[2 * stride]);
  } else {
    acc = tinyml_multiply_by_quantized_multiplier_fast(acc, params[0], -(int)params[stride]) + output_offset;
  }
  return tinyml_dw_clamp(acc, act_min, act_max);
}

/* One pixel's 4 channels; `params` points at the group's 4 multipliers (biases are already in acc). */
TINYML_DW_INLINE void tinyml_dw_store4(const int32_t acc[4], const int32_t *params, int8_t *out, int right_only,
                                       int32_t output_offset, int32_t act_min, int32_t act_max) {
  out[0] = tinyml_dw_output(acc[0], params, 4, right_only, output_offset, act_min, act_max);
  out[1] = tinyml_dw_output(acc[1], params + 1, 4, right_only, output_offset, act_min, act_max);
  out[2] = tinyml_dw_output(acc[2], params + 2, 4, right_only, output_offset, act_min, act_max);
  out[3] = tinyml_dw_output(acc[3], params + 3, 4, right_only, output_offset, act_min, act_max);
}

/* `count` interior 3x3 pixels, every tap unrolled. Meant to be inlined with literal arguments (see above): then
 * channels, row_stride (in_w * channels) and in_step (stride_w * channels) are immediates. */
TINYML_DW_INLINE void tinyml_dw3x3_run(const int8_t *in, int8_t *out, int count, const int32_t *stream,
                                       const int channels, const long row_stride, const long in_step,
                                       const int right_only, const int32_t input_offset,
                                       const int32_t output_offset, const int32_t act_min, const int32_t act_max) {
  const uint32_t offset_pair = tinyml_dw_offset_pair(input_offset);
  const int groups = channels / 4;
  const long c1 = channels, c2 = 2L * channels, r1 = row_stride, r2 = 2 * row_stride;
  for (; count > 0; --count, in += in_step, out += channels) {
    const int32_t *s = stream;
    const int8_t *x = in;
    int8_t *y = out;
    int g, c;
    for (g = 0; g < groups; ++g, s += TINYML_DW_GROUP_WORDS(9), x += 4, y += 4) {
      int32_t acc[4];
      acc[0] = s[18];
      acc[1] = s[19];
      acc[2] = s[20];
      acc[3] = s[21];
      tinyml_dw_tap4(acc, x, s, offset_pair, input_offset);
      tinyml_dw_tap4(acc, x + c1, s + 2, offset_pair, input_offset);
      tinyml_dw_tap4(acc, x + c2, s + 4, offset_pair, input_offset);
      tinyml_dw_tap4(acc, x + r1, s + 6, offset_pair, input_offset);
      tinyml_dw_tap4(acc, x + r1 + c1, s + 8, offset_pair, input_offset);
      tinyml_dw_tap4(acc, x + r1 + c2, s + 10, offset_pair, input_offset);
      tinyml_dw_tap4(acc, x + r2, s + 12, offset_pair, input_offset);
      tinyml_dw_tap4(acc, x + r2 + c1, s + 14, offset_pair, input_offset);
      tinyml_dw_tap4(acc, x + r2 + c2, s + 16, offset_pair, input_offset);
      tinyml_dw_store4(acc, s + 22, y, right_only, output_offset, act_min, act_max);
    }
    for (c = groups * 4; c < channels; ++c, s += TINYML_DW_LEFTOVER_WORDS(9), ++x, ++y) {  /* leftover channels */
      int32_t acc = s[9];
      int fy, fx;
      for (fy = 0; fy < 3; ++fy) {
        for (fx = 0; fx < 3; ++fx) acc += ((int32_t)x[fy * r1 + fx * c1] + input_offset) * s[fy * 3 + fx];
      }
      *y = tinyml_dw_output(acc, s + 10, 1, right_only, output_offset, act_min, act_max);
    }
  }
}

/* One clipped 3x3 window (tinyml_dw_window_fn), every tap written out behind its row and column bit. Inlined with
 * literal arguments like tinyml_dw3x3_run; the generated border function also passes each mask pair that the op's
 * shape produces as literals (a switch), so those windows run their valid taps with no test at all. */
TINYML_DW_INLINE void tinyml_dw3x3_window(const int8_t *input, long base, int8_t *out, unsigned rows, unsigned cols,
                                          const int32_t *stream, const int channels, const long row_stride,
                                          const int right_only, const int32_t input_offset,
                                          const int32_t output_offset, const int32_t act_min,
                                          const int32_t act_max) {
  const uint32_t offset_pair = tinyml_dw_offset_pair(input_offset);
  const int groups = channels / 4;
  const long c1 = channels, c2 = 2L * channels, r1 = row_stride, r2 = 2 * row_stride;
  const int y0 = rows & 1u, y1 = (rows >> 1) & 1u, y2 = (rows >> 2) & 1u;
  const int x0 = cols & 1u, x1 = (cols >> 1) & 1u, x2 = (cols >> 2) & 1u;
  const int32_t *s = stream;
  int g, c, fy, fx;
  /* `base` may lie in the padding: each tap's address is formed only when the tap is valid. */
  for (g = 0; g < groups; ++g, s += TINYML_DW_GROUP_WORDS(9), base += 4) {
    int32_t acc[4];
    acc[0] = s[18];
    acc[1] = s[19];
    acc[2] = s[20];
    acc[3] = s[21];
    if (y0 && x0) tinyml_dw_tap4(acc, input + base, s, offset_pair, input_offset);
    if (y0 && x1) tinyml_dw_tap4(acc, input + (base + c1), s + 2, offset_pair, input_offset);
    if (y0 && x2) tinyml_dw_tap4(acc, input + (base + c2), s + 4, offset_pair, input_offset);
    if (y1 && x0) tinyml_dw_tap4(acc, input + (base + r1), s + 6, offset_pair, input_offset);
    if (y1 && x1) tinyml_dw_tap4(acc, input + (base + r1 + c1), s + 8, offset_pair, input_offset);
    if (y1 && x2) tinyml_dw_tap4(acc, input + (base + r1 + c2), s + 10, offset_pair, input_offset);
    if (y2 && x0) tinyml_dw_tap4(acc, input + (base + r2), s + 12, offset_pair, input_offset);
    if (y2 && x1) tinyml_dw_tap4(acc, input + (base + r2 + c1), s + 14, offset_pair, input_offset);
    if (y2 && x2) tinyml_dw_tap4(acc, input + (base + r2 + c2), s + 16, offset_pair, input_offset);
    tinyml_dw_store4(acc, s + 22, out + 4 * g, right_only, output_offset, act_min, act_max);
  }
  for (c = groups * 4; c < channels; ++c, s += TINYML_DW_LEFTOVER_WORDS(9), ++base) {  /* leftover channels */
    int32_t acc = s[9];
    for (fy = 0; fy < 3; ++fy) {
      for (fx = 0; fx < 3; ++fx) {
        if ((rows & (1u << fy)) && (cols & (1u << fx))) {
          acc += ((int32_t)input[base + fy * row_stride + fx * channels] + input_offset) * s[3 * fy + fx];
        }
      }
    }
    out[c] = tinyml_dw_output(acc, s + 10, 1, right_only, output_offset, act_min, act_max);
  }
}

#endif /* TINYML_DEPTHWISE_DM1_H_ */
