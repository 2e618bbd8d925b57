// AVX2 + FMA float kernels (bmx/float_kernels.h): GEMM micro-kernel 6 x 16 block (12 ymm accumulators), dot
// product, tanh and sigmoid.
#if defined(__x86_64__)
#include <immintrin.h>

#include "../common/kernels.h"

// Compile this file's functions for AVX2 + FMA whatever the baseline flags (GCC pragma; clang attribute).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace bmx {
namespace detail {
namespace {

struct Avx2 {
  using T = __m256;
  static constexpr int kLanes = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float* p) { return _mm256_load_ps(p); }
  static T loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T broadcast(float v) { return _mm256_set1_ps(v); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T mul(T a, T b) {
    T p = _mm256_mul_ps(a, b);
    asm("" : "+x"(p));  // rounded before any addition: GCC would fuse it into an FMA
    return p;
  }
  using M = __m256;
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T round(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static T pow2(T n) {
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  static M lt(T a, T b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static T select(M m, T a, T b) { return _mm256_blendv_ps(b, a, m); }
};

#include "../common/float_gemm.h"
#include "../common/vector_math.h"

const FloatKernels kKernels{Isa::avx2, 6, 16, gemm_block<Avx2, 6, 2>, gemm_dot<Avx2>,
                            vector_map<Avx2, vector_tanh<Avx2>>, vector_map<Avx2, vector_sigmoid<Avx2>>};

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
// Outside the AVX2 region: callable on any x86-64 CPU (the caller checks the CPU before using the kernel).
const FloatKernels& avx2_float_kernels() { return kKernels; }
}  // namespace detail
}  // namespace bmx
#endif  // __x86_64__
