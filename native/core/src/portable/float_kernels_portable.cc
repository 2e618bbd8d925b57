// Portable float kernels (GEMM micro-kernel, dot product, tanh, sigmoid): scalar lanes, which compilers may
// vectorise for the baseline ISA.
#include <cmath>
#include <cstring>

#include "../common/kernels.h"

namespace bmx {
namespace detail {
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
  static T mul(T a, T b) { return mul_rounded(a, b); }
  using M = bool;
  static T sub(T a, T b) { return a - b; }
  static T div(T a, T b) { return a / b; }
  static T min(T a, T b) { return a < b ? a : b; }
  static T round(T a) { return std::nearbyint(a); }
  static T pow2(T n) {  // NaN stays NaN (converting it to int is undefined)
    if (n != n) return n;
    const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
    float v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  static M lt(T a, T b) { return a < b; }
  static T select(M m, T a, T b) { return m ? a : b; }
};

#include "../common/float_gemm.h"
#include "../common/vector_math.h"

const FloatKernels kKernels{Isa::portable, 4, 8, gemm_block<Scalar, 4, 8>, gemm_dot<Scalar>,
                            vector_map<Scalar, vector_tanh<Scalar>>, vector_map<Scalar, vector_sigmoid<Scalar>>};

}  // namespace

const FloatKernels& portable_float_kernels() { return kKernels; }

}  // namespace detail
}  // namespace bmx
