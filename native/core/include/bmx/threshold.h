// Per-channel integer thresholds equivalent to the sign of a float32 affine of an integer dot product.
//
// For the binary dot product y (an integer in [-K, K]) of output channel o, the packed output bit is
// `scale[o] * y + bias[o] < 0` evaluated in float32 (multiply, round, add, round). For every scale and bias
// (zero, negative, infinite or NaN included) the set of y in [-K, K] with a set bit is an interval, so the
// bit equals `lo[o] <= y && y <= hi[o]` with lo > hi meaning "never set". This is exact for every y.
#pragma once

#include <cstdint>

#include "bmx/export.h"

namespace bmx {

/// The interval of dot products whose output bit is set: lo <= y <= hi (empty when lo > hi).
struct SignInterval {
  std::int32_t lo;
  std::int32_t hi;
};

/// The interval for one channel; `k` is the number of binary inputs per output (y in [-k, k]).
BMX_API SignInterval sign_interval(float scale, float bias, std::int64_t k);

/// Intervals for `channels` channels at once (out[o] for scale[o], bias[o]).
BMX_API void sign_intervals(const float* scale, const float* bias, std::int64_t channels, std::int64_t k,
                    SignInterval* out);

}  // namespace bmx
