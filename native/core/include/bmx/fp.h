// Float32 arithmetic exactly as the contract states it: multiply, round to float32, then add (the core's
// packing and epilogues, the runtime's float kernels).
#pragma once

namespace bmx {
namespace detail {

/// a * b rounded to float32, never fused with a following addition into an FMA (whatever -ffp-contract
/// says): the empty asm makes the product a value the compiler must materialise in a register.
inline float mul_rounded(float a, float b) {
  float p = a * b;
#if defined(__x86_64__)
  asm("" : "+x"(p));
#elif defined(__aarch64__)
  asm("" : "+w"(p));
#elif defined(__wasm__)
  // WebAssembly has no fused multiply-add: the product is always rounded.
#else
  volatile float v = p;
  p = v;
#endif
  return p;
}

/// scale * x + bias in float32 (multiply, round, add, round).
inline float affine(float scale, float x, float bias) { return mul_rounded(scale, x) + bias; }

}  // namespace detail
}  // namespace bmx
