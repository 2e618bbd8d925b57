// Binary dense layer and GEMM driver: tiles of rows x output units spread over the threads.
#include <algorithm>
#include <cstring>
#include <string>

#include "bmx/dense.h"
#include "bmx/threading.h"
#include "kernels.h"
#include "output.h"
#include "scratch.h"
#include "thread_pool.h"

namespace bmx {
namespace detail {
namespace {

constexpr std::int64_t kTileRows = 8, kTileUnits = 64;

void run_dense(const DenseParams& p, const word_t* input, const word_t* weights, OutputKind kind, void* out,
               const float* scale, const float* bias, const char* op) {
  p.validate(op);
  if (input == nullptr || weights == nullptr || out == nullptr)
    throw Error(std::string(op) + ": null input, weight or output pointer");
  if (kind != OutputKind::int32 && (scale == nullptr || bias == nullptr))
    throw Error(std::string(op) + ": this output form needs scale and bias arrays of shape (out_units,)");
  const IsaKernels& isa = current_kernels();
  const int threads = get_num_threads();
  const std::int64_t kw = words_for(p.in_units);

  ScratchLayout layout;
  std::size_t counts_at = layout.add<std::int32_t>(threads * kTileRows * kTileUnits);
  std::size_t intervals_at = layout.add<SignInterval>(kind == OutputKind::packed ? p.out_units : 0);
  layout.allocate();

  OutputSink sink;
  sink.kind = kind;
  sink.scale = scale;
  sink.bias = bias;
  if (kind == OutputKind::int32) sink.i32 = static_cast<std::int32_t*>(out);
  if (kind == OutputKind::float32) sink.f32 = static_cast<float*>(out);
  if (kind == OutputKind::packed) {
    sink.bits = static_cast<word_t*>(out);
    SignInterval* intervals = layout.at<SignInterval>(intervals_at);
    sign_intervals(scale, bias, p.out_units, p.in_units, intervals);
    sink.intervals = intervals;
    std::memset(sink.bits, 0, p.output_words() * sizeof(word_t));
  }

  const std::int64_t row_tiles = (p.batch + kTileRows - 1) / kTileRows;
  const std::int64_t unit_tiles = (p.out_units + kTileUnits - 1) / kTileUnits;
  const std::int64_t tiles = row_tiles * unit_tiles, out_words = words_for(p.out_units);
  parallel_for(threads, [&](int t) {
    std::int32_t* counts = layout.at<std::int32_t>(counts_at) + t * kTileRows * kTileUnits;
    const std::int64_t end = split_point(tiles, threads, t + 1, 1);
    for (std::int64_t tile = split_point(tiles, threads, t, 1); tile < end; ++tile) {
      // Unit tiles vary fastest so one thread sweeps the weights for a block of rows.
      const std::int64_t r0 = tile / unit_tiles * kTileRows, u0 = tile % unit_tiles * kTileUnits;
      const std::int64_t rows = std::min(kTileRows, p.batch - r0), units = std::min(kTileUnits, p.out_units - u0);
      isa.gemm_counts(input + r0 * kw, rows, weights + u0 * kw, units, kw, counts, kTileUnits);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t u = 0; u < units; ++u) {
          const std::int64_t n = r0 + r, o = u0 + u;
          write_output(sink, n * p.out_units + o, n * out_words + o / 64, o,
                       p.in_units - 2 * std::int64_t(counts[r * kTileUnits + u]));
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
