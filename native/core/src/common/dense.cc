// Binary dense layer and GEMM driver: tiles of rows x output units handed to the threads.
#include <algorithm>
#include <cstring>
#include <string>

#include "bmx/dense.h"
#include "bmx/threading.h"
#include "epilogue.h"
#include "kernels.h"
#include "scratch.h"
#include "thread_pool.h"

namespace bmx {
namespace detail {
namespace {

constexpr std::int64_t kTileRows = 8, kTileUnits = 64;  // unit tiles start on output word boundaries

void run_dense(const DenseParams& p, const word_t* input, const word_t* weights, OutputKind kind, void* out,
               const float* scale, const float* bias, const char* op) {
  p.validate(op);
  if (input == nullptr || weights == nullptr || out == nullptr)
    throw Error(std::string(op) + ": null input, weight or output pointer");
  if (kind != OutputKind::int32 && (scale == nullptr || bias == nullptr))
    throw Error(std::string(op) + ": this output form needs scale and bias arrays of shape (out_units,)");
  const IsaKernels& isa = current_kernels();
  const std::int64_t kw = words_for(p.in_units);
  const std::int32_t k = static_cast<std::int32_t>(p.in_units);

  OutputSink sink;
  sink.kind = kind;
  sink.scale = scale;
  sink.bias = bias;
  if (kind == OutputKind::int32) sink.i32 = static_cast<std::int32_t*>(out);
  if (kind == OutputKind::float32) sink.f32 = static_cast<float*>(out);
  if (kind == OutputKind::packed) {
    ScratchLayout layout;
    const std::size_t intervals_at = layout.add<SignInterval>(p.out_units);
    const std::size_t lo_at = layout.add<std::uint32_t>(p.out_units);
    const std::size_t span_at = layout.add<std::uint32_t>(p.out_units);
    layout.allocate(Scratch::call());
    sign_intervals(scale, bias, p.out_units, p.in_units, layout.at<SignInterval>(intervals_at));
    count_intervals(layout.at<SignInterval>(intervals_at), p.out_units, p.in_units, layout.at<std::uint32_t>(lo_at),
                    layout.at<std::uint32_t>(span_at));
    sink.count_lo = layout.at<std::uint32_t>(lo_at);
    sink.count_span = layout.at<std::uint32_t>(span_at);
    sink.bits = static_cast<word_t*>(out);
    std::memset(sink.bits, 0, p.output_words() * sizeof(word_t));
  }

  const std::int64_t row_tiles = (p.batch + kTileRows - 1) / kTileRows;
  const std::int64_t unit_tiles = (p.out_units + kTileUnits - 1) / kTileUnits;
  const std::int64_t tiles = row_tiles * unit_tiles, out_words = words_for(p.out_units);
  const std::int64_t tasks = std::min<std::int64_t>(tiles, kMaxTasks);
  parallel_for(static_cast<int>(tasks), [&](int task) {
    std::int32_t* counts =
        static_cast<std::int32_t*>(Scratch::task().reserve(kTileRows * kTileUnits * sizeof(std::int32_t)));
    for (std::int64_t tile = split_point(tiles, tasks, task); tile < split_point(tiles, tasks, task + 1); ++tile) {
      // Unit tiles vary fastest, so consecutive tiles of one thread sweep the weights for one block of rows.
      const std::int64_t r0 = tile / unit_tiles * kTileRows, u0 = tile % unit_tiles * kTileUnits;
      const std::int64_t rows = std::min(kTileRows, p.batch - r0), units = std::min(kTileUnits, p.out_units - u0);
      isa.gemm_counts(input + r0 * kw, rows, weights + u0 * kw, units, kw, counts, kTileUnits);
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int32_t* cnt = counts + r * kTileUnits;
        const std::int64_t n = r0 + r;
        if (kind == OutputKind::int32) {
          store_dots<kTileUnits>(cnt, k, units, sink.i32 + n * p.out_units + u0);
        } else if (kind == OutputKind::float32) {
          for (std::int64_t u = 0; u < units; ++u)
            sink.f32[n * p.out_units + u0 + u] = affine(scale[u0 + u], static_cast<float>(k - 2 * cnt[u]), bias[u0 + u]);
        } else {
          word_t bits = 0;
          for (std::int64_t u = 0; u < units; ++u)
            bits |= word_t(static_cast<std::uint32_t>(cnt[u]) - sink.count_lo[u0 + u] <= sink.count_span[u0 + u]) << u;
          sink.bits[n * out_words + u0 / 64] = bits;
        }
      }
    }
  });
}

}  // namespace
}  // namespace detail

void binary_gemm(std::int64_t m, std::int64_t n, std::int64_t k, const word_t* a, const word_t* b, std::int32_t* c) {
  DenseParams p;
  p.batch = m;
  p.out_units = n;
  p.in_units = k;
  detail::run_dense(p, a, b, detail::OutputKind::int32, c, nullptr, nullptr, "binary_gemm");
}

void binary_dense_int32(const DenseParams& p, const word_t* input, const word_t* weights, std::int32_t* out) {
  detail::run_dense(p, input, weights, detail::OutputKind::int32, out, nullptr, nullptr, "binary_dense_int32");
}

void binary_dense_float(const DenseParams& p, const word_t* input, const word_t* weights, const float* scale,
                        const float* bias, float* out) {
  detail::run_dense(p, input, weights, detail::OutputKind::float32, out, scale, bias, "binary_dense_float");
}

void binary_dense_packed(const DenseParams& p, const word_t* input, const word_t* weights, const float* scale,
                         const float* bias, word_t* out) {
  detail::run_dense(p, input, weights, detail::OutputKind::packed, out, scale, bias, "binary_dense_packed");
}

}  // namespace bmx
