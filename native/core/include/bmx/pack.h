// Bit-packing of float tensors by sign, along the reduction dimension (docs/conventions.md).
//
// With an affine, the bit of element x of channel c is set iff `scale[c] * x + bias[c] < 0`, evaluated in
// float32 as a multiplication followed by an addition (never a fused multiply-add); without it iff `x < 0`.
// NaN gives a clear bit (+1). Tail bits of each packed vector are zero.
#pragma once

#include <cstdint>
#include <string>

#include "bmx/export.h"
#include "bmx/types.h"

namespace bmx {

/// Words per pixel of packed activations of float (N, C, H, W) in `groups` groups: G * ceil(C/G / 64).
/// Throws bmx::Error naming `op` and the shape unless N, C, H, W >= 1 and groups >= 1 divides C.
BMX_API std::int64_t packed_pixel_words(const std::string& op, std::int64_t n, std::int64_t c, std::int64_t h,
                                        std::int64_t w, std::int64_t groups);

/// Pack convolution activations: float `x` (N, C, H, W) -> words `out` (N, H, W, G * ceil(C/G / 64)); channel
/// group g (channels g*C/G ... (g+1)*C/G - 1) is packed on its own into words g*Cwg ... (g+1)*Cwg - 1.
/// `scale` and `bias` are both null or both (C,) arrays. Requires C % groups == 0.
BMX_API void pack_activations_nchw(const float* x, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                           std::int64_t groups, const float* scale, const float* bias, word_t* out);

/// Pack rows: float `x` (N, K) -> words `out` (N, ceil(K / 64)); `scale` and `bias` null or (K,) arrays
/// (the affine of a dense layer's input, per input feature).
BMX_API void pack_rows(const float* x, std::int64_t n, std::int64_t k, const float* scale, const float* bias,
               word_t* out);

/// Pack convolution weights: float (O, C/G, KH, KW) -> words (O, KH, KW, ceil(C/G / 64)).
BMX_API void pack_conv_weights(const float* w, std::int64_t o, std::int64_t c_per_group, std::int64_t kh,
                       std::int64_t kw, word_t* out);

/// Pack dense weights: float (O, K) -> words (O, ceil(K / 64)) (same as pack_rows without an affine).
BMX_API void pack_dense_weights(const float* w, std::int64_t o, std::int64_t k, word_t* out);

}  // namespace bmx
