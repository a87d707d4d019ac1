/* tinyml_depthwise_simd.h — the multiply-accumulate step of the depth-multiplier-1 depthwise kernel: one filter tap
 * for 4 adjacent channels, each channel into its own accumulator (a depthwise convolution never sums channels).
 *
 * The 4 weights of a tap come pre-packed by the generator (depthwise_lowering.pack_depthwise_filter) as two 32-bit
 * words of sign-extended int16 halves, [w0 | w2] and [w1 | w3] (low half first), so the Cortex-M4 spends no
 * instruction unpacking them. The 4 input bytes are one word load; SXTAB16 sign-extends bytes 0 and 2 into halves
 * and adds the input offset to both in one instruction (the "ror #8" form does bytes 1 and 3), and SMLABB/SMLATT
 * multiply-accumulate the bottom/top halves: 3 loads, 2 SXTAB16 and 4 MACs per 4-channel tap.
 * (x + offset) fits int16 (|x| <= 128, |offset| <= 128) and the products are exact, so the integers are the
 * reference kernel's; the portable path, which the host tests compile, computes the same ones in plain C. */
#ifndef TINYML_DEPTHWISE_SIMD_H_
#define TINYML_DEPTHWISE_SIMD_H_

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define TINYML_DW_INLINE static inline __attribute__((always_inline))
#else
#define TINYML_DW_INLINE static inline
#endif

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
#include <arm_acle.h>
#define TINYML_DW_SIMD 1
#else
#define TINYML_DW_SIMD 0
#endif

#if TINYML_DW_SIMD
/* SXTAB16 of bytes 1 and 3 (the operand rotated by 8 bits), which GCC does not form from a rotate by itself. */
TINYML_DW_INLINE uint32_t tinyml_sxtab16_ror8(uint32_t halves, uint32_t bytes) {
  uint32_t result;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(result) : "r"(halves), "r"(bytes));
  return result;
}
#endif

/* The input offset as the SIMD path adds it: the same 16-bit value in both halves. */
TINYML_DW_INLINE uint32_t tinyml_dw_offset_pair(int32_t input_offset) {
  return ((uint32_t)input_offset & 0xFFFFu) | ((uint32_t)input_offset << 16);
}

/* A packed weight word's halves, as the portable path reads them. */
TINYML_DW_INLINE int32_t tinyml_dw_low(int32_t word) { return (int32_t)(int16_t)(uint16_t)((uint32_t)word & 0xFFFFu); }
TINYML_DW_INLINE int32_t tinyml_dw_high(int32_t word) { return (int32_t)(int16_t)(uint16_t)((uint32_t)word >> 16); }

/* acc[0..3] += (in[0..3] + input_offset) * w[0..3], w packed as [w0 | w2], [w1 | w3]. */
TINYML_DW_INLINE void tinyml_dw_tap4(int32_t acc[4], const int8_t *in, const int32_t *w, uint32_t offset_pair,
                                     int32_t input_offset) {
#if TINYML_DW_SIMD
  uint32_t bytes, even, odd;
  (void)input_offset;
  memcpy(&bytes, in, 4); /* one LDR: the Cortex-M4 loads unaligned words */
  even = (uint32_t)__sxtab16(offset_pair, bytes);
  odd = tinyml_sxtab16_ror8(offset_pair, bytes);
  acc[0] = __smlabb((int32_t)even, w[0], acc[0]);
  acc[2] = __smlatt((int32_t)even, w[0], acc[2]);
  acc[1] = __smlabb((int32_t)odd, w[1], acc[1]);
  acc[3] = __smlatt((int32_t)odd, w[1], acc[3]);
#else
  (void)offset_pair;
  acc[0] += ((int32_t)in[0] + input_offset) * tinyml_dw_low(w[0]);
  acc[2] += ((int32_t)in[2] + input_offset) * tinyml_dw_high(w[0]);
  acc[1] += ((int32_t)in[1] + input_offset) * tinyml_dw_low(w[1]);
  acc[3] += ((int32_t)in[3] + input_offset) * tinyml_dw_high(w[1]);
#endif
}

#endif /* TINYML_DEPTHWISE_SIMD_H_ */
