// Internal interface between the ISA-independent drivers (packing, conv, dense, peak) and the per-ISA kernels.
//
// Convolution kernels read a lane-interleaved copy of the padded input ("vector layout", built by
// conv_layout.h): entry e holds `planes * lanes` words, plane s, lane j at xs[(e * planes + s) * lanes + j].
// Lane j of a pixel vector is output pixel ow0 + j of one output row; the entry of a vector for tap k is
// vec_base[v] + tap_off[k]. With planes == 2 the words are nibble-split (plane 0 = w & 0x0f.., plane 1 =
// (w >> 4) & 0x0f..), which the AVX2 nibble-lookup popcount consumes directly.
#pragma once

#include <cstdint>
#include <type_traits>

#include "bmx/float_kernels.h"
#include "bmx/fp.h"
#include "bmx/isa.h"
#include "bmx/types.h"

namespace bmx {
namespace detail {

/// Popcounts of a block of pixel vectors against `nchan` weight rows (w + c * kwords, canonical layout):
/// counts[c * nvec * lanes + v * lanes + j] = sum_k popcount(lane j of entry vec_base[v] + tap_off[k] XOR w[c][k])
/// (plane-split words are recombined by the kernel). 1 <= nvec <= max_vecs.
using ConvCountsFn = void (*)(const word_t* xs, const std::int64_t* vec_base, int nvec, const std::int64_t* tap_off,
                              std::int64_t kwords, const word_t* w, std::int64_t nchan, std::int32_t* counts);

/// counts[i * ldc + j] = sum over kw words of popcount(a[i] ^ b[j]) for rows a (m, kw) and b (n, kw).
using GemmCountsFn = void (*)(const word_t* a, std::int64_t m, const word_t* b, std::int64_t n, std::int64_t kw,
                              std::int32_t* counts, std::int64_t ldc);

/// Pack pixels [p0, p1) of one sample: x (C, HW) floats -> out (HW, G * Cwg) words. The pixels' words are zero
/// on entry; scale/bias are null or (C,).
using PackNchwFn = void (*)(const float* x, std::int64_t c, std::int64_t hw, std::int64_t groups, const float* scale,
                            const float* bias, std::int64_t p0, std::int64_t p1, word_t* out);

/// Pack `rows` rows: x (rows, K) -> out (rows, ceil(K / 64)), words zero on entry; scale/bias null or (K,).
using PackRowsFn = void (*)(const float* x, std::int64_t rows, std::int64_t k, const float* scale, const float* bias,
                            word_t* out);

/// Run the peak xor + popcount + add loop `iters` times on L1-resident data; returns the binary MACs done.
using PeakLoopFn = double (*)(std::int64_t iters);

/// Packed-output bits of a tile (the contract of epilogue.h's sign_bits()): bits[q] bit c set iff
/// counts[c * lanes + q] - lo[c] <= span[c] (unsigned), for q < lanes, c < nchan <= 32.
using SignBitsFn = void (*)(const std::int32_t* counts, std::int64_t lanes, std::int64_t nchan,
                            const std::uint32_t* lo, const std::uint32_t* span, std::uint32_t* bits);

/// Where the float outputs of one conv_counts tile go: for channel c < nchan of the tile and lane j <
/// valid[v] of vector v, with i = c * plane + target[v] + j, out[i] = scale[c] * (k - 2 * count) + bias[c]
/// (float32 multiply, rounded, then add), plus residual[i] (rounded) if residual is not null.
struct FloatTile {
  const float* scale;
  const float* bias;
  const float* residual;
  float* out;
  std::int64_t plane;
  const std::int64_t* target;
  const std::int64_t* valid;
  std::int32_t k;
};

/// conv_counts followed by the float epilogue of FloatTile, without the counts' round trip through memory.
using ConvFloatFn = void (*)(const word_t* xs, const std::int64_t* vec_base, int nvec, const std::int64_t* tap_off,
                             std::int64_t kwords, const word_t* w, std::int64_t nchan, const FloatTile& tile);

struct IsaKernels {
  Isa isa;
  int lanes;     ///< pixels per conv vector
  int planes;    ///< 1, or 2 for nibble-split words
  int max_vecs;  ///< most pixel vectors per conv_counts call
  ConvCountsFn conv_counts;
  GemmCountsFn gemm_counts;
  PackNchwFn pack_nchw;
  PackRowsFn pack_rows;
  PeakLoopFn peak_loop;
  /// Optional, in the ISA's own vectors (null: conv_counts and the generic epilogues of epilogue.h).
  SignBitsFn sign_bits = nullptr;
  ConvFloatFn conv_float = nullptr;
};

/// The kernels of a supported ISA (throws bmx::Error otherwise).
const IsaKernels& kernels_for(Isa isa);
/// The kernels of the current ISA for one kernel call (counted for kernel_calls()).
const IsaKernels& current_kernels();

const IsaKernels& portable_kernels();
/// The float kernels of each ISA (bmx/float_kernels.h), chosen by float_kernels(isa) as kernels_for() chooses.
const FloatKernels& portable_float_kernels();
#if defined(__x86_64__)
const FloatKernels& avx2_float_kernels();
const FloatKernels& avx512_float_kernels();
#endif
#if defined(__aarch64__)
const FloatKernels& neon_float_kernels();
#endif
#if defined(__wasm_simd128__)
const FloatKernels& wasm_simd_float_kernels();
#endif
#if defined(__x86_64__)
const IsaKernels& avx2_kernels();
void pack_nchw_avx2(const float* x, std::int64_t c, std::int64_t hw, std::int64_t groups, const float* scale,
                    const float* bias, std::int64_t p0, std::int64_t p1, word_t* out);
void pack_rows_avx2(const float* x, std::int64_t rows, std::int64_t k, const float* scale, const float* bias,
                    word_t* out);
const IsaKernels& avx512_kernels();
/// pack_nchw on AVX-512 with GFNI and VBMI (cpu_has_gfni_vbmi()); other cases fall back to pack_nchw_avx2.
void pack_nchw_avx512(const float* x, std::int64_t c, std::int64_t hw, std::int64_t groups, const float* scale,
                      const float* bias, std::int64_t p0, std::int64_t p1, word_t* out);
bool cpu_has_gfni_vbmi();
#endif
#if defined(__aarch64__)
const IsaKernels& neon_kernels();
#endif
#if defined(__wasm_simd128__)
const IsaKernels& wasm_simd_kernels();
#endif

/// Plain C++ building blocks shared by the portable kernels and the ISA kernels' tails.
void pack_nchw_portable(const float* x, std::int64_t c, std::int64_t hw, std::int64_t groups, const float* scale,
                        const float* bias, std::int64_t p0, std::int64_t p1, word_t* out);
void pack_rows_portable(const float* x, std::int64_t rows, std::int64_t k, const float* scale, const float* bias,
                        word_t* out);

/// Call f(std::integral_constant<int, V>{}) with V == nvec, for 1 <= nvec <= Max (larger nvec: V = Max), so
/// that a kernel's block of V pixel vectors can be a compile-time size.
template <int Max, typename F>
inline void with_vector_count(int nvec, const F& f) {
  if constexpr (Max > 1) {
    if (nvec < Max) return with_vector_count<Max - 1>(nvec, f);
  }
  f(std::integral_constant<int, Max>{});
}

/// The sign rule of the packing contract: set bit iff (affine) value < 0, float32 multiply then add.
inline bool negative_after_affine(float x, const float* scale, const float* bias, std::int64_t c) {
  return (scale == nullptr ? x : affine(scale[c], x, bias[c])) < 0.0f;
}

}  // namespace detail
}  // namespace bmx
