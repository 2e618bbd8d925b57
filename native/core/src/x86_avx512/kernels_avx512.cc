// AVX-512 kernels (AVX-512F/BW/VL + VPOPCNTDQ): vpxorq + vpopcntq + vpaddq, 512 binary MACs per step.
//
// Convolution: a vector holds 8 adjacent output pixels for one kernel tap (planes = 1); a block is up to
// 4 vectors x 4 output channels (16 accumulators), each weight word broadcast once per tap.
// Activations are packed by pack_avx512.cc where the CPU has GFNI and VBMI, else (and rows always) by the
// AVX2 code. Float outputs are computed from the accumulators (conv_float), and the packed-bit epilogue
// handles 16 lanes per instruction instead of the generic code's 4.
#if defined(__x86_64__)

#include <immintrin.h>

#include <type_traits>

#include "../common/kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx2,popcnt"))), \
                             apply_to = function)
#else
// GCC 12's own _mm256_undefined_si256() trips -Wuninitialized inside the AVX-512 headers' inline code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx2,popcnt")
#endif

namespace bmx {
namespace detail {
namespace {

constexpr int kLanes = 8, kPlanes = 1, kMaxVecs = 4;

// acc[v][b] = sum over the kwords taps of popcount(vector v's entry XOR broadcast weight word of channel b).
template <int V, int B>
inline void accumulate(const word_t* const* base, const std::int64_t* tap_off, std::int64_t kwords, const word_t* w,
                       __m512i (&acc)[V][B]) {
  for (int v = 0; v < V; ++v)
    for (int b = 0; b < B; ++b) acc[v][b] = _mm512_setzero_si512();
  for (std::int64_t k = 0; k < kwords; ++k) {
    const std::int64_t off = tap_off[k] * kLanes;
    __m512i wb[B];
    for (int b = 0; b < B; ++b) wb[b] = _mm512_set1_epi64(static_cast<long long>(w[b * kwords + k]));
    for (int v = 0; v < V; ++v) {
      const __m512i x = _mm512_load_si512(base[v] + off);
      for (int b = 0; b < B; ++b)
        acc[v][b] = _mm512_add_epi64(acc[v][b], _mm512_popcnt_epi64(_mm512_xor_si512(x, wb[b])));
    }
  }
}

template <int V, int B>
inline void conv_block(const word_t* const* base, const std::int64_t* tap_off, std::int64_t kwords, const word_t* w,
                       std::int32_t* counts) {
  __m512i acc[V][B];
  accumulate<V, B>(base, tap_off, kwords, w, acc);
  for (int b = 0; b < B; ++b)
    for (int v = 0; v < V; ++v)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(counts + (b * V + v) * kLanes), _mm512_cvtepi64_epi32(acc[v][b]));
}

// Channels c0 ... c0 + B - 1 of a FloatTile, straight from the accumulators.
template <int V, int B>
inline void conv_block_float(const word_t* const* base, const std::int64_t* tap_off, std::int64_t kwords,
                             const word_t* w, const FloatTile& tile, std::int64_t c0) {
  __m512i acc[V][B];
  accumulate<V, B>(base, tap_off, kwords, w, acc);
  const __m256i k = _mm256_set1_epi32(tile.k);
  for (int b = 0; b < B; ++b) {
    const std::int64_t c = c0 + b;
    const __m256 scale = _mm256_set1_ps(tile.scale[c]), bias = _mm256_set1_ps(tile.bias[c]);
    float* dst = tile.out + c * tile.plane;
    const float* res = tile.residual != nullptr ? tile.residual + c * tile.plane : nullptr;
    for (int v = 0; v < V; ++v) {
      const __m256i y = _mm256_sub_epi32(k, _mm256_slli_epi32(_mm512_cvtepi64_epi32(acc[v][b]), 1));
      __m256 product = _mm256_mul_ps(_mm256_cvtepi32_ps(y), scale);
      asm("" : "+v"(product));  // the product is rounded to float32 before the addition: no FMA
      __m256 value = _mm256_add_ps(product, bias);
      float* out = dst + tile.target[v];
      if (tile.valid[v] == kLanes) {
        if (res != nullptr) value = _mm256_add_ps(value, _mm256_loadu_ps(res + tile.target[v]));
        _mm256_storeu_ps(out, value);
      } else {  // a row's last, partial vector
        alignas(32) float lanes[kLanes];
        _mm256_store_ps(lanes, value);
        for (std::int64_t j = 0; j < tile.valid[v]; ++j)
          out[j] = res != nullptr ? lanes[j] + res[tile.target[v] + j] : lanes[j];
      }
    }
  }
}

// Call block(std::integral_constant<int, B>{}, base, weights of channel c, c) over the nchan channels, in
// blocks of B = 4 and then single channels, for the V pixel vectors whose entries start at vec_base.
template <int V, typename Block>
inline void for_channel_blocks(const word_t* xs, const std::int64_t* vec_base, std::int64_t kwords, const word_t* w,
                               std::int64_t nchan, const Block& block) {
  const word_t* base[V];
  for (int v = 0; v < V; ++v) base[v] = xs + vec_base[v] * kLanes;
  std::int64_t c = 0;
  for (; c + 4 <= nchan; c += 4) block(std::integral_constant<int, 4>{}, base, w + c * kwords, c);
  for (; c < nchan; ++c) block(std::integral_constant<int, 1>{}, base, w + c * kwords, c);
}

void conv_float(const word_t* xs, const std::int64_t* vec_base, int nvec, const std::int64_t* tap_off,
                std::int64_t kwords, const word_t* w, std::int64_t nchan, const FloatTile& tile) {
  with_vector_count<kMaxVecs>(nvec, [&](auto vecs) {
    constexpr int V = decltype(vecs)::value;
    for_channel_blocks<V>(xs, vec_base, kwords, w, nchan, [&](auto b, const word_t* const* base, const word_t* wc,
                                                              std::int64_t c) {
      conv_block_float<V, decltype(b)::value>(base, tap_off, kwords, wc, tile, c);
    });
  });
}

void conv_counts(const word_t* xs, const std::int64_t* vec_base, int nvec, const std::int64_t* tap_off,
                 std::int64_t kwords, const word_t* w, std::int64_t nchan, std::int32_t* counts) {
  with_vector_count<kMaxVecs>(nvec, [&](auto vecs) {
    constexpr int V = decltype(vecs)::value;
    for_channel_blocks<V>(xs, vec_base, kwords, w, nchan, [&](auto b, const word_t* const* base, const word_t* wc,
                                                              std::int64_t c) {
      conv_block<V, decltype(b)::value>(base, tap_off, kwords, wc, counts + c * V * kLanes);
    });
  });
}

void gemm_counts(const word_t* a, std::int64_t m, const word_t* b, std::int64_t n, std::int64_t kw,
                 std::int32_t* counts, std::int64_t ldc) {
  const __mmask8 tail = static_cast<__mmask8>((1u << (kw % 8)) - 1);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const word_t* x = a + i * kw;
      const word_t* y = b + j * kw;
      __m512i acc = _mm512_setzero_si512();
      std::int64_t k = 0;
      for (; k + 8 <= kw; k += 8)
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(x + k),
                                                                          _mm512_loadu_si512(y + k))));
      if (k < kw)
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_maskz_loadu_epi64(tail, x + k),
                                                                          _mm512_maskz_loadu_epi64(tail, y + k))));
      counts[i * ldc + j] = static_cast<std::int32_t>(_mm512_reduce_add_epi64(acc));
    }
}

// epilogue.h's sign_bits() on 16 lanes at a time (the last group masked): one masked OR per channel sets
// bit c where the count is in the channel's interval.
void sign_bits(const std::int32_t* counts, std::int64_t lanes, std::int64_t nchan, const std::uint32_t* lo,
               const std::uint32_t* span, std::uint32_t* bits) {
  for (std::int64_t q = 0; q < lanes; q += 16) {
    const __mmask16 present = lanes - q >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (lanes - q)) - 1);
    __m512i acc = _mm512_setzero_si512();
    for (std::int64_t c = 0; c < nchan; ++c) {
      const __m512i cnt = _mm512_maskz_loadu_epi32(present, counts + c * lanes + q);
      const __mmask16 in = _mm512_cmple_epu32_mask(_mm512_sub_epi32(cnt, _mm512_set1_epi32(static_cast<int>(lo[c]))),
                                                   _mm512_set1_epi32(static_cast<int>(span[c])));
      acc = _mm512_mask_or_epi32(acc, in, acc, _mm512_set1_epi32(static_cast<int>(1u << c)));
    }
    _mm512_mask_storeu_epi32(bits + q, present, acc);
  }
}

double peak_loop(std::int64_t iters) {
  constexpr int kVectors = 32;  // 2 KiB
  alignas(64) static thread_local word_t data[kVectors * 8];
  for (int i = 0; i < kVectors * 8; ++i) data[i] = 0x9e3779b97f4a7c15ULL * (i + 1);
  __m512i k0 = _mm512_set1_epi64(0x0123456789abcdefLL), k1 = _mm512_set1_epi64(0x7edcba9876543210LL);
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (std::int64_t it = 0; it < iters; ++it) {
    asm volatile("" : "+v"(k0), "+v"(k1));  // the keys are opaque each pass: no hoisting of the invariant popcounts
    for (int i = 0; i < kVectors; i += 2) {
      const __m512i x0 = _mm512_load_si512(data + 8 * i), x1 = _mm512_load_si512(data + 8 * i + 8);
      a0 = _mm512_add_epi64(a0, _mm512_popcnt_epi64(_mm512_xor_si512(x0, k0)));
      a1 = _mm512_add_epi64(a1, _mm512_popcnt_epi64(_mm512_xor_si512(x0, k1)));
      a2 = _mm512_add_epi64(a2, _mm512_popcnt_epi64(_mm512_xor_si512(x1, k0)));
      a3 = _mm512_add_epi64(a3, _mm512_popcnt_epi64(_mm512_xor_si512(x1, k1)));
    }
  }
  __m512i sum = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
  asm volatile("" ::"v"(sum));
  return double(iters) * kVectors * 2 * 512;
}

}  // namespace
}  // namespace detail
}  // namespace bmx

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace bmx {
namespace detail {

const IsaKernels& avx512_kernels() {
  static const IsaKernels kernels{Isa::avx512, kLanes,    kPlanes,        kMaxVecs,
                                  conv_counts, gemm_counts,
                                  cpu_has_gfni_vbmi() ? pack_nchw_avx512 : pack_nchw_avx2,
                                  pack_rows_avx2, peak_loop, sign_bits, conv_float};
  return kernels;
}

}  // namespace detail
}  // namespace bmx

#endif  // __x86_64__
