// AVX2 kernels (x86-64 with AVX2 + POPCNT). AVX2 has no vector popcount, so bytes are counted with a
// 16-entry nibble lookup (vpshufb) and summed per 64-bit lane with vpsadbw.
//
// Convolution: a vector holds 4 adjacent output pixels (lanes) for one kernel tap, stored nibble-split
// (planes = 2) so that popcount(x ^ w) = lut[x_lo ^ w_lo] + lut[x_hi ^ w_hi] costs 2 xor, 2 shuffles and
// 2 adds per 256 binary MACs; the weight word is broadcast and split once per tap for 4 vectors.
// Byte counters grow by at most 8 per tap, so taps are summed in chunks of 31 before widening.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstring>

#include "../common/kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,popcnt")

namespace bmx {
namespace detail {
namespace {

constexpr int kLanes = 4, kPlanes = 2, kMaxVecs = 8, kChunk = 31;

inline __m256i nibble_lut() {
  return _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
                          3, 4);
}

// Four 64-bit lane counts -> four int32 at dst.
inline void store_lane_counts(__m256i counts, std::int32_t* dst) {
  __m256i packed = _mm256_permutevar8x32_epi32(counts, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm256_castsi256_si128(packed));
}

// V pixel vectors x B (1 or 2) channels starting at channel c.
template <int V, int B>
inline void conv_block(const word_t* const* base, const std::int64_t* tap_off, std::int64_t kwords, const word_t* w,
                       std::int32_t* counts) {
  const __m256i lut = nibble_lut(), low = _mm256_set1_epi8(0x0f);
  __m256i total[V][B];
  for (int v = 0; v < V; ++v)
    for (int b = 0; b < B; ++b) total[v][b] = _mm256_setzero_si256();
  for (std::int64_t k0 = 0; k0 < kwords; k0 += kChunk) {
    const std::int64_t k1 = k0 + kChunk < kwords ? k0 + kChunk : kwords;
    __m256i acc[V][B];
    for (int v = 0; v < V; ++v)
      for (int b = 0; b < B; ++b) acc[v][b] = _mm256_setzero_si256();
    for (std::int64_t k = k0; k < k1; ++k) {
      const std::int64_t off = tap_off[k] * (kLanes * kPlanes);
      __m256i wl[B], wh[B];
      for (int b = 0; b < B; ++b) {
        __m256i wb = _mm256_set1_epi64x(static_cast<long long>(w[b * kwords + k]));
        wl[b] = _mm256_and_si256(wb, low);
        wh[b] = _mm256_and_si256(_mm256_srli_epi64(wb, 4), low);
      }
      for (int v = 0; v < V; ++v) {
        const __m256i* e = reinterpret_cast<const __m256i*>(base[v] + off);
        const __m256i xl = _mm256_load_si256(e), xh = _mm256_load_si256(e + 1);
        for (int b = 0; b < B; ++b) {
          acc[v][b] = _mm256_add_epi8(acc[v][b], _mm256_shuffle_epi8(lut, _mm256_xor_si256(xl, wl[b])));
          acc[v][b] = _mm256_add_epi8(acc[v][b], _mm256_shuffle_epi8(lut, _mm256_xor_si256(xh, wh[b])));
        }
      }
    }
    for (int v = 0; v < V; ++v)
      for (int b = 0; b < B; ++b)
        total[v][b] = _mm256_add_epi64(total[v][b], _mm256_sad_epu8(acc[v][b], _mm256_setzero_si256()));
  }
  for (int b = 0; b < B; ++b)
    for (int v = 0; v < V; ++v) store_lane_counts(total[v][b], counts + (b * V + v) * kLanes);
}

template <int V>
void conv_counts_v(const word_t* xs, const std::int64_t* vec_base, const std::int64_t* tap_off, std::int64_t kwords,
                   const word_t* w, std::int64_t nchan, std::int32_t* counts) {
  const word_t* base[V];
  for (int v = 0; v < V; ++v) base[v] = xs + vec_base[v] * (kLanes * kPlanes);
  for (std::int64_t c = 0; c < nchan; ++c) conv_block<V, 1>(base, tap_off, kwords, w + c * kwords, counts + c * V * kLanes);
}

void conv_counts(const word_t* xs, const std::int64_t* vec_base, int nvec, const std::int64_t* tap_off,
                 std::int64_t kwords, const word_t* w, std::int64_t nchan, std::int32_t* counts) {
  switch (nvec) {
    case 1: return conv_counts_v<1>(xs, vec_base, tap_off, kwords, w, nchan, counts);
    case 2: return conv_counts_v<2>(xs, vec_base, tap_off, kwords, w, nchan, counts);
    case 3: return conv_counts_v<3>(xs, vec_base, tap_off, kwords, w, nchan, counts);
    case 4: return conv_counts_v<4>(xs, vec_base, tap_off, kwords, w, nchan, counts);
    case 5: return conv_counts_v<5>(xs, vec_base, tap_off, kwords, w, nchan, counts);
    case 6: return conv_counts_v<6>(xs, vec_base, tap_off, kwords, w, nchan, counts);
    case 7: return conv_counts_v<7>(xs, vec_base, tap_off, kwords, w, nchan, counts);
    default: return conv_counts_v<8>(xs, vec_base, tap_off, kwords, w, nchan, counts);
  }
}

inline std::int64_t horizontal_sum(__m256i v) {
  __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}

// Popcount of a XOR b over kw words for one row a against 4 rows of b (b_stride words apart).
inline void gemm_row_x4(const word_t* a, const word_t* b, std::int64_t b_stride, std::int64_t kw, std::int64_t nb,
                        std::int32_t* out) {
  const __m256i lut = nibble_lut(), low = _mm256_set1_epi8(0x0f);
  __m256i total[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  const std::int64_t kv = kw / 4;
  for (std::int64_t k0 = 0; k0 < kv; k0 += kChunk / 2) {  // each step adds up to 8 per byte
    const std::int64_t k1 = k0 + kChunk / 2 < kv ? k0 + kChunk / 2 : kv;
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (std::int64_t k = k0; k < k1; ++k) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 4 * k));
      for (int j = 0; j < 4; ++j) {
        if (j >= nb) break;
        __m256i t = _mm256_xor_si256(x, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + j * b_stride + 4 * k)));
        acc[j] = _mm256_add_epi8(acc[j], _mm256_shuffle_epi8(lut, _mm256_and_si256(t, low)));
        acc[j] = _mm256_add_epi8(acc[j], _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(t, 4), low)));
      }
    }
    for (int j = 0; j < 4; ++j) total[j] = _mm256_add_epi64(total[j], _mm256_sad_epu8(acc[j], _mm256_setzero_si256()));
  }
  for (int j = 0; j < nb; ++j) {
    std::int64_t sum = horizontal_sum(total[j]);
    for (std::int64_t k = kv * 4; k < kw; ++k) sum += _mm_popcnt_u64(a[k] ^ b[j * b_stride + k]);
    out[j] = static_cast<std::int32_t>(sum);
  }
}

void gemm_counts(const word_t* a, std::int64_t m, const word_t* b, std::int64_t n, std::int64_t kw,
                 std::int32_t* counts, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; j += 4)
      gemm_row_x4(a + i * kw, b + j * kw, kw, kw, n - j < 4 ? n - j : 4, counts + i * ldc + j);
}

// Transpose an 8x8 bit matrix stored as 8 bytes (byte r = row r, bit c = column c).
inline std::uint64_t transpose8x8(std::uint64_t x) {
  std::uint64_t t;
  t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAULL;
  x ^= t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCULL;
  x ^= t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ULL;
  x ^= t ^ (t << 28);
  return x;
}

// Sign bits of 8 adjacent pixels of one channel plane (bit q = pixel q).
inline std::uint64_t sign_byte(const float* plane, const float* scale, const float* bias, std::int64_t ch) {
  __m256 v = _mm256_loadu_ps(plane);
  if (scale != nullptr) v = _mm256_add_ps(_mm256_mul_ps(v, _mm256_set1_ps(scale[ch])), _mm256_set1_ps(bias[ch]));
  return static_cast<std::uint64_t>(_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ)));
}

void pack_nchw_8pixels(const float* x, std::int64_t c, std::int64_t hw, std::int64_t groups, const float* scale,
                       const float* bias, std::int64_t p0, std::int64_t p1, word_t* out) {
  const std::int64_t cg = c / groups, cwg = words_for(cg), wpp = groups * cwg;
  for (std::int64_t g = 0; g < groups; ++g)
    for (std::int64_t r0 = 0; r0 < cg; r0 += 8) {  // a run of up to 8 channels fills one byte per pixel
      const std::int64_t run = cg - r0 < 8 ? cg - r0 : 8, ch0 = g * cg + r0;
      unsigned char* dst = reinterpret_cast<unsigned char*>(out + g * cwg) + r0 / 8;
      for (std::int64_t p = p0; p + 8 <= p1; p += 8) {
        std::uint64_t rows = 0;  // byte i = channel ch0 + i, bit q = pixel p + q
        for (std::int64_t i = 0; i < run; ++i) rows |= sign_byte(x + (ch0 + i) * hw + p, scale, bias, ch0 + i) << (8 * i);
        const std::uint64_t cols = transpose8x8(rows);  // byte q = pixel p + q, bit i = channel ch0 + i
        for (int q = 0; q < 8; ++q) dst[(p + q) * wpp * 8] = static_cast<unsigned char>(cols >> (8 * q));
      }
    }
}

// The convolution's inner loop on L1-resident data, without its address arithmetic: 8 nibble-split
// vectors (8 x 4 words) against one broadcast weight word per step, 31 steps per widening.
double peak_loop(std::int64_t iters) {
  constexpr int kVectors = 8, kSteps = kChunk;
  alignas(64) static thread_local word_t data[kSteps][kVectors][2][4];
  alignas(64) static thread_local word_t keys[kSteps];
  for (int t = 0; t < kSteps; ++t) {
    keys[t] = 0x9e3779b97f4a7c15ULL * (t + 7);
    for (int v = 0; v < kVectors; ++v)
      for (int j = 0; j < 8; ++j)
        data[t][v][j / 4][j % 4] = (0xd1b54a32d192ed03ULL * (t * 64 + v * 8 + j + 1)) & 0x0f0f0f0f0f0f0f0fULL;
  }
  const __m256i lut = nibble_lut(), low = _mm256_set1_epi8(0x0f);
  __m256i total = _mm256_setzero_si256();
  for (std::int64_t it = 0; it < iters; ++it) {
    __m256i acc[kVectors];
    for (int v = 0; v < kVectors; ++v) acc[v] = _mm256_setzero_si256();
    for (int t = 0; t < kSteps; ++t) {
      const __m256i w = _mm256_set1_epi64x(static_cast<long long>(keys[t]));
      const __m256i wl = _mm256_and_si256(w, low), wh = _mm256_and_si256(_mm256_srli_epi64(w, 4), low);
      for (int v = 0; v < kVectors; ++v) {
        const __m256i* e = reinterpret_cast<const __m256i*>(data[t][v]);
        acc[v] = _mm256_add_epi8(acc[v], _mm256_shuffle_epi8(lut, _mm256_xor_si256(_mm256_load_si256(e), wl)));
        acc[v] = _mm256_add_epi8(acc[v], _mm256_shuffle_epi8(lut, _mm256_xor_si256(_mm256_load_si256(e + 1), wh)));
      }
    }
    for (int v = 0; v < kVectors; ++v) total = _mm256_add_epi64(total, _mm256_sad_epu8(acc[v], _mm256_setzero_si256()));
  }
  asm volatile("" ::"x"(total));
  return double(iters) * kSteps * kVectors * 256;
}

}  // namespace

void pack_nchw_avx2(const float* x, std::int64_t c, std::int64_t hw, std::int64_t groups, const float* scale,
                    const float* bias, std::int64_t p0, std::int64_t p1, word_t* out) {
  const std::int64_t full = p0 + (p1 - p0) / 8 * 8;
  pack_nchw_8pixels(x, c, hw, groups, scale, bias, p0, full, out);
  if (full < p1) pack_nchw_portable(x, c, hw, groups, scale, bias, full, p1, out);
}

void pack_rows_avx2(const float* x, std::int64_t rows, std::int64_t k, const float* scale, const float* bias,
                    word_t* out) {
  const std::int64_t kw = words_for(k), full = k / 8 * 8;
  for (std::int64_t r = 0; r < rows; ++r) {
    unsigned char* dst = reinterpret_cast<unsigned char*>(out + r * kw);
    const float* row = x + r * k;
    for (std::int64_t j = 0; j < full; j += 8) {
      __m256 v = _mm256_loadu_ps(row + j);
      if (scale != nullptr) v = _mm256_add_ps(_mm256_mul_ps(v, _mm256_loadu_ps(scale + j)), _mm256_loadu_ps(bias + j));
      dst[j / 8] = static_cast<unsigned char>(_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ)));
    }
    for (std::int64_t j = full; j < k; ++j)
      if (negative_after_affine(row[j], scale, bias, j)) out[r * kw + j / 64] |= word_t(1) << (j % 64);
  }
}

}  // namespace detail
}  // namespace bmx

#pragma GCC pop_options

namespace bmx {
namespace detail {

const IsaKernels& avx2_kernels() {
  static const IsaKernels kernels{Isa::avx2, kLanes, kPlanes, kMaxVecs, conv_counts, gemm_counts,
                                  pack_nchw_avx2, pack_rows_avx2, peak_loop};
  return kernels;
}

}  // namespace detail
}  // namespace bmx

#endif  // __x86_64__
