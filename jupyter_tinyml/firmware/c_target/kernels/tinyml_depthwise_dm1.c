/* tinyml_depthwise_dm1.c — DEPTHWISE_CONV_2D with depth multiplier 1, any filter size and stride: the walk over the
 * output, and the windows of filters other than 3x3; 3x3 windows go to the op's generated `interior` and `border`
 * functions (tinyml_depthwise_dm1.h, where the stream layout is described). The general kernel in
 * tinyml_depthwise.c spent about 17 instructions per tap on bounds and reloaded parameters; here a window's bounds
 * are found once per pixel and channels go 4 at a time through tinyml_dw_tap4. */
#include "tinyml_kernels.h"

/* What every output pixel of the op shares. */
typedef struct {
  const int32_t *stream;
  int32_t input_offset, output_offset, act_min, act_max;
  uint32_t offset_pair;
  int channels, groups, taps, filter_w;
  long row_stride;
} dw_op;

/* One output pixel over the window rows [fy0, fy1) x columns [fx0, fx1) (the taps inside the input); `in` points at
 * the input pixel of tap (fy0, fx0). */
static void dw_window(const dw_op *op, const int8_t *in, int fy0, int fy1, int fx0, int fx1, int8_t *out) {
  const int32_t *s = op->stream;
  const int group_words = TINYML_DW_GROUP_WORDS(op->taps);
  int g, c, fy, fx;
  for (g = 0; g < op->groups; ++g, s += group_words) {
    int32_t acc[4];
    acc[0] = s[2 * op->taps];
    acc[1] = s[2 * op->taps + 1];
    acc[2] = s[2 * op->taps + 2];
    acc[3] = s[2 * op->taps + 3];
    for (fy = fy0; fy < fy1; ++fy) {
      const int8_t *row = in + (fy - fy0) * op->row_stride + 4 * g;
      for (fx = fx0; fx < fx1; ++fx) {
        tinyml_dw_tap4(acc, row + (long)(fx - fx0) * op->channels, s + 2 * (fy * op->filter_w + fx),
                       op->offset_pair, op->input_offset);
      }
    }
    tinyml_dw_store4(acc, s + 2 * op->taps + 4, out + 4 * g, 0, op->output_offset, op->act_min, op->act_max);
  }
  /* The leftover channels, one at a time. */
  for (c = op->groups * 4; c < op->channels; ++c, s += TINYML_DW_LEFTOVER_WORDS(op->taps)) {
    int32_t acc = s[op->taps];
    for (fy = fy0; fy < fy1; ++fy) {
      const int8_t *row = in + (fy - fy0) * op->row_stride + c;
      for (fx = fx0; fx < fx1; ++fx) {
        acc += ((int32_t)row[(long)(fx - fx0) * op->channels] + op->input_offset) * s[fy * op->filter_w + fx];
      }
    }
    out[c] = tinyml_dw_output(acc, s + op->taps + 1, 1, 0, op->output_offset, op->act_min, op->act_max);
  }
}

/* The first output column whose window starts inside the input, and one past the last whose window ends inside. */
static void interior_columns(const tinyml_conv_params *p, int *first, int *end) {
  int lo = (p->pad_w + p->stride_w - 1) / p->stride_w;
  int hi = p->in_w - p->filter_w + p->pad_w < 0 ? 0 : (p->in_w - p->filter_w + p->pad_w) / p->stride_w + 1;
  if (hi > p->out_w) hi = p->out_w;
  if (lo > hi) lo = hi;
  *first = lo;
  *end = hi;
}

void tinyml_depthwise_conv_dm1(const tinyml_conv_params *p, const int8_t *input, const int32_t *stream,
                               int8_t *output, tinyml_dw_run_fn interior, tinyml_dw_window_fn border) {
  dw_op op;
  int oy, ox, first, end;
  op.stream = stream;
  op.input_offset = p->input_offset;
  op.output_offset = p->output_offset;
  op.act_min = p->act_min;
  op.act_max = p->act_max;
  op.offset_pair = tinyml_dw_offset_pair(p->input_offset);
  op.channels = p->in_c;
  op.groups = p->in_c / 4;
  op.taps = p->filter_h * p->filter_w;
  op.filter_w = p->filter_w;
  op.row_stride = (long)p->in_w * p->in_c;
  interior_columns(p, &first, &end);
  for (oy = 0; oy < p->out_h; ++oy) {
    const int iy = oy * p->stride_h - p->pad_h;
    const int fy0 = iy < 0 ? -iy : 0;
    const int fy1 = iy + p->filter_h > p->in_h ? p->in_h - iy : p->filter_h;
    const int full_rows = fy0 == 0 && fy1 == p->filter_h;
    int8_t *out = output + (long)oy * p->out_w * p->in_c;
    for (ox = 0; ox < p->out_w; ++ox, out += p->in_c) {
      const int ix = ox * p->stride_w - p->pad_w;
      const int fx0 = ix < 0 ? -ix : 0;
      const int fx1 = ix + p->filter_w > p->in_w ? p->in_w - ix : p->filter_w;
      if (interior && full_rows && ox == first && end > first) {
        /* The row's run of whole windows, in one call. */
        interior(input + ((long)iy * p->in_w + ix) * p->in_c, out, end - first);
        out += (long)(end - first - 1) * p->in_c;
        ox = end - 1;
      } else if (border && fy0 < fy1 && fx0 < fx1) {
        const long base = ((long)iy * p->in_w + ix) * p->in_c;
        border(input, base, out, (1u << fy1) - (1u << fy0), (1u << fx1) - (1u << fx0));
      } else if (fy0 >= fy1 || fx0 >= fx1) {
        dw_window(&op, input, 0, 0, 0, 0, out);  /* a window wholly in the padding: bias only, as TFLite */
      } else {
        dw_window(&op, input + ((long)(iy + fy0) * p->in_w + (ix + fx0)) * p->in_c, fy0, fy1, fx0, fx1, out);
      }
    }
  }
}
