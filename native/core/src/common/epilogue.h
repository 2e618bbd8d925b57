// Output transforms of a tile of binary dot products: popcounts -> int32 y, float32 scale * y + bias, or
// packed sign bits. Written for a compile-time lane count so the compiler vectorizes the full-vector case.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "bmx/fp.h"
#include "bmx/threshold.h"
#include "bmx/types.h"

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
  const float* residual = nullptr;  ///< float32 only, optional: added to every output (same layout as f32)
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

/// Scratch bytes make_sink() needs for `channels` outputs.
inline std::size_t sink_scratch_bytes(OutputKind kind, std::int64_t channels) {
  return kind == OutputKind::packed ? channels * (sizeof(SignInterval) + 2 * sizeof(std::uint32_t)) : 0;
}

/// The sink of one call of operation `op` with `channels` outputs of `k` binary inputs each. Checks that
/// the float and packed forms got scale and bias; for the packed form computes the popcount intervals into
/// `scratch` (sink_scratch_bytes() large) and zeroes the `packed_words` output words.
inline OutputSink make_sink(const char* op, OutputKind kind, void* out, const float* scale, const float* bias,
                            std::int64_t channels, std::int64_t k, std::int64_t packed_words, void* scratch) {
  if (kind != OutputKind::int32 && (scale == nullptr || bias == nullptr))
    throw Error(std::string(op) + ": this output form needs scale and bias arrays with one value per output channel");
  OutputSink sink;
  sink.kind = kind;
  sink.scale = scale;
  sink.bias = bias;
  if (kind == OutputKind::int32) sink.i32 = static_cast<std::int32_t*>(out);
  if (kind == OutputKind::float32) sink.f32 = static_cast<float*>(out);
  if (kind == OutputKind::packed) {
    SignInterval* intervals = static_cast<SignInterval*>(scratch);
    std::uint32_t* lo = reinterpret_cast<std::uint32_t*>(intervals + channels);
    sign_intervals(scale, bias, channels, k, intervals);
    count_intervals(intervals, channels, k, lo, lo + channels);
    sink.count_lo = lo;
    sink.count_span = lo + channels;
    sink.bits = static_cast<word_t*>(out);
    std::memset(sink.bits, 0, packed_words * sizeof(word_t));
  }
  return sink;
}

/// bits[q] (q < lanes) = the packed-output bits of channels c < nchan (<= 32) of lane q: bit c is set iff
/// counts[c * lanes + q] - lo[c] <= span[c] (unsigned). Channel-major, four lanes at a time.
inline void sign_bits(const std::int32_t* counts, std::int64_t lanes, std::int64_t nchan, const std::uint32_t* lo,
                      const std::uint32_t* span, std::uint32_t* bits) {
  typedef std::uint32_t v4u __attribute__((vector_size(16)));
  const std::int64_t full = lanes / 4 * 4;
  for (std::int64_t q = 0; q < full; q += 4) {
    v4u acc = {0, 0, 0, 0};
    for (std::int64_t c = 0; c < nchan; ++c) {
      v4u cnt;
      std::memcpy(&cnt, counts + c * lanes + q, sizeof(cnt));
      acc |= reinterpret_cast<v4u>(cnt - lo[c] <= span[c]) & (std::uint32_t(1) << c);
    }
    std::memcpy(bits + q, &acc, sizeof(acc));
  }
  for (std::int64_t q = full; q < lanes; ++q) {
    std::uint32_t acc = 0;
    for (std::int64_t c = 0; c < nchan; ++c)
      acc |= std::uint32_t(static_cast<std::uint32_t>(counts[c * lanes + q]) - lo[c] <= span[c]) << c;
    bits[q] = acc;
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

/// dst[j] = scale * (k - 2 * cnt[j]) + bias in float32 (multiply, round, add) for j < n, then + res[j] (a
/// separately rounded addition) if res is not null.
template <int L>
inline void store_affine(const std::int32_t* cnt, std::int32_t k, float scale, float bias, std::int64_t n,
                         const float* res, float* dst) {
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
      if (res != nullptr) {
        v4f r;
        std::memcpy(&r, res + j, sizeof(r));
        value += r;
      }
      std::memcpy(dst + j, &value, sizeof(value));
    }
    return;
  }
#endif
  for (std::int64_t j = 0; j < n; ++j) {
    const float value = affine(scale, static_cast<float>(k - 2 * cnt[j]), bias);
    dst[j] = res != nullptr ? value + res[j] : value;
  }
}

}  // namespace detail
}  // namespace bmx
