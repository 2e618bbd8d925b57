// ARM NEON kernels (AArch64): veor + vcnt (byte popcount) + byte accumulation, widened per 64-bit lane
// with pairwise adds every 31 taps (byte counters grow by at most 8 per tap).
//
// Convolution: a vector holds 2 adjacent output pixels for one kernel tap (planes = 1); a block is up to
// 4 vectors x 4 output channels. Packing uses the portable code.
#if defined(__aarch64__)

#include <arm_neon.h>

#include "../common/kernels.h"

namespace bmx {
namespace detail {
namespace {

constexpr int kLanes = 2, kPlanes = 1, kMaxVecs = 4, kChunk = 31;

inline uint64x2_t widen_bytes(uint64x2_t total, uint8x16_t bytes) {
  return vpadalq_u32(total, vpaddlq_u16(vpaddlq_u8(bytes)));
}

template <int V, int B>
inline void conv_block(const word_t* const* base, const std::int64_t* tap_off, std::int64_t kwords, const word_t* w,
                       std::int32_t* counts) {
  uint64x2_t total[V][B];
  for (int v = 0; v < V; ++v)
    for (int b = 0; b < B; ++b) total[v][b] = vdupq_n_u64(0);
  for (std::int64_t k0 = 0; k0 < kwords; k0 += kChunk) {
    const std::int64_t k1 = k0 + kChunk < kwords ? k0 + kChunk : kwords;
    uint8x16_t acc[V][B];
    for (int v = 0; v < V; ++v)
      for (int b = 0; b < B; ++b) acc[v][b] = vdupq_n_u8(0);
    for (std::int64_t k = k0; k < k1; ++k) {
      const std::int64_t off = tap_off[k] * kLanes;
      uint8x16_t wb[B];
      for (int b = 0; b < B; ++b) wb[b] = vreinterpretq_u8_u64(vdupq_n_u64(w[b * kwords + k]));
      for (int v = 0; v < V; ++v) {
        const uint8x16_t x = vreinterpretq_u8_u64(vld1q_u64(base[v] + off));
        for (int b = 0; b < B; ++b) acc[v][b] = vaddq_u8(acc[v][b], vcntq_u8(veorq_u8(x, wb[b])));
      }
    }
    for (int v = 0; v < V; ++v)
      for (int b = 0; b < B; ++b) total[v][b] = widen_bytes(total[v][b], acc[v][b]);
  }
  for (int b = 0; b < B; ++b)
    for (int v = 0; v < V; ++v)
      vst1_s32(counts + (b * V + v) * kLanes, vreinterpret_s32_u32(vmovn_u64(total[v][b])));
}

template <int V>
void conv_counts_v(const word_t* xs, const std::int64_t* vec_base, const std::int64_t* tap_off, std::int64_t kwords,
                   const word_t* w, std::int64_t nchan, std::int32_t* counts) {
  const word_t* base[V];
  for (int v = 0; v < V; ++v) base[v] = xs + vec_base[v] * kLanes;
  std::int64_t c = 0;
  for (; c + 4 <= nchan; c += 4) conv_block<V, 4>(base, tap_off, kwords, w + c * kwords, counts + c * V * kLanes);
  for (; c < nchan; ++c) conv_block<V, 1>(base, tap_off, kwords, w + c * kwords, counts + c * V * kLanes);
}

void conv_counts(const word_t* xs, const std::int64_t* vec_base, int nvec, const std::int64_t* tap_off,
                 std::int64_t kwords, const word_t* w, std::int64_t nchan, std::int32_t* counts) {
  switch (nvec) {
    case 1: return conv_counts_v<1>(xs, vec_base, tap_off, kwords, w, nchan, counts);
    case 2: return conv_counts_v<2>(xs, vec_base, tap_off, kwords, w, nchan, counts);
    case 3: return conv_counts_v<3>(xs, vec_base, tap_off, kwords, w, nchan, counts);
    default: return conv_counts_v<4>(xs, vec_base, tap_off, kwords, w, nchan, counts);
  }
}

void gemm_counts(const word_t* a, std::int64_t m, const word_t* b, std::int64_t n, std::int64_t kw,
                 std::int32_t* counts, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const word_t* x = a + i * kw;
      const word_t* y = b + j * kw;
      uint64x2_t total = vdupq_n_u64(0);
      std::int64_t k = 0;
      while (k + 2 <= kw) {
        uint8x16_t acc = vdupq_n_u8(0);
        for (int step = 0; step < kChunk && k + 2 <= kw; ++step, k += 2)
          acc = vaddq_u8(acc, vcntq_u8(veorq_u8(vreinterpretq_u8_u64(vld1q_u64(x + k)),
                                                vreinterpretq_u8_u64(vld1q_u64(y + k)))));
        total = widen_bytes(total, acc);
      }
      std::int64_t sum = static_cast<std::int64_t>(vgetq_lane_u64(total, 0) + vgetq_lane_u64(total, 1));
      if (k < kw) sum += __builtin_popcountll(x[k] ^ y[k]);
      counts[i * ldc + j] = static_cast<std::int32_t>(sum);
    }
}

double peak_loop(std::int64_t iters) {
  constexpr int kVectors = 128;  // 2 KiB
  alignas(64) static thread_local word_t data[kVectors * 2];
  for (int i = 0; i < kVectors * 2; ++i) data[i] = 0x9e3779b97f4a7c15ULL * (i + 1);
  const uint8x16_t k0 = vreinterpretq_u8_u64(vdupq_n_u64(0x0123456789abcdefULL));
  const uint8x16_t k1 = vreinterpretq_u8_u64(vdupq_n_u64(0x7edcba9876543210ULL));
  uint64x2_t total = vdupq_n_u64(0);
  for (std::int64_t it = 0; it < iters; ++it) {
    for (int i0 = 0; i0 < kVectors; i0 += 16) {  // 16 vectors x 2 keys: byte counters stay below 256
      uint8x16_t a0 = vdupq_n_u8(0), a1 = a0, a2 = a0, a3 = a0;
      for (int i = i0; i < i0 + 16; i += 2) {
        const uint8x16_t x0 = vreinterpretq_u8_u64(vld1q_u64(data + 2 * i));
        const uint8x16_t x1 = vreinterpretq_u8_u64(vld1q_u64(data + 2 * i + 2));
        a0 = vaddq_u8(a0, vcntq_u8(veorq_u8(x0, k0)));
        a1 = vaddq_u8(a1, vcntq_u8(veorq_u8(x0, k1)));
        a2 = vaddq_u8(a2, vcntq_u8(veorq_u8(x1, k0)));
        a3 = vaddq_u8(a3, vcntq_u8(veorq_u8(x1, k1)));
      }
      total = widen_bytes(widen_bytes(widen_bytes(widen_bytes(total, a0), a1), a2), a3);
    }
  }
  asm volatile("" ::"w"(total));
  return double(iters) * kVectors * 2 * 128;
}

}  // namespace

const IsaKernels& neon_kernels() {
  static const IsaKernels kernels{Isa::neon, kLanes, kPlanes, kMaxVecs, conv_counts, gemm_counts,
                                  pack_nchw_portable, pack_rows_portable, peak_loop};
  return kernels;
}

}  // namespace detail
}  // namespace bmx

#endif  // __aarch64__
