// Float32 kernels of one instruction set: the GEMM building blocks of the full-precision Convolution and
// FullyConnected operators, and the vectorised tanh and sigmoid of Activation (ops/vector_math.h).
//
// C (M x N) = (A (M x K) * B (K x N)) * scale[m] + shift[m], optionally followed by ReLU. A (the weights) is packed once at
// load time into row blocks of `mr` rows: [ceil(M / mr)][K][mr], zero-padded; B is packed per tile by the
// caller into column blocks of `nr` columns: [ceil(cols / nr)][K][nr], zero-padded. A micro-kernel computes one
// mr x nr block of C with vector FMAs. Kernels exist for AVX-512 and AVX2+FMA (x86-64), NEON (aarch64),
// WASM SIMD128 (multiply then add: WebAssembly has no fused multiply-add) and portable C++; the instruction set
// is chosen at run time with the native core's selection (bmx::current_isa(), BMX_ISA).
#ifndef BMX_RUNTIME_OPS_GEMM_H_
#define BMX_RUNTIME_OPS_GEMM_H_

#include <cstdint>
#include <vector>

namespace bmx {
namespace rt {

struct FloatKernels {
  const char* isa;
  int mr, nr;
  // C block (rows x cols valid entries, row stride ldc) = (A block (K x mr) * B block (K x nr)) * scale[i] +
  // shift[i] for rows i in [0, rows), then ReLU if `relu`. B row p (nr floats) is at b + p * nr (packed, 64-byte
  // aligned) or, when b_offsets is not null, at b + b_offsets[p] (an "indirect" B read in place, e.g. from an
  // image, with no packing).
  void (*block)(int64_t k, const float* a, const float* b, const int64_t* b_offsets, float* c, int64_t ldc,
                int rows, int cols, const float* scale, const float* shift, bool relu);
  // sum_i a[i] * b[i]
  float (*dot)(const float* a, const float* b, int64_t n);
  // y[i] = tanh x[i], y[i] = 1 / (1 + e^-x[i]) for i < n (x == y allowed); the same bits on every ISA.
  void (*tanh)(const float* x, float* y, int64_t n);
  void (*sigmoid)(const float* x, float* y, int64_t n);
};

// The kernels of each instruction set (null when not compiled for this target).
const FloatKernels* float_kernels_portable();
const FloatKernels* float_kernels_avx2();
const FloatKernels* float_kernels_avx512();
const FloatKernels* float_kernels_neon();
const FloatKernels* float_kernels_wasm_simd();

// The kernel for the current CPU / BMX_ISA choice.
const FloatKernels& select_float_kernels();

// Pack A (M x K, row stride lda) into the kernel's row-block layout.
std::vector<float> pack_gemm_a(const FloatKernels& kernel, const float* a, int64_t m, int64_t k, int64_t lda);

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_OPS_GEMM_H_
