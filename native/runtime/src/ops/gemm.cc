// Portable GEMM micro-kernel (scalar lanes, which compilers vectorise for the baseline ISA), kernel
// selection and packing of A.
#include "ops/gemm.h"

#include <cmath>

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
  static T mul(T a, T b) { return a * b; }
};

#include "ops/gemm_block.h"

const GemmKernel kPortable{"portable", 4, 8, gemm_block<Scalar, 4, 8>, gemm_dot<Scalar>};

}  // namespace

const GemmKernel* gemm_kernel_portable() { return &kPortable; }

const GemmKernel& select_gemm_kernel() {
  switch (current_isa()) {
    case Isa::avx512:
      if (const GemmKernel* k = gemm_kernel_avx512()) return *k;
      if (const GemmKernel* k = gemm_kernel_avx2()) return *k;
      break;
    case Isa::avx2:
      if (const GemmKernel* k = gemm_kernel_avx2()) return *k;
      break;
    case Isa::neon:
      if (const GemmKernel* k = gemm_kernel_neon()) return *k;
      break;
    case Isa::wasm_simd:
      if (const GemmKernel* k = gemm_kernel_wasm_simd()) return *k;
      break;
    case Isa::portable: break;
  }
  return kPortable;
}

std::vector<float> pack_gemm_a(const GemmKernel& kernel, const float* a, int64_t m, int64_t k, int64_t lda) {
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
