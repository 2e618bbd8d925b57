// Exact integer intervals for the float32 sign of scale * y + bias (see bmx/threshold.h).
#include "bmx/threshold.h"

#include <cmath>
#include <string>

#include "bmx/fp.h"
#include "bmx/types.h"

namespace bmx {
namespace {

// The exact float32 predicate the interval must reproduce.
bool bit_set(float scale, float bias, std::int64_t y) {
  return detail::affine(scale, static_cast<float>(y), bias) < 0.0f;
}

// Largest y in [lo, hi] with bit_set (which holds at lo and is monotone: true then false), by bisection.
std::int64_t last_true(float scale, float bias, std::int64_t lo, std::int64_t hi) {
  while (lo < hi) {
    std::int64_t mid = lo + (hi - lo + 1) / 2;
    if (bit_set(scale, bias, mid)) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// Smallest y in [lo, hi] with bit_set (false then true).
std::int64_t first_true(float scale, float bias, std::int64_t lo, std::int64_t hi) {
  while (lo < hi) {
    std::int64_t mid = lo + (hi - lo) / 2;
    if (bit_set(scale, bias, mid)) hi = mid; else lo = mid + 1;
  }
  return lo;
}

SignInterval by_scan(float scale, float bias, std::int64_t k) {
  // Non-finite or overflowing products: evaluate every y and check the result is an interval.
  std::int64_t lo = k + 1, hi = -k - 1;
  for (std::int64_t y = -k; y <= k; ++y) {
    if (!bit_set(scale, bias, y)) continue;
    if (lo > k) lo = y;
    if (hi != y - 1 && hi >= -k) throw Error("sign_interval: the set bits do not form an interval");
    hi = y;
  }
  return {static_cast<std::int32_t>(lo), static_cast<std::int32_t>(hi)};
}

}  // namespace

SignInterval sign_interval(float scale, float bias, std::int64_t k) {
  if (k < 1 || k > (std::int64_t(1) << 24))
    throw Error("sign_interval: expected 1 <= k <= 2^24 (exact float32 integers), got " + std::to_string(k));
  const SignInterval empty{1, 0};
  const SignInterval all{static_cast<std::int32_t>(-k), static_cast<std::int32_t>(k)};
  if (std::isnan(scale) || std::isnan(bias)) return empty;
  bool finite_products = std::isfinite(scale) && std::isfinite(scale * static_cast<float>(k));
  if (!finite_products || !std::isfinite(bias)) return by_scan(scale, bias, k);
  // Finite products and bias: the value is monotone in y (rounding is monotone), so the set is a prefix
  // (scale > 0), a suffix (scale < 0) or everything / nothing (scale == 0).
  bool at_min = bit_set(scale, bias, -k), at_max = bit_set(scale, bias, k);
  if (at_min && at_max) return all;
  if (!at_min && !at_max) return empty;
  if (at_min) return {all.lo, static_cast<std::int32_t>(last_true(scale, bias, -k, k))};
  return {static_cast<std::int32_t>(first_true(scale, bias, -k, k)), all.hi};
}

void sign_intervals(const float* scale, const float* bias, std::int64_t channels, std::int64_t k, SignInterval* out) {
  for (std::int64_t o = 0; o < channels; ++o) out[o] = sign_interval(scale[o], bias[o], k);
}

}  // namespace bmx
