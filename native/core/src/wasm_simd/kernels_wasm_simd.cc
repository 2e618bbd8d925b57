// WebAssembly SIMD128 kernels: v128.xor + i8x16.popcnt (byte popcounts) + byte accumulation, widened to 32-bit
// counters (i16x8 / i32x4 pairwise adds) every 31 taps, since a byte counter grows by at most 8 per tap.
//
// Convolution: a vector holds the words of 2 adjacent output pixels for one kernel tap (planes = 1); a block is
// up to 4 vectors x 2 output channels (8 byte accumulators, within the 16 registers a host engine maps v128 to).
// Packing of activations (NCHW) takes 4 pixels per vector; packing of rows uses the portable code.
#if defined(__wasm_simd128__)

#include <wasm_simd128.h>

#include <algorithm>

#include "../common/kernels.h"

namespace bmx {
namespace detail {
namespace {

constexpr int kLanes = 2, kPlanes = 1, kMaxVecs = 4, kChannels = 2, kChunk = 31;

/// total (u32x4) += the 16 byte counters of `bytes` summed in groups of 4 (lanes 0-1: word 0, 2-3: word 1).
inline v128_t widen_bytes(v128_t total, v128_t bytes) {
  return wasm_i32x4_add(total, wasm_u32x4_extadd_pairwise_u16x8(wasm_u16x8_extadd_pairwise_u8x16(bytes)));
}

inline v128_t popcount_xor(v128_t x, v128_t w) { return wasm_i8x16_popcnt(wasm_v128_xor(x, w)); }

/// Per-word totals of a u32x4 counter: {lane 0 + lane 1, lane 2 + lane 3}.
inline void store_word_counts(std::int32_t* out, v128_t total) {
  const v128_t pairs = wasm_i32x4_add(total, wasm_i32x4_shuffle(total, total, 1, 0, 3, 2));
  out[0] = wasm_i32x4_extract_lane(pairs, 0);
  out[1] = wasm_i32x4_extract_lane(pairs, 2);
}

template <int V, int B>
inline void conv_block(const word_t* const* base, const std::int64_t* tap_off, std::int64_t kwords, const word_t* w,
                       std::int32_t* counts) {
  v128_t total[V][B];
  for (int v = 0; v < V; ++v)
    for (int b = 0; b < B; ++b) total[v][b] = wasm_i32x4_splat(0);
  for (std::int64_t k0 = 0; k0 < kwords; k0 += kChunk) {
    const std::int64_t k1 = k0 + kChunk < kwords ? k0 + kChunk : kwords;
    v128_t acc[V][B];
    for (int v = 0; v < V; ++v)
      for (int b = 0; b < B; ++b) acc[v][b] = wasm_i8x16_splat(0);
    for (std::int64_t k = k0; k < k1; ++k) {
      const std::int64_t off = tap_off[k] * kLanes;
      v128_t wb[B];
      for (int b = 0; b < B; ++b) wb[b] = wasm_i64x2_splat(static_cast<std::int64_t>(w[b * kwords + k]));
      for (int v = 0; v < V; ++v) {
        const v128_t x = wasm_v128_load(base[v] + off);
        for (int b = 0; b < B; ++b) acc[v][b] = wasm_i8x16_add(acc[v][b], popcount_xor(x, wb[b]));
      }
    }
    for (int v = 0; v < V; ++v)
      for (int b = 0; b < B; ++b) total[v][b] = widen_bytes(total[v][b], acc[v][b]);
  }
  for (int b = 0; b < B; ++b)
    for (int v = 0; v < V; ++v) store_word_counts(counts + (b * V + v) * kLanes, total[v][b]);
}

template <int V>
void conv_counts_v(const word_t* xs, const std::int64_t* vec_base, const std::int64_t* tap_off, std::int64_t kwords,
                   const word_t* w, std::int64_t nchan, std::int32_t* counts) {
  const word_t* base[V];
  for (int v = 0; v < V; ++v) base[v] = xs + vec_base[v] * kLanes;
  std::int64_t c = 0;
  for (; c + kChannels <= nchan; c += kChannels)
    conv_block<V, kChannels>(base, tap_off, kwords, w + c * kwords, counts + c * V * kLanes);
  for (; c < nchan; ++c) conv_block<V, 1>(base, tap_off, kwords, w + c * kwords, counts + c * V * kLanes);
}

void conv_counts(const word_t* xs, const std::int64_t* vec_base, int nvec, const std::int64_t* tap_off,
                 std::int64_t kwords, const word_t* w, std::int64_t nchan, std::int32_t* counts) {
  with_vector_count<kMaxVecs>(nvec, [&](auto v) {
    conv_counts_v<decltype(v)::value>(xs, vec_base, tap_off, kwords, w, nchan, counts);
  });
}

/// counts of one row pair: 2 words per step, byte counters widened every kChunk steps, an odd last word scalar.
void gemm_counts(const word_t* a, std::int64_t m, const word_t* b, std::int64_t n, std::int64_t kw,
                 std::int32_t* counts, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const word_t* x = a + i * kw;
      const word_t* y = b + j * kw;
      v128_t total = wasm_i32x4_splat(0);
      std::int64_t k = 0;
      while (k + 2 <= kw) {
        v128_t acc = wasm_i8x16_splat(0);
        for (int step = 0; step < kChunk && k + 2 <= kw; ++step, k += 2)
          acc = wasm_i8x16_add(acc, popcount_xor(wasm_v128_load(x + k), wasm_v128_load(y + k)));
        total = widen_bytes(total, acc);
      }
      std::int32_t words[2];
      store_word_counts(words, total);
      std::int32_t sum = words[0] + words[1];
      if (k < kw) sum += __builtin_popcountll(x[k] ^ y[k]);
      counts[i * ldc + j] = sum;
    }
}

double peak_loop(std::int64_t iters) {
  constexpr int kVectors = 128;  // 2 KiB
  alignas(16) static word_t data[kVectors * 2];
  for (int i = 0; i < kVectors * 2; ++i) data[i] = 0x9e3779b97f4a7c15ULL * (i + 1);
  const v128_t k0 = wasm_i64x2_splat(0x0123456789abcdefLL);
  const v128_t k1 = wasm_i64x2_splat(0x7edcba9876543210LL);
  v128_t total = wasm_i32x4_splat(0);
  for (std::int64_t it = 0; it < iters; ++it) {
    for (int i0 = 0; i0 < kVectors; i0 += 16) {  // 16 vectors x 2 keys: byte counters stay below 256
      v128_t a0 = wasm_i8x16_splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (int i = i0; i < i0 + 16; i += 2) {
        const v128_t x0 = wasm_v128_load(data + 2 * i);
        const v128_t x1 = wasm_v128_load(data + 2 * i + 2);
        a0 = wasm_i8x16_add(a0, popcount_xor(x0, k0));
        a1 = wasm_i8x16_add(a1, popcount_xor(x0, k1));
        a2 = wasm_i8x16_add(a2, popcount_xor(x1, k0));
        a3 = wasm_i8x16_add(a3, popcount_xor(x1, k1));
      }
      total = widen_bytes(widen_bytes(widen_bytes(widen_bytes(total, a0), a1), a2), a3);
    }
    // Keep the loop from being folded: the optimizer cannot see through an opaque store of the running total.
    asm volatile("" : : "r"(&total) : "memory");
  }
  return double(iters) * kVectors * 2 * 128;
}

/// pack_nchw 4 pixels at a time: for each packed word (up to 64 channels of a group), two i64x2 accumulators
/// hold the words of pixels p, p + 1 and p + 2, p + 3; channel k of the word sets bit k in the pixels where
/// scale * x + bias < 0 (f32x4 multiply, then add: WebAssembly never fuses them). Remaining pixels: portable.
void pack_nchw(const float* x, std::int64_t c, std::int64_t hw, std::int64_t groups, const float* scale,
               const float* bias, std::int64_t p0, std::int64_t p1, word_t* out) {
  const std::int64_t cg = c / groups, cwg = words_for(cg), wpp = groups * cwg;
  const v128_t zero = wasm_f32x4_splat(0.f);
  std::int64_t p = p0;
  for (; p + 4 <= p1; p += 4) {
    for (std::int64_t g = 0; g < groups; ++g)
      for (std::int64_t word = 0; word < cwg; ++word) {
        const std::int64_t c0 = g * cg + word * 64, n = std::min<std::int64_t>(64, cg - word * 64);
        v128_t lo = wasm_i64x2_splat(0), hi = lo;
        for (std::int64_t k = 0; k < n; ++k) {
          v128_t v = wasm_v128_load(x + (c0 + k) * hw + p);
          if (scale != nullptr)
            v = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_splat(scale[c0 + k]), v), wasm_f32x4_splat(bias[c0 + k]));
          const v128_t negative = wasm_f32x4_lt(v, zero);  // all ones per set lane
          const v128_t bit = wasm_i64x2_splat(static_cast<std::int64_t>(word_t(1) << k));
          lo = wasm_v128_or(lo, wasm_v128_and(wasm_i64x2_extend_low_i32x4(negative), bit));
          hi = wasm_v128_or(hi, wasm_v128_and(wasm_i64x2_extend_high_i32x4(negative), bit));
        }
        word_t* o = out + p * wpp + g * cwg + word;
        o[0] |= static_cast<word_t>(wasm_i64x2_extract_lane(lo, 0));
        o[wpp] |= static_cast<word_t>(wasm_i64x2_extract_lane(lo, 1));
        o[2 * wpp] |= static_cast<word_t>(wasm_i64x2_extract_lane(hi, 0));
        o[3 * wpp] |= static_cast<word_t>(wasm_i64x2_extract_lane(hi, 1));
      }
  }
  if (p < p1) pack_nchw_portable(x, c, hw, groups, scale, bias, p, p1, out);
}

}  // namespace

const IsaKernels& wasm_simd_kernels() {
  static const IsaKernels kernels{Isa::wasm_simd, kLanes, kPlanes, kMaxVecs, conv_counts, gemm_counts,
                                  pack_nchw, pack_rows_portable, peak_loop};
  return kernels;
}

}  // namespace detail
}  // namespace bmx

#endif  // __wasm_simd128__
