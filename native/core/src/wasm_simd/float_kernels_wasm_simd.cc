// WebAssembly SIMD128 float kernels (bmx/float_kernels.h): dot product, tanh, sigmoid and the GEMM
// micro-kernel, a 6 x 8 block (12 v128 accumulators, 15 registers with the operands: a host engine maps v128
// onto 16 on x86-64; a 4 x 16 block spills and ran slower). WebAssembly has no fused multiply-add, so each
// step is a multiplication then an addition.
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>

#include "../common/kernels.h"

namespace bmx {
namespace detail {
namespace {

struct WasmSimd {
  using T = v128_t;
  static constexpr int kLanes = 4;
  static T zero() { return wasm_f32x4_splat(0.f); }
  static T load(const float* p) { return wasm_v128_load(p); }
  static T loadu(const float* p) { return wasm_v128_load(p); }
  static void storeu(float* p, T v) { wasm_v128_store(p, v); }
  static T broadcast(float v) { return wasm_f32x4_splat(v); }
  static T fma(T a, T b, T c) { return wasm_f32x4_add(wasm_f32x4_mul(a, b), c); }
  static T max(T a, T b) { return wasm_f32x4_max(a, b); }
  static T add(T a, T b) { return wasm_f32x4_add(a, b); }
  static T mul(T a, T b) { return wasm_f32x4_mul(a, b); }  // WebAssembly has no FMA to fuse into
  using M = v128_t;
  static T sub(T a, T b) { return wasm_f32x4_sub(a, b); }
  static T div(T a, T b) { return wasm_f32x4_div(a, b); }
  static T min(T a, T b) { return wasm_f32x4_pmin(b, a); }  // pmin(b, a) = a < b ? a : b
  static T round(T a) { return wasm_f32x4_nearest(a); }
  static T pow2(T n) {
    v128_t e = wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127));
    return wasm_i32x4_shl(e, 23);
  }
  static M lt(T a, T b) { return wasm_f32x4_lt(a, b); }
  static T select(M m, T a, T b) { return wasm_v128_bitselect(a, b, m); }
};

#include "../common/float_gemm.h"
#include "../common/vector_math.h"

const FloatKernels kKernels{Isa::wasm_simd, 6, 8, gemm_block<WasmSimd, 6, 2>, gemm_dot<WasmSimd>,
                            vector_map<WasmSimd, vector_tanh<WasmSimd>>,
                            vector_map<WasmSimd, vector_sigmoid<WasmSimd>>};

}  // namespace

const FloatKernels& wasm_simd_float_kernels() { return kKernels; }

}  // namespace detail
}  // namespace bmx
#endif  // __wasm_simd128__
