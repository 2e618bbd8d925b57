// AVX2 + FMA float GEMM micro-kernel: 6 x 16 block (12 ymm accumulators).
#include "ops/gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
// Compile this file's functions for AVX2 + FMA whatever the baseline flags (GCC pragma; clang attribute).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace bmx {
namespace rt {
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
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
};

#include "ops/gemm_block.h"

const GemmKernel kKernel{"avx2", 6, 16, gemm_block<Avx2, 6, 2>, gemm_dot<Avx2>};

}  // namespace
}  // namespace rt
}  // namespace bmx
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace bmx {
namespace rt {
// Outside the AVX2 region: callable on any x86-64 CPU (the caller checks the CPU before using the kernel).
const GemmKernel* gemm_kernel_avx2() { return &kKernel; }
}  // namespace rt
}  // namespace bmx
#else
namespace bmx {
namespace rt {
const GemmKernel* gemm_kernel_avx2() { return nullptr; }
}  // namespace rt
}  // namespace bmx
#endif
