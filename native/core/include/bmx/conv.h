// Binary 2-D convolution on packed activations (xnor + popcount).
//
// Input: packed activations (N, H, W, G * Cwg) words with Cwg = ceil(C/G / 64) (see pack.h).
// Weights: packed (O, KH, KW, Cwg) words. Padding is -1 (padded pixels have all valid channel bits set), so
// every output has K = C/G * KH * KW binary inputs and its dot product y = K - 2 * popcount(xor) is the exact
// result of a float convolution of the +/-1 tensors with -1 padding. Output channel o belongs to group
// o / (O/G) and reads input channels of that group only.
//
// Three output forms (docs/conventions.md, "Fused output transforms"):
//   int32   y                                    (N, O, OH, OW)
//   float   scale[o] * y + bias[o]  (float32)    (N, O, OH, OW)
//   packed  bit o set iff scale[o] * y + bias[o] < 0 (float32), words (N, OH, OW, ceil(O / 64)), tail zero
// Every function validates its parameters (throws bmx::Error naming the problem), uses the current ISA
// (isa.h) and get_num_threads() threads. Scratch memory is cached per calling thread and reused across calls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bmx/export.h"
#include "bmx/types.h"

namespace bmx {

/// Geometry of a binary 2-D convolution. All fields are element counts (channels, pixels), not words.
struct Conv2DParams {
  std::int64_t batch = 1;         ///< N
  std::int64_t in_channels = 0;   ///< C (all groups)
  std::int64_t in_height = 0;     ///< H
  std::int64_t in_width = 0;      ///< W
  std::int64_t out_channels = 0;  ///< O (all groups)
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;  ///< padding with -1 on both sides
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1;  ///< G; C and O must be multiples of G

  /// Throws bmx::Error (prefixed with `op`) if a field is out of range or the output would be empty.
  BMX_API void validate(const std::string& op = "binary_conv2d") const;

  std::int64_t out_height() const { return (in_height + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  std::int64_t out_width() const { return (in_width + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }
  std::int64_t channels_per_group() const { return in_channels / groups; }
  /// Cwg = ceil(C/G / 64): words per pixel and group.
  std::int64_t words_per_group() const { return words_for(in_channels / groups); }
  /// K = C/G * KH * KW: binary inputs per output.
  std::int64_t reduction_size() const { return in_channels / groups * kernel_h * kernel_w; }

  /// Sizes (in elements of the respective type) of the arrays the functions below read and write.
  std::int64_t input_words() const { return batch * in_height * in_width * groups * words_per_group(); }
  std::int64_t weight_words() const { return out_channels * kernel_h * kernel_w * words_per_group(); }
  std::int64_t output_size() const { return batch * out_channels * out_height() * out_width(); }
  std::int64_t output_words() const { return batch * out_height() * out_width() * words_for(out_channels); }
};

/// The geometry of a convolution of packed `data` (N, H, W, G * Cwg) with packed `weight` (O, KH, KW, Cwg):
/// batch, in_height, in_width, out_channels, kernel_h and kernel_w come from the shapes, every other field
/// from `p`. Checks everything validate() checks and that the shapes' word counts fit in_channels and groups;
/// every message names `op` and both shapes. The one argument check of the front ends.
BMX_API Conv2DParams conv2d_geometry(const std::string& op, Conv2DParams p, const std::vector<std::int64_t>& data,
                                     const std::vector<std::int64_t>& weight);

/// y as int32 (N, O, OH, OW).
BMX_API void binary_conv2d_int32(const Conv2DParams& p, const word_t* input, const word_t* weights, std::int32_t* out);

/// scale[o] * y + bias[o] as float32 (N, O, OH, OW); scale and bias are (O,) arrays.
BMX_API void binary_conv2d_float(const Conv2DParams& p, const word_t* input, const word_t* weights, const float* scale,
                         const float* bias, float* out);

/// scale[o] * y + bias[o] + residual as float32 (N, O, OH, OW): the float output followed by an element-wise
/// addition of `residual` (N, O, OH, OW), in one pass and with the same roundings (product, + bias,
/// + residual). `residual` may be `out` itself (accumulate in place).
BMX_API void binary_conv2d_float_add(const Conv2DParams& p, const word_t* input, const word_t* weights, const float* scale,
                             const float* bias, const float* residual, float* out);

/// Packed sign of scale[o] * y + bias[o]: words (N, OH, OW, ceil(O / 64)), ready for the next binary layer.
BMX_API void binary_conv2d_packed(const Conv2DParams& p, const word_t* input, const word_t* weights, const float* scale,
                          const float* bias, word_t* out);

}  // namespace bmx
