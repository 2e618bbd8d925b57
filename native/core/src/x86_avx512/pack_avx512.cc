// AVX-512 activation packing with GFNI + VBMI: 32 pixels x 64 channels per block (the last block of a
// range may be partial: masked loads and stores), for channel groups whose size is a multiple of 64 (other
// groups go to the AVX2 packer).
//
// One block, in four steps:
//  1. sign masks: for each of the 64 channels c, two compares of 16 pixels give mask[c], a 32-bit word whose
//     bit q is set iff pixel p + q of channel c is negative after the affine (float32 multiply, round, add);
//  2. byte deinterleave (vpermt2b): register b (pixels 8b ... 8b + 7) gets byte b of every mask, so its
//     qword r holds the 8 x 8 bit matrix of channels 8r ... 8r + 7 (one byte each, in reverse order) by
//     those 8 pixels;
//  3. bit transpose (gf2p8affineqb): each qword becomes the same matrix transposed, byte j = pixel 8b + j,
//     bit i = channel 8r + i (the reversed channel order of step 2 is what the affine instruction's row
//     order needs);
//  4. byte transpose (vpermb): qword j of register b becomes the packed word of pixel 8b + j.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

#include "../common/kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,gfni,avx2"))), \
                             apply_to = function)
#else
// GCC 12's own _mm512_undefined_*() trip -Wmaybe-uninitialized inside the AVX-512 headers' inline code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vbmi,gfni,avx2")
#endif

namespace bmx {
namespace detail {
namespace {

constexpr std::int64_t kBlockPixels = 32;

// Sign masks of the pixels q < 16 in `valid` of one channel plane: bit q set iff the (affine) value of
// plane[q] is < 0 (pixels outside `valid` are not read and give 0).
inline __mmask16 sign_mask16(const float* plane, __mmask16 valid, const __m512& scale, const __m512& bias,
                             bool affine) {
  __m512 v = _mm512_maskz_loadu_ps(valid, plane);
  if (affine) {
    v = _mm512_mul_ps(v, scale);
    asm("" : "+v"(v));  // the product is rounded to float32 before the addition: no FMA
    v = _mm512_add_ps(v, bias);
  }
  return _mm512_mask_cmp_ps_mask(valid, v, _mm512_setzero_ps(), _CMP_LT_OQ);
}

// Step 2's index: byte k of the result is byte (k / 32 + offset) of mask (k % 32) of the 32 masks in two
// registers, with the channels of each run of 8 reversed.
inline __m512i deinterleave_index(int offset) {
  alignas(64) std::uint8_t index[64];
  for (int k = 0; k < 64; ++k) {
    const int c = k % 32, reversed = (c & ~7) | (7 - (c & 7));
    index[k] = static_cast<std::uint8_t>(4 * reversed + k / 32 + offset);
  }
  return _mm512_load_si512(index);
}

// Step 4's index: byte 8j + r of the result is byte 8r + j of the source.
inline __m512i byte_transpose_index() {
  alignas(64) std::uint8_t index[64];
  for (int k = 0; k < 64; ++k) index[k] = static_cast<std::uint8_t>(8 * (k % 8) + k / 8);
  return _mm512_load_si512(index);
}

// One block: pixels p ... p + count - 1 (count <= 32) of channels ch0 ... ch0 + 63 -> one word of each of
// those pixels' rows of `out`.
inline void pack_block(const float* x, std::int64_t hw, std::int64_t ch0, std::int64_t p, std::int64_t count,
                       const float* scale, const float* bias, word_t* out, std::int64_t wpp,
                       const __m512i (&pick)[2], const __m512i& transpose, const __m512i& scatter) {
  alignas(64) std::uint16_t masks[2 * 64];  // mask[c] = masks[2c] | masks[2c + 1] << 16
  const bool affine = scale != nullptr;
  const std::uint32_t valid = count == 32 ? ~0u : (1u << count) - 1;
  const __mmask16 valid_lo = static_cast<__mmask16>(valid), valid_hi = static_cast<__mmask16>(valid >> 16);
  for (int c = 0; c < 64; ++c) {
    const float* plane = x + (ch0 + c) * hw + p;
    const __m512 s = _mm512_set1_ps(affine ? scale[ch0 + c] : 1.0f), b = _mm512_set1_ps(affine ? bias[ch0 + c] : 0.0f);
    _store_mask16(reinterpret_cast<__mmask16*>(masks + 2 * c), sign_mask16(plane, valid_lo, s, b, affine));
    _store_mask16(reinterpret_cast<__mmask16*>(masks + 2 * c + 1), sign_mask16(plane + 16, valid_hi, s, b, affine));
  }
  __m512i m[4];
  for (int i = 0; i < 4; ++i) m[i] = _mm512_load_si512(masks + 32 * i);
  // pairs[h][i]: bytes h (first half) and h + 1 of the masks of channels 32i ... 32i + 31, h = 0 or 2
  __m512i pairs[2][2];
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 2; ++i) pairs[h][i] = _mm512_permutex2var_epi8(m[2 * i], pick[h], m[2 * i + 1]);
  const __m512i unit_bytes = _mm512_set1_epi64(static_cast<long long>(0x8040201008040201ULL));  // byte j = 1 << j
  for (int b = 0; b < 4; ++b) {
    const __mmask8 store = static_cast<__mmask8>(valid >> (8 * b));
    if (store == 0) break;  // the rest of a partial block holds no pixel
    const int h = b / 2;
    // all 64 channels' byte b: the lower halves of both pairs (b even) or their upper halves (b odd)
    const __m512i bytes = b % 2 == 0 ? _mm512_shuffle_i64x2(pairs[h][0], pairs[h][1], 0x44)
                                     : _mm512_shuffle_i64x2(pairs[h][0], pairs[h][1], 0xEE);
    const __m512i bits = _mm512_gf2p8affine_epi64_epi8(unit_bytes, bytes, 0);
    const __m512i words = _mm512_permutexvar_epi8(transpose, bits);
    word_t* dst = out + (p + 8 * b) * wpp;
    if (wpp == 1)
      _mm512_mask_storeu_epi64(dst, store, words);
    else
      _mm512_mask_i64scatter_epi64(dst, store, scatter, words, 8);
  }
}

}  // namespace

void pack_nchw_avx512(const float* x, std::int64_t c, std::int64_t hw, std::int64_t groups, const float* scale,
                      const float* bias, std::int64_t p0, std::int64_t p1, word_t* out) {
  const std::int64_t cg = c / groups;
  if (cg % 64 != 0) return pack_nchw_avx2(x, c, hw, groups, scale, bias, p0, p1, out);
  const std::int64_t cwg = cg / 64, wpp = groups * cwg;
  const __m512i pick[2] = {deinterleave_index(0), deinterleave_index(2)};
  const __m512i transpose = byte_transpose_index();
  const __m512i scatter = _mm512_setr_epi64(0, wpp, 2 * wpp, 3 * wpp, 4 * wpp, 5 * wpp, 6 * wpp, 7 * wpp);
  for (std::int64_t p = p0; p < p1; p += kBlockPixels) {
    const std::int64_t count = p1 - p < kBlockPixels ? p1 - p : kBlockPixels;
    for (std::int64_t g = 0; g < groups; ++g)
      for (std::int64_t w = 0; w < cwg; ++w)
        pack_block(x, hw, g * cg + 64 * w, p, count, scale, bias, out + g * cwg + w, wpp, pick, transpose, scatter);
  }
}

}  // namespace detail
}  // namespace bmx

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // __x86_64__
