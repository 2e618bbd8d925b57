// NEON float kernels (aarch64, bmx/float_kernels.h): GEMM micro-kernel 8 x 12 block (24 q-register
// accumulators), dot product, tanh and sigmoid.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "../common/kernels.h"

namespace bmx {
namespace detail {
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
  static T mul(T a, T b) {
    T p = vmulq_f32(a, b);
    asm("" : "+w"(p));  // rounded before any addition: GCC would fuse it into an FMA
    return p;
  }
  using M = uint32x4_t;
  static T sub(T a, T b) { return vsubq_f32(a, b); }
  static T div(T a, T b) { return vdivq_f32(a, b); }
  static T min(T a, T b) { return vminq_f32(a, b); }
  static T round(T a) { return vrndnq_f32(a); }
  static T pow2(T n) {
    int32x4_t e = vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
  }
  static M lt(T a, T b) { return vcltq_f32(a, b); }
  static T select(M m, T a, T b) { return vbslq_f32(m, a, b); }
};

#include "../common/float_gemm.h"
#include "../common/vector_math.h"

const FloatKernels kKernels{Isa::neon, 8, 12, gemm_block<Neon, 8, 3>, gemm_dot<Neon>,
                            vector_map<Neon, vector_tanh<Neon>>, vector_map<Neon, vector_sigmoid<Neon>>};

}  // namespace

const FloatKernels& neon_float_kernels() { return kKernels; }

}  // namespace detail
}  // namespace bmx
#endif  // __aarch64__
