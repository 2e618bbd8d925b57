// AVX-512 float kernels (bmx/float_kernels.h): dot product, tanh, sigmoid and the GEMM micro-kernel, a
// 16 x 16 block (16 zmm accumulators, one per row of A). Every k step is one 16-float load of B, 16
// broadcasts of A and 16 FMAs: on CPUs that split 512-bit FMAs into two halves (Zen 4) it runs at the same
// FMA rate as the AVX2 kernel with half the instructions and load traffic, and 16 rows divide the usual
// channel counts (64, 128, ...) without a partial block.
#if defined(__x86_64__)
#include <immintrin.h>

#include "../common/kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
// GCC 12's own _mm512_undefined_ps() trips -Wmaybe-uninitialized inside the AVX-512 headers' inline code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif

namespace bmx {
namespace detail {
namespace {

struct Avx512 {
  using T = __m512;
  static constexpr int kLanes = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_load_ps(p); }
  static T loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T broadcast(float v) { return _mm512_set1_ps(v); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T mul(T a, T b) {
    T p = _mm512_mul_ps(a, b);
    asm("" : "+v"(p));  // rounded before any addition: GCC would fuse it into an FMA
    return p;
  }
  using M = __mmask16;
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T min(T a, T b) { return _mm512_min_ps(a, b); }
  static T round(T a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static T pow2(T n) {
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  static M lt(T a, T b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static T select(M m, T a, T b) { return _mm512_mask_blend_ps(m, b, a); }
};

#include "../common/float_gemm.h"
#include "../common/vector_math.h"

const FloatKernels kKernels{Isa::avx512, 16, 16, gemm_block<Avx512, 16, 1>, gemm_dot<Avx512>,
                            vector_map<Avx512, vector_tanh<Avx512>>, vector_map<Avx512, vector_sigmoid<Avx512>>};

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
// Outside the AVX-512 region: callable on any x86-64 CPU (the caller checks the CPU before using the kernel).
const FloatKernels& avx512_float_kernels() { return kKernels; }
}  // namespace detail
}  // namespace bmx
#endif  // __x86_64__
