/* tinyml_conv.c — CONV_2D and FULLY_CONNECTED of the portable C target; TFLite's reference int8 semantics,
 * bit-exact. Both are one matrix multiply: rows of K int8 inputs (a pixel's im2col patch, a pixel of a 1x1
 * convolution read in place, or an FC input row) times out_c filter rows of K int8 weights, each result
 * requantized inline as it leaves its accumulator. The multiply runs on 2 rows x 2 filters at a time
 * (tinyml_conv_simd.h), so each loaded word feeds two MAC pairs: 20 instructions per 16 MACs on the Cortex-M4;
 * an FC on one row runs 4 filters at a time on weights the generator interleaved. The input offset is in the
 * bias (the generator folds it), and the shapes' loop bounds come from the generator's parameters. */
#include "tinyml_kernels.h"

#include <string.h>

#include "tinyml_conv_simd.h"
#include "tinyml_fixed_point.h"

#if defined(__GNUC__)
#define TINYML_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define TINYML_ALWAYS_INLINE static inline
#endif

/* How a result leaves its accumulator: TFLite's convolutions round twice (MultiplyByQuantizedMultiplier; here
 * double_rounding below), its reference FULLY_CONNECTED once; both then add the output
 * offset and clamp to the fused activation. Copied into locals by each kernel: a store through an int8_t pointer
 * may alias anything, so fields read through a pointer would be reloaded after every output byte. */
typedef struct {
  const int32_t *multiplier, *shift;
  int32_t output_offset, act_min, act_max;
  int per_channel;
} requant_params;

/* MultiplyByQuantizedMultiplier for a multiplier in [0, 2^31), as Prepare computes every one: gemmlowp's
 * SaturatingRoundingDoublingHighMul never saturates then (that needs both factors INT32_MIN), and its nudge of
 * 2^30 (1 - 2^30 below zero) with a division truncating toward zero equals one floor shift of ab + 2^30
 * (trunc((ab + 1 - 2^30) / 2^31) = floor((ab + 2^30) / 2^31) for ab < 0): SMULL, a 64-bit add and a shift.
 * A left shift needs no rounding division after it, a right shift no left shift before. */
TINYML_ALWAYS_INLINE int32_t double_rounding(int32_t x, int32_t multiplier, int32_t shift) {
  int32_t high;
  if (shift > 0) x = (int32_t)((uint32_t)x << shift);
  high = (int32_t)(((int64_t)x * (int64_t)multiplier + ((int64_t)1 << 30)) >> 31);
  return shift >= 0 ? high : rounding_divide_by_pot(high, -shift);
}

/* The requantization modes, each compiled into its own copy of the multiply: the convolutions' double rounding and
 * FULLY_CONNECTED's single rounding, each in general and in the common case the generator detects, every shift
 * <= -1 (a multiplier below 1/2: every convolution and FC of the MLPerf Tiny models). */
enum { DOUBLE_ROUNDING, SINGLE_ROUNDING, DOUBLE_ROUNDING_RIGHT, SINGLE_ROUNDING_RIGHT };

/* Both roundings for a right shift r = -shift >= 1 as one 64-bit sum and the high word's shift (nested floor
 * divisions compose: floor((floor(a / 2^31) + c) / 2^r) = floor((a + c * 2^31) / 2^(31 + r)) for an integer c):
 *   double: RoundingDivideByPOT(floor((x*m + 2^30) / 2^31), r)
 *             = floor((x*m + 2^30 + 2^(30+r) - [h<0] 2^31) / 2^(31+r)),
 *           where h, the doubling high product, is negative only when x is (m >= 0), and where it is 0 both
 *           corrections give 0 — so [x < 0] serves;
 *   single: floor((x*m + 2^(30+r)) / 2^(31+r)).
 * `round` is the constant part of the sum, per channel. SMLAL, LSR, SUBS, SBC and ASR on the Cortex-M4. */
TINYML_ALWAYS_INLINE int32_t right_shift_requantize(int mode, int32_t x, int32_t multiplier, int64_t round,
                                                    int r_minus_1) {
  int64_t t = (int64_t)x * (int64_t)multiplier + round;
  if (mode == DOUBLE_ROUNDING_RIGHT) t -= (int64_t)((uint32_t)x >> 31) << 31;
  return (int32_t)(t >> 32) >> r_minus_1;  /* >> of a negative value is arithmetic on every compiler used here */
}

/* A channel's requantization constants, loaded once per channel pair. */
typedef struct {
  int32_t multiplier, shift;
  int64_t round;
} channel_scale;

TINYML_ALWAYS_INLINE channel_scale channel(int mode, const int32_t *multiplier, const int32_t *shift, int q) {
  channel_scale cs;
  cs.multiplier = multiplier[q];
  cs.shift = shift[q];
  cs.round = 0;
  if (mode == DOUBLE_ROUNDING_RIGHT || mode == SINGLE_ROUNDING_RIGHT) {
    /* 2^(30+r) in two 32-bit halves without a 64-bit shift: high word (2^r) >> 2 (0 for r = 1), low word
       (2^r) << 30 truncated (2^31 for r = 1, else 0); plus 2^30 for the double rounding's first nudge. */
    const int r = -cs.shift;
    const uint32_t low = ((uint32_t)1 << r << 30) + (mode == DOUBLE_ROUNDING_RIGHT ? (uint32_t)1 << 30 : 0u);
    cs.round = (int64_t)(((uint64_t)(((uint32_t)1 << r) >> 2) << 32) | low);
    cs.shift = r - 1;  /* the high word's shift */
  }
  return cs;
}

TINYML_ALWAYS_INLINE int8_t requantize(int mode, int32_t acc, channel_scale cs, int32_t output_offset,
                                       int32_t act_min, int32_t act_max) {
  if (mode == DOUBLE_ROUNDING_RIGHT || mode == SINGLE_ROUNDING_RIGHT) {
    acc = right_shift_requantize(mode, acc, cs.multiplier, cs.round, cs.shift);
  } else if (mode == SINGLE_ROUNDING) {
    acc = multiply_single_rounding(acc, cs.multiplier, cs.shift);
  } else {
    acc = double_rounding(acc, cs.multiplier, cs.shift);
  }
  return (int8_t)clamp32(acc + output_offset, act_min, act_max);
}

/* rows x filters: row r at a + r * k (im2col rows, pixels of a 1x1 convolution, FC batches), its results at
 * out + r * n. Filter pairs outside, row pairs inside: each filter pair's bias and requantization constants are
 * loaded once for all rows, and each word loaded feeds two MAC pairs. An odd count of rows or filters ends with a
 * pair that overlaps the one before (its shared result is computed twice, identically), so there is no
 * remainder loop; only a single row (FC on one input) or a single filter takes its own path. `mode` is a constant
 * in each caller, so each gets its own requantization inline. */
TINYML_ALWAYS_INLINE void mat_mult(int mode, const int8_t *a, int rows, const int8_t *filter, int k, int n,
                                   const int32_t *bias, const requant_params *r, int8_t *out) {
  const int32_t *const multiplier = r->multiplier, *const shift = r->shift;
  const int32_t output_offset = r->output_offset, act_min = r->act_min, act_max = r->act_max;
  const int per_channel = r->per_channel;
  const int last_c = n - 2, last_row = rows - 2;
  int c = 0, i;
  if (n == 1) {  /* one filter: each row alone */
    const channel_scale cs = channel(mode, multiplier, shift, 0);
    int row;
    for (row = 0; row < rows; ++row) {
      const int8_t *a0 = a + (long)row * k;
      int32_t acc = bias[0];
      for (i = 0; i + 3 < k; i += 4) TINYML_BLOCK4_1X1(a0 + i, filter + i, acc);
      for (; i < k; ++i) acc += (int32_t)a0[i] * filter[i];
      out[row] = requantize(mode, acc, cs, output_offset, act_min, act_max);
    }
    return;
  }
  for (;;) {
    const int8_t *const w0 = filter + (long)c * k, *const w1 = w0 + k;
    const channel_scale cs0 = channel(mode, multiplier, shift, per_channel ? c : 0);
    const channel_scale cs1 = channel(mode, multiplier, shift, per_channel ? c + 1 : 0);
    const int32_t bias0 = bias[c], bias1 = bias[c + 1];
    if (rows == 1) {
      int32_t acc0 = bias0, acc1 = bias1;
      for (i = 0; i + 15 < k; i += 16) TINYML_BLOCK16_1X2(a + i, w0 + i, w1 + i, acc0, acc1);
      for (; i + 3 < k; i += 4) TINYML_BLOCK4_1X2(a + i, w0 + i, w1 + i, acc0, acc1);
      for (; i < k; ++i) {
        acc0 += (int32_t)a[i] * w0[i];
        acc1 += (int32_t)a[i] * w1[i];
      }
      out[c] = requantize(mode, acc0, cs0, output_offset, act_min, act_max);
      out[c + 1] = requantize(mode, acc1, cs1, output_offset, act_min, act_max);
    } else {
      int row = 0;
      for (;;) {
        const int8_t *const a0 = a + (long)row * k, *const a1 = a0 + k;
        const int8_t *pa = a0, *pw = w0;
        const int8_t *const end16 = a0 + (k & ~15);
        int32_t acc00 = bias0, acc01 = bias1, acc10 = bias0, acc11 = bias1;
        int8_t *const o0 = out + (long)row * n + c, *const o1 = o0 + n;
        /* 16 columns per iteration, the second row and filter at +k: 2 pointers, the stride and the end in
           registers beside the 4 accumulators, so nothing spills on the Cortex-M4. */
        while (pa != end16) {
          TINYML_BLOCK16_2X2(pa, pa + k, pw, pw + k, acc00, acc01, acc10, acc11);
          pa += 16;
          pw += 16;
        }
        i = k & ~15;
        if (k & 8) {
          TINYML_BLOCK4_2X2(a0 + i, a1 + i, w0 + i, w1 + i, acc00, acc01, acc10, acc11);
          TINYML_BLOCK4_2X2(a0 + i + 4, a1 + i + 4, w0 + i + 4, w1 + i + 4, acc00, acc01, acc10, acc11);
          i += 8;
        }
        if (k & 4) {
          TINYML_BLOCK4_2X2(a0 + i, a1 + i, w0 + i, w1 + i, acc00, acc01, acc10, acc11);
          i += 4;
        }
        for (; i < k; ++i) {
          acc00 += (int32_t)a0[i] * w0[i];
          acc01 += (int32_t)a0[i] * w1[i];
          acc10 += (int32_t)a1[i] * w0[i];
          acc11 += (int32_t)a1[i] * w1[i];
        }
        {
          const int8_t y00 = requantize(mode, acc00, cs0, output_offset, act_min, act_max);
          const int8_t y01 = requantize(mode, acc01, cs1, output_offset, act_min, act_max);
          const int8_t y10 = requantize(mode, acc10, cs0, output_offset, act_min, act_max);
          const int8_t y11 = requantize(mode, acc11, cs1, output_offset, act_min, act_max);
          o0[0] = y00;
          o0[1] = y01;
          o1[0] = y10;
          o1[1] = y11;
        }
        if (row == last_row) break;
        row = row + 2 < last_row ? row + 2 : last_row;
      }
    }
    if (c == last_c) break;
    c = c + 2 < last_c ? c + 2 : last_c;
  }
}

/* FULLY_CONNECTED on one input row, its weights in the order the generator interleaves them (conv_lowering
 * interleave_rows): per group of 4 outputs, 4 bytes of each of the 4 rows in turn, then the group's last k % 4
 * columns row after row; the n % 4 last rows follow whole. One pointer walks all 4 rows, and each input word,
 * extended once, feeds 4 filters: 23 instructions per 16 MACs on the Cortex-M4. */
/* Filter c + j's scales: per channel, or the one per-tensor pair loaded once. */
#define TINYML_FC_SCALE(j) (per_channel ? channel(mode, multiplier, shift, c + (j)) : per_tensor)

TINYML_ALWAYS_INLINE void fc_row_interleaved(int mode, const int8_t *a, const int8_t *filter, int k, int n,
                                             const int32_t *bias, const requant_params *r, int8_t *out) {
  const int32_t *const multiplier = r->multiplier, *const shift = r->shift;
  const int32_t output_offset = r->output_offset, act_min = r->act_min, act_max = r->act_max;
  const int per_channel = r->per_channel;
  const int k4 = k & ~3, tail = k - k4;
  const channel_scale per_tensor = channel(mode, multiplier, shift, 0);
  const int8_t *w = filter;
  int c, i;
  for (c = 0; c + 3 < n; c += 4) {
    int32_t acc0 = bias[c], acc1 = bias[c + 1], acc2 = bias[c + 2], acc3 = bias[c + 3];
    const int8_t *pa = a;
    const int8_t *const end16 = a + (k & ~15), *const end4 = a + k4;
    while (pa != end16) {  /* 16 columns per iteration: the loop's own 5 instructions per 64 MACs */
      TINYML_BLOCK16_1X4_INTERLEAVED(pa, w, acc0, acc1, acc2, acc3);
      pa += 16;
      w += 64;
    }
    while (pa != end4) {
      TINYML_BLOCK4_1X4(pa, w, w + 4, w + 8, w + 12, acc0, acc1, acc2, acc3);
      pa += 4;
      w += 16;
    }
    for (i = 0; i < tail; ++i) {
      const int32_t x = a[k4 + i];
      acc0 += x * w[i];
      acc1 += x * w[tail + i];
      acc2 += x * w[2 * tail + i];
      acc3 += x * w[3 * tail + i];
    }
    w += 4 * tail;
    {
      const int8_t y0 = requantize(mode, acc0, TINYML_FC_SCALE(0), output_offset, act_min, act_max);
      const int8_t y1 = requantize(mode, acc1, TINYML_FC_SCALE(1), output_offset, act_min, act_max);
      const int8_t y2 = requantize(mode, acc2, TINYML_FC_SCALE(2), output_offset, act_min, act_max);
      const int8_t y3 = requantize(mode, acc3, TINYML_FC_SCALE(3), output_offset, act_min, act_max);
      out[c] = y0;
      out[c + 1] = y1;
      out[c + 2] = y2;
      out[c + 3] = y3;
    }
  }
  for (; c < n; ++c, w += k) {  /* the last n % 4 rows, whole */
    int32_t acc = bias[c];
    for (i = 0; i + 3 < k; i += 4) TINYML_BLOCK4_1X1(a + i, w + i, acc);
    for (; i < k; ++i) acc += (int32_t)a[i] * w[i];
    out[c] = requantize(mode, acc, TINYML_FC_SCALE(0), output_offset, act_min, act_max);
  }
}

#undef TINYML_FC_SCALE

static void fc_row_single(const int8_t *a, const int8_t *filter, int k, int n, const int32_t *bias,
                          const requant_params *r, int8_t *out) {
  fc_row_interleaved(SINGLE_ROUNDING, a, filter, k, n, bias, r, out);
}

static void fc_row_single_right(const int8_t *a, const int8_t *filter, int k, int n, const int32_t *bias,
                                const requant_params *r, int8_t *out) {
  fc_row_interleaved(SINGLE_ROUNDING_RIGHT, a, filter, k, n, bias, r, out);
}

/* One compiled multiply per requantization mode. */
static void mat_mult_double(const int8_t *a, int rows, const int8_t *filter, int k, int n, const int32_t *bias,
                            const requant_params *r, int8_t *out) {
  mat_mult(DOUBLE_ROUNDING, a, rows, filter, k, n, bias, r, out);
}

static void mat_mult_double_right(const int8_t *a, int rows, const int8_t *filter, int k, int n,
                                  const int32_t *bias, const requant_params *r, int8_t *out) {
  mat_mult(DOUBLE_ROUNDING_RIGHT, a, rows, filter, k, n, bias, r, out);
}

static void mat_mult_single(const int8_t *a, int rows, const int8_t *filter, int k, int n, const int32_t *bias,
                            const requant_params *r, int8_t *out) {
  mat_mult(SINGLE_ROUNDING, a, rows, filter, k, n, bias, r, out);
}

static void mat_mult_single_right(const int8_t *a, int rows, const int8_t *filter, int k, int n,
                                  const int32_t *bias, const requant_params *r, int8_t *out) {
  mat_mult(SINGLE_ROUNDING_RIGHT, a, rows, filter, k, n, bias, r, out);
}

/* Byte copies and fills of im2col, inline: most are a few bytes (a filter row of a 1- or 3-channel input), where
 * a call to memcpy costs more than the copy. Whole words, then the last 0-3 bytes. */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int n) {
  if (n >= 64) {
    memcpy(dst, src, (size_t)n);
    return;
  }
  for (; n >= 4; n -= 4, dst += 4, src += 4) {
    uint32_t word;
    memcpy(&word, src, 4);
    memcpy(dst, &word, 4);
  }
  switch (n) {
    case 3: dst[2] = src[2]; /* fall through */
    case 2: dst[1] = src[1]; /* fall through */
    case 1: dst[0] = src[0]; /* fall through */
    default: break;
  }
}

static inline void fill_bytes(int8_t *dst, int8_t value, int n) {
  const uint32_t word = 0x01010101u * (uint8_t)value;
  for (; n >= 4; n -= 4, dst += 4) memcpy(dst, &word, 4);
  switch (n) {
    case 3: dst[2] = value; /* fall through */
    case 2: dst[1] = value; /* fall through */
    case 1: dst[0] = value; /* fall through */
    default: break;
  }
}

/* The im2col patch of output pixel (oy, ox): filter_h x filter_w x in_c input values in the filter's order, the
 * input zero point where a tap falls outside the input. Without dilation along x a filter row is one run of the
 * input row between two runs of padding. */
static void im2col(const tinyml_conv2d_params *p, const int8_t *input, int oy, int ox, int8_t *col) {
  const int in_y0 = oy * p->stride_h - p->pad_h, in_x0 = ox * p->stride_w - p->pad_w;
  const int in_c = p->in_c, row_bytes = p->filter_w * in_c;
  const int8_t pad = (int8_t)p->input_zero_point;
  int fy, fx;
  for (fy = 0; fy < p->filter_h; ++fy, col += row_bytes) {
    const int iy = in_y0 + fy * p->dilation_h;
    const int8_t *row;
    if (iy < 0 || iy >= p->in_h) {
      fill_bytes(col, pad, row_bytes);
      continue;
    }
    row = input + (long)iy * p->in_w * in_c;
    if (p->dilation_w == 1) {
      const int lo = in_x0 < 0 ? -in_x0 : 0;                                        /* first tap inside */
      const int hi = in_x0 + p->filter_w > p->in_w ? p->in_w - in_x0 : p->filter_w;  /* past the last one */
      if (hi <= lo) {
        fill_bytes(col, pad, row_bytes);
        continue;
      }
      fill_bytes(col, pad, lo * in_c);
      copy_bytes(col + lo * in_c, row + (long)(in_x0 + lo) * in_c, (hi - lo) * in_c);
      fill_bytes(col + hi * in_c, pad, (p->filter_w - hi) * in_c);
      continue;
    }
    for (fx = 0; fx < p->filter_w; ++fx) {
      const int ix = in_x0 + fx * p->dilation_w;
      if (ix < 0 || ix >= p->in_w) {
        fill_bytes(col + fx * in_c, pad, in_c);
      } else {
        copy_bytes(col + fx * in_c, row + (long)ix * in_c, in_c);
      }
    }
  }
}

void tinyml_conv_2d(const tinyml_conv2d_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                    const int32_t *multiplier, const int32_t *shift, int8_t *output, int8_t *scratch) {
  const int k = p->filter_h * p->filter_w * p->in_c;
  const int pixels = p->out_h * p->out_w;
  requant_params r;
  void (*const multiply)(const int8_t *, int, const int8_t *, int, int, const int32_t *, const requant_params *,
                         int8_t *) = p->right_shifts ? mat_mult_double_right : mat_mult_double;
  int pixel;
  r.multiplier = multiplier;
  r.shift = shift;
  r.output_offset = p->output_offset;
  r.act_min = p->act_min;
  r.act_max = p->act_max;
  r.per_channel = 1;
  if (!scratch) {  /* 1x1, stride 1, no padding: the input is already the [pixels][in_c] matrix */
    multiply(input, pixels, filter, k, p->out_c, bias, &r, output);
    return;
  }
  for (pixel = 0; pixel < pixels;) {
    /* scratch_rows patches at a time (the generator sizes the buffer); a lone last pixel joins the one before */
    int rows = pixels - pixel < p->scratch_rows ? pixels - pixel : p->scratch_rows;
    int row;
    if (rows == 1 && pixel > 0) {
      --pixel;
      rows = 2;
    }
    for (row = 0; row < rows; ++row) {
      im2col(p, input, (pixel + row) / p->out_w, (pixel + row) % p->out_w, scratch + (long)row * k);
    }
    multiply(scratch, rows, filter, k, p->out_c, bias, &r, output + (long)pixel * p->out_c);
    pixel += rows;
  }
}

void tinyml_fully_connected(const tinyml_fc_params *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *output) {
  requant_params r;
  r.multiplier = multiplier;
  r.shift = shift;
  r.output_offset = p->output_offset;
  r.act_min = p->act_min;
  r.act_max = p->act_max;
  r.per_channel = p->per_channel;
  if (p->interleaved && TINYML_FC_INTERLEAVED) {
    (p->right_shifts ? fc_row_single_right : fc_row_single)(input, filter, p->in_n, p->out_n, bias, &r, output);
    return;
  }
  if (p->filter_offset == 0) {
    (p->right_shifts ? mat_mult_single_right : mat_mult_single)(input, p->batches, filter, p->in_n, p->out_n, bias,
                                                                 &r, output);
    return;
  }
  {  /* asymmetric weights (no converter writes them for int8): both offsets added per product */
    int b, o, i;
    for (b = 0; b < p->batches; ++b) {
      const int8_t *in_row = input + (long)b * p->in_n;
      for (o = 0; o < p->out_n; ++o) {
        const int8_t *f_row = filter + (long)o * p->in_n;
        int32_t acc = bias ? bias[o] : 0;
        for (i = 0; i < p->in_n; ++i) {
          acc += ((int32_t)f_row[i] + p->filter_offset) * ((int32_t)in_row[i] + p->input_offset);
        }
        {
          const int q = p->per_channel ? o : 0;
          output[(long)b * p->out_n + o] = requantize(SINGLE_ROUNDING, acc, channel(SINGLE_ROUNDING, multiplier,
                                                      shift, q), p->output_offset, p->act_min, p->act_max);
        }
      }
    }
  }
}
