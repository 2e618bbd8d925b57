// Output transforms of a tile of binary dot products: popcounts -> int32 y, float32 scale * y + bias, or
// packed sign bits. Written for a compile-time lane count so the compiler vectorizes the full-vector case.
#pragma once

#include <cstdint>
#include <cstring>

#include "bmx/threshold.h"
#include "bmx/types.h"
#include "fp.h"

namespace bmx {
namespace detail {

enum class OutputKind { int32, float32, packed };

/// The output of one call: one of the three forms plus what it needs. `intervals` (packed only) are the
/// per-channel popcount ranges [lo, lo + span] whose bit is set (see count_intervals()).
struct OutputSink {
  OutputKind kind = OutputKind::int32;
  std::int32_t* i32 = nullptr;
  float* f32 = nullptr;
  word_t* bits = nullptr;
  const float* scale = nullptr;
  const float* bias = nullptr;
  const std::uint32_t* count_lo = nullptr;
  const std::uint32_t* count_span = nullptr;
};

/// Convert sign intervals on y = k - 2 * popcount into popcount intervals: bit set iff
/// (popcount - lo) as unsigned <= span; an empty interval becomes lo = k + 1, span = 0.
inline void count_intervals(const SignInterval* iv, std::int64_t channels, std::int64_t k, std::uint32_t* lo,
                            std::uint32_t* span) {
  for (std::int64_t o = 0; o < channels; ++o) {
    if (iv[o].lo > iv[o].hi) {
      lo[o] = static_cast<std::uint32_t>(k + 1);
      span[o] = 0;
      continue;
    }
    // y in [ylo, yhi]  <=>  popcount in [(k - yhi) / 2, (k - ylo) / 2], rounded inwards
    const std::int64_t c_lo = (k - iv[o].hi + 1) / 2, c_hi = (k - iv[o].lo) / 2;
    if (c_lo > c_hi) {
      lo[o] = static_cast<std::uint32_t>(k + 1);
      span[o] = 0;
    } else {
      lo[o] = static_cast<std::uint32_t>(c_lo);
      span[o] = static_cast<std::uint32_t>(c_hi - c_lo);
    }
  }
}

/// dst[j] = k - 2 * cnt[j] for j < n (n == L: the vectorized full vector).
template <int L>
inline void store_dots(const std::int32_t* cnt, std::int32_t k, std::int64_t n, std::int32_t* dst) {
  if (n == L) {
    std::int32_t y[L];  // through a local copy: cnt and dst may not alias, which the compiler cannot know
    for (int j = 0; j < L; ++j) y[j] = k - 2 * cnt[j];
    std::memcpy(dst, y, sizeof(y));
  } else {
    for (std::int64_t j = 0; j < n; ++j) dst[j] = k - 2 * cnt[j];
  }
}

/// dst[j] = scale * (k - 2 * cnt[j]) + bias in float32 (multiply, round, add) for j < n.
template <int L>
inline void store_affine(const std::int32_t* cnt, std::int32_t k, float scale, float bias, std::int64_t n,
                         float* dst) {
#if defined(__x86_64__) || defined(__aarch64__)
  if (L % 4 == 0 && n == L) {
    typedef float v4f __attribute__((vector_size(16)));
    typedef std::int32_t v4i __attribute__((vector_size(16)));
    for (int j = 0; j < L; j += 4) {
      v4i c;
      std::memcpy(&c, cnt + j, sizeof(c));
      v4f product = __builtin_convertvector(k - 2 * c, v4f) * scale;
#if defined(__x86_64__)
      asm("" : "+x"(product));  // the product is rounded to float32 before the addition: no FMA
#else
      asm("" : "+w"(product));
#endif
      v4f value = product + bias;
      std::memcpy(dst + j, &value, sizeof(value));
    }
    return;
  }
#endif
  for (std::int64_t j = 0; j < n; ++j) dst[j] = affine(scale, static_cast<float>(k - 2 * cnt[j]), bias);
}

}  // namespace detail
}  // namespace bmx
