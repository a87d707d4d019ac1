/* tinyml_conv_simd.h — the int8 dot-product blocks of CONV_2D and FULLY_CONNECTED: a 2-row x 2-column block of
 * int32 accumulators advanced by 4 columns at a time, with the Cortex-M4's DSP instructions when the compiler has
 * them and in plain C otherwise. Both paths add exactly the same integer products (only their order differs, and
 * int32 addition wraps the same in any order), so host and device give identical results.
 *
 * The trick (CMSIS-NN's arm_nn_mat_mult_nt_t_s8): SXTB16 sign-extends bytes 0 and 2 of a word into two int16
 * lanes, SXTB16 of the word rotated by 8 bytes 1 and 3. Splitting BOTH operands the same way lines their lanes up,
 * so SMLAD (two 16x16 multiplies and an add) gives x0*w0 + x2*w2, then x1*w1 + x3*w3: 4 MACs for 2 SMLADs and
 * no reordering of weights or inputs. The input offset is not added here: the generator folds it into the bias. */
#ifndef TINYML_CONV_SIMD_H_
#define TINYML_CONV_SIMD_H_

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && defined(__GNUC__)
#define TINYML_CONV_DSP 1
#include <arm_acle.h>

/* Four int8 values as one word; the Cortex-M4 loads unaligned words in one LDR. */
static inline uint32_t tinyml_read4(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* SXTB16 with its rotation folded in (ACLE's __sxtb16(__ror(x, 8)) costs gcc a separate ROR). */
static inline int16x2_t tinyml_sxtb16_ror8(uint32_t x) {
  int16x2_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

/* Keeps gcc from hoisting the next block's loads above this block's multiplies: its scheduler would otherwise
 * hold 8 loaded words at once and spill accumulators to the stack. */
#define TINYML_BLOCK_FENCE() __asm__ volatile("" ::: "memory")

/* acc[r][c] += dot(row r, column c) over 4 values: rows a0, a1 (inputs), columns w0, w1 (filters). */
#define TINYML_BLOCK4_2X2(a0, a1, w0, w1, acc00, acc01, acc10, acc11)                                          \
  do {                                                                                                        \
    TINYML_BLOCK_FENCE();                                                                                     \
    const uint32_t x0_ = tinyml_read4(a0), x1_ = tinyml_read4(a1);                                            \
    const uint32_t y0_ = tinyml_read4(w0), y1_ = tinyml_read4(w1);                                            \
    const int16x2_t x0e_ = __sxtb16(x0_), x0o_ = tinyml_sxtb16_ror8(x0_);                                     \
    const int16x2_t x1e_ = __sxtb16(x1_), x1o_ = tinyml_sxtb16_ror8(x1_);                                     \
    int16x2_t ye_ = __sxtb16(y0_), yo_ = tinyml_sxtb16_ror8(y0_);                                             \
    acc00 = __smlad(x0e_, ye_, acc00); acc00 = __smlad(x0o_, yo_, acc00);                                     \
    acc10 = __smlad(x1e_, ye_, acc10); acc10 = __smlad(x1o_, yo_, acc10);                                     \
    ye_ = __sxtb16(y1_); yo_ = tinyml_sxtb16_ror8(y1_);                                                       \
    acc01 = __smlad(x0e_, ye_, acc01); acc01 = __smlad(x0o_, yo_, acc01);                                     \
    acc11 = __smlad(x1e_, ye_, acc11); acc11 = __smlad(x1o_, yo_, acc11);                                     \
  } while (0)

/* acc0 += dot(a, w0), acc1 += dot(a, w1) over 4 values. */
#define TINYML_BLOCK4_1X2(a, w0, w1, acc0, acc1)                                                              \
  do {                                                                                                        \
    const uint32_t x_ = tinyml_read4(a), y0_ = tinyml_read4(w0), y1_ = tinyml_read4(w1);                      \
    const int16x2_t xe_ = __sxtb16(x_), xo_ = tinyml_sxtb16_ror8(x_);                                         \
    acc0 = __smlad(xe_, __sxtb16(y0_), acc0); acc0 = __smlad(xo_, tinyml_sxtb16_ror8(y0_), acc0);             \
    acc1 = __smlad(xe_, __sxtb16(y1_), acc1); acc1 = __smlad(xo_, tinyml_sxtb16_ror8(y1_), acc1);             \
  } while (0)

/* acc_j += dot(a, w_j) over 4 values for 4 filters: the input's two halves extended once for all four. */
#define TINYML_BLOCK4_1X4(a, w0, w1, w2, w3, acc0, acc1, acc2, acc3)                                           \
  do {                                                                                                        \
    const uint32_t x_ = tinyml_read4(a);                                                                      \
    const int16x2_t xe_ = __sxtb16(x_), xo_ = tinyml_sxtb16_ror8(x_);                                         \
    uint32_t y_;                                                                                              \
    TINYML_BLOCK_FENCE();                                                                                     \
    y_ = tinyml_read4(w0);                                                                                    \
    acc0 = __smlad(xe_, __sxtb16(y_), acc0); acc0 = __smlad(xo_, tinyml_sxtb16_ror8(y_), acc0);               \
    y_ = tinyml_read4(w1);                                                                                    \
    acc1 = __smlad(xe_, __sxtb16(y_), acc1); acc1 = __smlad(xo_, tinyml_sxtb16_ror8(y_), acc1);               \
    y_ = tinyml_read4(w2);                                                                                    \
    acc2 = __smlad(xe_, __sxtb16(y_), acc2); acc2 = __smlad(xo_, tinyml_sxtb16_ror8(y_), acc2);               \
    y_ = tinyml_read4(w3);                                                                                    \
    acc3 = __smlad(xe_, __sxtb16(y_), acc3); acc3 = __smlad(xo_, tinyml_sxtb16_ror8(y_), acc3);               \
  } while (0)

/* acc += dot(a, w) over 4 values. */
#define TINYML_BLOCK4_1X1(a, w, acc)                                                                          \
  do {                                                                                                        \
    const uint32_t x_ = tinyml_read4(a), y_ = tinyml_read4(w);                                                \
    acc = __smlad(__sxtb16(x_), __sxtb16(y_), acc);                                                           \
    acc = __smlad(tinyml_sxtb16_ror8(x_), tinyml_sxtb16_ror8(y_), acc);                                       \
  } while (0)

/* 16 columns: four 4-column blocks (the FC form reads 4 filters interleaved by 4 bytes, 64 bytes in all). */
#define TINYML_BLOCK16_2X2(a0, a1, w0, w1, acc00, acc01, acc10, acc11)                                         \
  do {                                                                                                        \
    TINYML_BLOCK4_2X2(a0, a1, w0, w1, acc00, acc01, acc10, acc11);                                            \
    TINYML_BLOCK4_2X2((a0) + 4, (a1) + 4, (w0) + 4, (w1) + 4, acc00, acc01, acc10, acc11);                    \
    TINYML_BLOCK4_2X2((a0) + 8, (a1) + 8, (w0) + 8, (w1) + 8, acc00, acc01, acc10, acc11);                    \
    TINYML_BLOCK4_2X2((a0) + 12, (a1) + 12, (w0) + 12, (w1) + 12, acc00, acc01, acc10, acc11);                \
  } while (0)

#define TINYML_BLOCK16_1X2(a, w0, w1, acc0, acc1)                                                             \
  do {                                                                                                        \
    TINYML_BLOCK4_1X2(a, w0, w1, acc0, acc1);                                                                 \
    TINYML_BLOCK4_1X2((a) + 4, (w0) + 4, (w1) + 4, acc0, acc1);                                               \
    TINYML_BLOCK4_1X2((a) + 8, (w0) + 8, (w1) + 8, acc0, acc1);                                               \
    TINYML_BLOCK4_1X2((a) + 12, (w0) + 12, (w1) + 12, acc0, acc1);                                            \
  } while (0)

#define TINYML_BLOCK16_1X4_INTERLEAVED(a, w, acc0, acc1, acc2, acc3)                                           \
  do {                                                                                                        \
    TINYML_BLOCK4_1X4(a, w, (w) + 4, (w) + 8, (w) + 12, acc0, acc1, acc2, acc3);                              \
    TINYML_BLOCK4_1X4((a) + 4, (w) + 16, (w) + 20, (w) + 24, (w) + 28, acc0, acc1, acc2, acc3);               \
    TINYML_BLOCK4_1X4((a) + 8, (w) + 32, (w) + 36, (w) + 40, (w) + 44, acc0, acc1, acc2, acc3);               \
    TINYML_BLOCK4_1X4((a) + 12, (w) + 48, (w) + 52, (w) + 56, (w) + 60, acc0, acc1, acc2, acc3);              \
  } while (0)

#else /* the portable path: the same products, one multiply each (compilers vectorise these on a host) */
#define TINYML_CONV_DSP 0

#define TINYML_DOT4(a, w)                                                                                     \
  ((int32_t)(a)[0] * (w)[0] + (int32_t)(a)[1] * (w)[1] + (int32_t)(a)[2] * (w)[2] + (int32_t)(a)[3] * (w)[3])

#define TINYML_BLOCK4_2X2(a0, a1, w0, w1, acc00, acc01, acc10, acc11)                                          \
  do {                                                                                                        \
    acc00 += TINYML_DOT4(a0, w0); acc01 += TINYML_DOT4(a0, w1);                                               \
    acc10 += TINYML_DOT4(a1, w0); acc11 += TINYML_DOT4(a1, w1);                                               \
  } while (0)

#define TINYML_BLOCK4_1X2(a, w0, w1, acc0, acc1)                                                              \
  do {                                                                                                        \
    acc0 += TINYML_DOT4(a, w0); acc1 += TINYML_DOT4(a, w1);                                                   \
  } while (0)

#define TINYML_BLOCK4_1X4(a, w0, w1, w2, w3, acc0, acc1, acc2, acc3)                                           \
  do {                                                                                                        \
    acc0 += TINYML_DOT4(a, w0); acc1 += TINYML_DOT4(a, w1);                                                   \
    acc2 += TINYML_DOT4(a, w2); acc3 += TINYML_DOT4(a, w3);                                                   \
  } while (0)

#define TINYML_BLOCK4_1X1(a, w, acc) do { acc += TINYML_DOT4(a, w); } while (0)

/* 16 products in loops of a fixed trip count, which a host compiler vectorises even at -O2. */
static inline int32_t tinyml_dot16(const int8_t *a, const int8_t *w) {
  int32_t sum = 0;
  int j;
  for (j = 0; j < 16; ++j) sum += (int32_t)a[j] * w[j];
  return sum;
}

/* Filter f's 16 weights among 4 interleaved by 4 bytes: 4 at w + 16 * b + 4 * f for b = 0..3. */
static inline int32_t tinyml_dot16_interleaved(const int8_t *a, const int8_t *w, int f) {
  int32_t sum = 0;
  int b, t;
  for (b = 0; b < 4; ++b) {
    for (t = 0; t < 4; ++t) sum += (int32_t)a[4 * b + t] * w[16 * b + 4 * f + t];
  }
  return sum;
}

#define TINYML_BLOCK16_2X2(a0, a1, w0, w1, acc00, acc01, acc10, acc11)                                         \
  do {                                                                                                        \
    acc00 += tinyml_dot16(a0, w0); acc01 += tinyml_dot16(a0, w1);                                             \
    acc10 += tinyml_dot16(a1, w0); acc11 += tinyml_dot16(a1, w1);                                             \
  } while (0)

#define TINYML_BLOCK16_1X2(a, w0, w1, acc0, acc1)                                                             \
  do {                                                                                                        \
    acc0 += tinyml_dot16(a, w0); acc1 += tinyml_dot16(a, w1);                                                 \
  } while (0)

#define TINYML_BLOCK16_1X4_INTERLEAVED(a, w, acc0, acc1, acc2, acc3)                                           \
  do {                                                                                                        \
    acc0 += tinyml_dot16_interleaved(a, w, 0); acc1 += tinyml_dot16_interleaved(a, w, 1);                     \
    acc2 += tinyml_dot16_interleaved(a, w, 2); acc3 += tinyml_dot16_interleaved(a, w, 3);                     \
  } while (0)
#endif

#endif /* TINYML_CONV_SIMD_H_ */
