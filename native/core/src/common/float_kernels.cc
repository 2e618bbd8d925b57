// The float kernels' dispatch on the core's instruction-set switch, and packing of the GEMM's A operand.
#include "bmx/float_kernels.h"

#include "kernels.h"

namespace bmx {

const FloatKernels& float_kernels(Isa isa) {
  switch (detail::kernels_for(isa).isa) {  // throws for an ISA the CPU or the build lacks
#if defined(__x86_64__)
    case Isa::avx2: return detail::avx2_float_kernels();
    case Isa::avx512: return detail::avx512_float_kernels();
#endif
#if defined(__aarch64__)
    case Isa::neon: return detail::neon_float_kernels();
#endif
#if defined(__wasm_simd128__)
    case Isa::wasm_simd: return detail::wasm_simd_float_kernels();
#endif
    default: return detail::portable_float_kernels();
  }
}

const FloatKernels& current_float_kernels() { return float_kernels(current_isa()); }

void tanh_array(const float* x, float* y, std::int64_t n) { current_float_kernels().tanh(x, y, n); }

void sigmoid_array(const float* x, float* y, std::int64_t n) { current_float_kernels().sigmoid(x, y, n); }

std::vector<float> pack_gemm_a(const FloatKernels& kernel, const float* a, std::int64_t m, std::int64_t k,
                               std::int64_t lda) {
  const int mr = kernel.mr;
  const std::int64_t blocks = (m + mr - 1) / mr;
  std::vector<float> packed(static_cast<std::size_t>(blocks * k * mr), 0.f);
  for (std::int64_t b = 0; b < blocks; ++b)
    for (std::int64_t p = 0; p < k; ++p)
      for (int i = 0; i < mr && b * mr + i < m; ++i) packed[(b * k + p) * mr + i] = a[(b * mr + i) * lda + p];
  return packed;
}

}  // namespace bmx
