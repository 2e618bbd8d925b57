// NEON float GEMM micro-kernel (aarch64): 8 x 12 block (24 q-register accumulators).
#include "ops/gemm.h"

#if defined(__aarch64__)
#include <arm_neon.h>

namespace bmx {
namespace rt {
namespace {

struct Neon {
  using T = float32x4_t;
  static constexpr int kLanes = 4;
  static T zero() { return vdupq_n_f32(0.f); }
  static T load(const float* p) { return vld1q_f32(p); }
  static T loadu(const float* p) { return vld1q_f32(p); }
  static void storeu(float* p, T v) { vst1q_f32(p, v); }
  static T broadcast(float v) { return vdupq_n_f32(v); }
  static T fma(T a, T b, T c) { return vfmaq_f32(c, a, b); }
  static T max(T a, T b) { return vmaxq_f32(a, b); }
  static T add(T a, T b) { return vaddq_f32(a, b); }
  static T mul(T a, T b) { return vmulq_f32(a, b); }
};

#include "ops/gemm_block.h"

const GemmKernel kKernel{"neon", 8, 12, gemm_block<Neon, 8, 3>, gemm_dot<Neon>};

}  // namespace

const GemmKernel* gemm_kernel_neon() { return &kKernel; }

}  // namespace rt
}  // namespace bmx
#else
namespace bmx {
namespace rt {
const GemmKernel* gemm_kernel_neon() { return nullptr; }
}  // namespace rt
}  // namespace bmx
#endif
