// Binary dense layer and binary GEMM (xnor + popcount) on packed rows.
//
// Input: packed (N, ceil(K / 64)) words; weights packed (O, ceil(K / 64)); y[n][o] = K - 2 * popcount(x[n] ^ w[o]).
// Output forms as for the convolution (conv.h): int32 (N, O), float32 scale[o] * y + bias[o] (N, O), packed
// sign bits (N, ceil(O / 64)). Validation, ISA and threads as in conv.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bmx/export.h"
#include "bmx/types.h"

namespace bmx {

/// Raw binary GEMM: c[m][n] = k - 2 * popcount(a[m] ^ b[n]) for packed rows a (M, ceil(k/64)) and
/// b (N, ceil(k/64)); c is int32 (M, N). Tail bits of a and b past k must be zero.
BMX_API void binary_gemm(std::int64_t m, std::int64_t n, std::int64_t k, const word_t* a, const word_t* b, std::int32_t* c);

/// Geometry of a binary dense layer.
struct DenseParams {
  std::int64_t batch = 1;      ///< N
  std::int64_t in_units = 0;   ///< K
  std::int64_t out_units = 0;  ///< O
  BMX_API void validate(const char* op = "binary_dense") const;
  std::int64_t input_words() const { return batch * words_for(in_units); }
  std::int64_t weight_words() const { return out_units * words_for(in_units); }
  std::int64_t output_size() const { return batch * out_units; }
  std::int64_t output_words() const { return batch * words_for(out_units); }
};

/// The geometry of a dense layer (or GEMM) of packed `data` (N, ceil(K / 64)) and `weight` (O, ceil(K / 64))
/// with K = `in_units`: batch and out_units come from the shapes. Checks everything validate() checks and that
/// the shapes fit K; every message names `op` and both shapes. The one argument check of the front ends.
BMX_API DenseParams dense_geometry(const std::string& op, std::int64_t in_units,
                                   const std::vector<std::int64_t>& data, const std::vector<std::int64_t>& weight);

BMX_API void binary_dense_int32(const DenseParams& p, const word_t* input, const word_t* weights, std::int32_t* out);
BMX_API void binary_dense_float(const DenseParams& p, const word_t* input, const word_t* weights, const float* scale,
                        const float* bias, float* out);
BMX_API void binary_dense_packed(const DenseParams& p, const word_t* input, const word_t* weights, const float* scale,
                         const float* bias, word_t* out);

}  // namespace bmx
