// Float32 kernels of one instruction set: the GEMM building blocks of full-precision convolution and dense
// layers (the standalone runtime's Convolution and FullyConnected), and vectorised tanh and sigmoid (the
// runtime's Activation, the MXNet operators' fused act_type = "tanh").
//
// C (M x N) = (A (M x K) * B (K x N)) * scale[m] + shift[m], optionally followed by ReLU. A (the weights) is
// packed once at load time into row blocks of `mr` rows: [ceil(M / mr)][K][mr], zero-padded; B is packed per
// tile by the caller into column blocks of `nr` columns: [ceil(cols / nr)][K][nr], zero-padded. A
// micro-kernel computes one mr x nr block of C with vector FMAs. Kernels exist for AVX-512 and AVX2+FMA
// (x86-64), NEON (aarch64), WASM SIMD128 (multiply then add: WebAssembly has no fused multiply-add) and
// portable C++ (src/<isa>/float_kernels_<isa>.cc); the instruction set is the core's one switch
// (current_isa(): BMX_ISA, force_isa()).
//
// tanh and sigmoid round every step alike on every instruction set (src/common/vector_math.h): every ISA
// computes the same bits, within 1.5 ulp (tanh) and 2.5 ulp (sigmoid) of the exact functions.
#pragma once

#include <cstdint>
#include <vector>

#include "bmx/export.h"
#include "bmx/isa.h"

namespace bmx {

struct FloatKernels {
  Isa isa;
  int mr, nr;
  // C block (rows x cols valid entries, row stride ldc) = (A block (K x mr) * B block (K x nr)) * scale[i] +
  // shift[i] for rows i in [0, rows), then ReLU if `relu`. B row p (nr floats) is at b + p * nr (packed, 64-byte
  // aligned) or, when b_offsets is not null, at b + b_offsets[p] (an "indirect" B read in place, e.g. from an
  // image, with no packing).
  void (*block)(std::int64_t k, const float* a, const float* b, const std::int64_t* b_offsets, float* c,
                std::int64_t ldc, int rows, int cols, const float* scale, const float* shift, bool relu);
  // sum_i a[i] * b[i]
  float (*dot)(const float* a, const float* b, std::int64_t n);
  // y[i] = tanh x[i], y[i] = 1 / (1 + e^-x[i]) for i < n (x == y allowed); the same bits on every ISA.
  void (*tanh)(const float* x, float* y, std::int64_t n);
  void (*sigmoid)(const float* x, float* y, std::int64_t n);
};

/// The float kernels of a supported ISA (throws bmx::Error otherwise).
BMX_API const FloatKernels& float_kernels(Isa isa);

/// The float kernels of current_isa(). Not counted in kernel_calls().
BMX_API const FloatKernels& current_float_kernels();

/// y[i] = tanh x[i] and y[i] = 1 / (1 + e^-x[i]) for i < n (x == y allowed) with current_float_kernels().
BMX_API void tanh_array(const float* x, float* y, std::int64_t n);
BMX_API void sigmoid_array(const float* x, float* y, std::int64_t n);

/// Pack A (M x K, row stride lda) into the kernel's row-block layout.
BMX_API std::vector<float> pack_gemm_a(const FloatKernels& kernel, const float* a, std::int64_t m, std::int64_t k,
                                       std::int64_t lda);

}  // namespace bmx
