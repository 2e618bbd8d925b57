// Portable float kernels (GEMM micro-kernel, tanh, sigmoid: scalar lanes, which compilers may vectorise for
// the baseline ISA), kernel selection and packing of A.
#include "ops/gemm.h"

#include <cmath>
#include <cstring>

#include "bmx/fp.h"
#include "bmx/isa.h"

namespace bmx {
namespace rt {
namespace {

struct Scalar {
  using T = float;
  static constexpr int kLanes = 1;
  static T zero() { return 0.f; }
  static T load(const float* p) { return *p; }
  static T loadu(const float* p) { return *p; }
  static void storeu(float* p, T v) { *p = v; }
  static T broadcast(float v) { return v; }
  static T fma(T a, T b, T c) { return a * b + c; }
  static T max(T a, T b) { return a > b ? a : b; }
  static T add(T a, T b) { return a + b; }
  static T mul(T a, T b) { return bmx::detail::mul_rounded(a, b); }
  using M = bool;
  static T sub(T a, T b) { return a - b; }
  static T div(T a, T b) { return a / b; }
  static T min(T a, T b) { return a < b ? a : b; }
  static T round(T a) { return std::nearbyint(a); }
  static T pow2(T n) {  // NaN stays NaN (converting it to int is undefined)
    if (n != n) return n;
    const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
    float v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  static M lt(T a, T b) { return a < b; }
  static T select(M m, T a, T b) { return m ? a : b; }
};

#include "ops/gemm_block.h"
#include "ops/vector_math.h"

const FloatKernels kPortable{"portable", 4, 8, gemm_block<Scalar, 4, 8>, gemm_dot<Scalar>,
                             vector_map<Scalar, vector_tanh<Scalar>>, vector_map<Scalar, vector_sigmoid<Scalar>>};

}  // namespace

const FloatKernels* float_kernels_portable() { return &kPortable; }

const FloatKernels& select_float_kernels() {
  switch (current_isa()) {
    case Isa::avx512:
      if (const FloatKernels* k = float_kernels_avx512()) return *k;
      if (const FloatKernels* k = float_kernels_avx2()) return *k;
      break;
    case Isa::avx2:
      if (const FloatKernels* k = float_kernels_avx2()) return *k;
      break;
    case Isa::neon:
      if (const FloatKernels* k = float_kernels_neon()) return *k;
      break;
    case Isa::wasm_simd:
      if (const FloatKernels* k = float_kernels_wasm_simd()) return *k;
      break;
    case Isa::portable: break;
  }
  return kPortable;
}

std::vector<float> pack_gemm_a(const FloatKernels& kernel, const float* a, int64_t m, int64_t k, int64_t lda) {
  const int mr = kernel.mr;
  const int64_t blocks = (m + mr - 1) / mr;
  std::vector<float> packed(static_cast<size_t>(blocks * k * mr), 0.f);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t p = 0; p < k; ++p)
      for (int i = 0; i < mr && b * mr + i < m; ++i) packed[(b * k + p) * mr + i] = a[(b * mr + i) * lda + p];
  return packed;
}

}  // namespace rt
}  // namespace bmx
