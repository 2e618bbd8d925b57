// Portable kernels: plain C++ on 64-bit words, one pixel per vector. Correct everywhere, fast nowhere.
#include "../common/kernels.h"

namespace bmx {
namespace detail {
namespace {

inline std::int32_t popcount(word_t w) { return __builtin_popcountll(w); }

void conv_counts(const word_t* xs, const std::int64_t* vec_base, int nvec, const std::int64_t* tap_off,
                 std::int64_t kwords, const word_t* w, std::int64_t nchan, std::int32_t* counts) {
  for (std::int64_t c = 0; c < nchan; ++c) {
    const word_t* wc = w + c * kwords;
    for (int v = 0; v < nvec; ++v) {
      const word_t* x = xs + vec_base[v];
      std::int32_t sum = 0;
      for (std::int64_t k = 0; k < kwords; ++k) sum += popcount(x[tap_off[k]] ^ wc[k]);
      counts[c * nvec + v] = sum;
    }
  }
}

void gemm_counts(const word_t* a, std::int64_t m, const word_t* b, std::int64_t n, std::int64_t kw,
                 std::int32_t* counts, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      std::int32_t sum = 0;
      for (std::int64_t k = 0; k < kw; ++k) sum += popcount(a[i * kw + k] ^ b[j * kw + k]);
      counts[i * ldc + j] = sum;
    }
}

double peak_loop(std::int64_t iters) {
  constexpr int kWords = 256;
  alignas(64) static thread_local word_t data[kWords];
  for (int i = 0; i < kWords; ++i) data[i] = 0x9e3779b97f4a7c15ULL * (i + 1);
  word_t key0 = 0x0123456789abcdefULL, key1 = ~key0;
  std::int64_t acc0 = 0, acc1 = 0;
  for (std::int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < kWords; i += 2) {
      acc0 += popcount(data[i] ^ key0);
      acc1 += popcount(data[i + 1] ^ key1);
    }
    asm volatile("" : "+r"(acc0), "+r"(acc1));
  }
  asm volatile("" ::"r"(acc0 + acc1));
  return double(iters) * kWords * 64;
}

}  // namespace

void pack_nchw_portable(const float* x, std::int64_t c, std::int64_t hw, std::int64_t groups, const float* scale,
                        const float* bias, std::int64_t p0, std::int64_t p1, word_t* out) {
  const std::int64_t cg = c / groups, cwg = words_for(cg), wpp = groups * cwg;
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const std::int64_t g = ch / cg, local = ch % cg;
    const std::int64_t word = g * cwg + local / 64;
    const word_t bit = word_t(1) << (local % 64);
    const float* plane = x + ch * hw;
    for (std::int64_t p = p0; p < p1; ++p)
      if (negative_after_affine(plane[p], scale, bias, ch)) out[p * wpp + word] |= bit;
  }
}

void pack_rows_portable(const float* x, std::int64_t rows, std::int64_t k, const float* scale, const float* bias,
                        word_t* out) {
  const std::int64_t kw = words_for(k);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < k; ++j)
      if (negative_after_affine(x[r * k + j], scale, bias, j)) out[r * kw + j / 64] |= word_t(1) << (j % 64);
}

const IsaKernels& portable_kernels() {
  static const IsaKernels kernels{Isa::portable, 1, 1, 8, conv_counts, gemm_counts,
                                  pack_nchw_portable, pack_rows_portable, peak_loop};
  return kernels;
}

}  // namespace detail
}  // namespace bmx
