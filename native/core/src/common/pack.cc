// Packing drivers: argument checks, zeroing, and the split over threads (the bit work is in the ISA kernels).
#include <algorithm>
#include <cstring>
#include <string>

#include "bmx/pack.h"
#include "bmx/threading.h"
#include "kernels.h"
#include "thread_pool.h"

namespace bmx {
namespace {

constexpr std::int64_t kPixelGrain = 32;  // pixels per unit of work: whole 32-pixel blocks for the kernels

void check(bool ok, const std::string& op, const std::string& message) {
  if (!ok) throw Error(op + ": " + message);
}

void check_affine(const std::string& op, const float* scale, const float* bias) {
  check((scale == nullptr) == (bias == nullptr), op, "scale and bias must both be given or both be null");
}

void pack_nchw(const std::string& op, const float* x, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
               std::int64_t groups, const float* scale, const float* bias, word_t* out) {
  const std::int64_t wpp = packed_pixel_words(op, n, c, h, w, groups);
  check(x != nullptr && out != nullptr, op, "null input or output pointer");
  check_affine(op, scale, bias);
  const detail::IsaKernels& isa = detail::current_kernels();
  const std::int64_t hw = h * w;
  const std::int64_t units = n * ((hw + kPixelGrain - 1) / kPixelGrain), per_sample = units / n;
  // One contiguous range per thread: every task claim is a cross-core atomic, and a thread that packs the
  // same range call after call keeps its input and output lines in its own cache.
  const std::int64_t tasks = std::min<std::int64_t>(units, get_num_threads());
  detail::parallel_for(static_cast<int>(tasks), [&](int t) {
    const std::int64_t end = detail::split_point(units, tasks, t + 1);
    for (std::int64_t u = detail::split_point(units, tasks, t); u < end; ++u) {
      const std::int64_t s = u / per_sample, p0 = u % per_sample * kPixelGrain;
      const std::int64_t p1 = std::min(hw, p0 + kPixelGrain);
      word_t* sample_out = out + s * hw * wpp;
      std::memset(sample_out + p0 * wpp, 0, (p1 - p0) * wpp * sizeof(word_t));
      isa.pack_nchw(x + s * c * hw, c, hw, groups, scale, bias, p0, p1, sample_out);
    }
  });
}

void pack_rows(const char* op, const float* x, std::int64_t n, std::int64_t k, const float* scale, const float* bias,
               word_t* out) {
  check(n >= 1 && k >= 1, op, "expected a non-empty (N, K), got (" + std::to_string(n) + ", " + std::to_string(k) + ")");
  check(x != nullptr && out != nullptr, op, "null input or output pointer");
  check_affine(op, scale, bias);
  const detail::IsaKernels& isa = detail::current_kernels();
  const std::int64_t kw = words_for(k);
  constexpr std::int64_t kRowsPerTask = 16;
  const std::int64_t tasks = std::min<std::int64_t>((n + kRowsPerTask - 1) / kRowsPerTask, detail::kMaxTasks);
  detail::parallel_for(static_cast<int>(tasks), [&](int t) {
    const std::int64_t r0 = detail::split_point(n, tasks, t), r1 = detail::split_point(n, tasks, t + 1);
    if (r1 <= r0) return;
    std::memset(out + r0 * kw, 0, (r1 - r0) * kw * sizeof(word_t));
    isa.pack_rows(x + r0 * k, r1 - r0, k, scale, bias, out + r0 * kw);
  });
}

}  // namespace

std::int64_t packed_pixel_words(const std::string& op, std::int64_t n, std::int64_t c, std::int64_t h,
                                std::int64_t w, std::int64_t groups) {
  const std::string shape =
      "(" + std::to_string(n) + ", " + std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) + ")";
  if (n < 1 || c < 1 || h < 1 || w < 1) throw Error(op + ": expected a non-empty (N, C, H, W), got " + shape);
  if (groups < 1 || c % groups != 0)
    throw Error(op + ": expected groups >= 1 dividing C=" + std::to_string(c) + " of " + shape + ", got " +
                std::to_string(groups));
  return groups * words_for(c / groups);
}

void pack_activations_nchw(const float* x, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                           std::int64_t groups, const float* scale, const float* bias, word_t* out) {
  pack_nchw("pack_activations_nchw", x, n, c, h, w, groups, scale, bias, out);
}

void pack_rows(const float* x, std::int64_t n, std::int64_t k, const float* scale, const float* bias, word_t* out) {
  pack_rows("pack_rows", x, n, k, scale, bias, out);
}

void pack_conv_weights(const float* w, std::int64_t o, std::int64_t c_per_group, std::int64_t kh, std::int64_t kw,
                       word_t* out) {
  // (O, C/G, KH, KW) is an NCHW tensor with N = O and one group; its packing is (O, KH, KW, Cwg).
  pack_nchw("pack_conv_weights", w, o, c_per_group, kh, kw, 1, nullptr, nullptr, out);
}

void pack_dense_weights(const float* w, std::int64_t o, std::int64_t k, word_t* out) {
  pack_rows("pack_dense_weights", w, o, k, nullptr, nullptr, out);
}

}  // namespace bmx
