// The generic float GEMM micro-kernel and dot product, instantiated per instruction set by the
// src/<isa>/float_kernels_<isa>.cc files (bmx/float_kernels.h).
//
// Include inside an anonymous namespace after defining a vector traits type V with: `using T` (the vector
// type), `static constexpr int kLanes`, `zero()`, `load(const float*)` (aligned), `loadu(const float*)`,
// `storeu(float*, T)`, `broadcast(float)`, `fma(a, b, c)` (= a * b + c), `max(a, b)`, `add(a, b)`, `mul(a, b)`
// (rounded to float32: never fused with a following addition, whatever the compiler's -ffp-contract).
// This header has no includes and no namespace on purpose: each ISA's copy has internal linkage.

// C block = (A (K x MR) * B (K x NV * kLanes)) * scale + shift per row, optional ReLU; rows/cols clip the
// stored part. B row p is at b + p * NR (packed) or, if Indirect, at b + b_offsets[p] (any alignment).
// The epilogue is a multiplication then an addition (no fused multiply-add).
template <typename V, int MR, int NV, bool Indirect>
void gemm_block_rows(int64_t k, const float* a, const float* b, const int64_t* b_offsets, float* c, int64_t ldc,
                     int rows, int cols, const float* scale, const float* shift, bool relu) {
  constexpr int NR = NV * V::kLanes;
  typename V::T acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  for (int64_t p = 0; p < k; ++p) {
    typename V::T bv[NV];
    for (int j = 0; j < NV; ++j)
      bv[j] = Indirect ? V::loadu(b + b_offsets[p] + j * V::kLanes) : V::load(b + p * NR + j * V::kLanes);
    for (int i = 0; i < MR; ++i) {
      typename V::T av = V::broadcast(a[p * MR + i]);
      for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
    }
  }
  const typename V::T zero = V::zero();
  if (rows == MR && cols == NR) {
    for (int i = 0; i < MR; ++i) {
      typename V::T si = V::broadcast(scale[i]), ti = V::broadcast(shift[i]);
      for (int j = 0; j < NV; ++j) {
        typename V::T v = V::add(V::mul(acc[i][j], si), ti);
        V::storeu(c + i * ldc + j * V::kLanes, relu ? V::max(v, zero) : v);
      }
    }
    return;
  }
  alignas(64) float tile[MR * NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) V::storeu(tile + i * NR + j * V::kLanes, acc[i][j]);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      float v = tile[i * NR + j] * scale[i] + shift[i];
      c[i * ldc + j] = relu && v < 0.f ? 0.f : v;
    }
  }
}

// FloatKernels::block: the packed or the indirect form of gemm_block_rows.
template <typename V, int MR, int NV>
void gemm_block(int64_t k, const float* a, const float* b, const int64_t* b_offsets, float* c, int64_t ldc, int rows,
                int cols, const float* scale, const float* shift, bool relu) {
  if (b_offsets != nullptr) {
    gemm_block_rows<V, MR, NV, true>(k, a, b, b_offsets, c, ldc, rows, cols, scale, shift, relu);
  } else {
    gemm_block_rows<V, MR, NV, false>(k, a, b, b_offsets, c, ldc, rows, cols, scale, shift, relu);
  }
}

// sum_i a[i] * b[i] with 4 independent vector accumulators.
template <typename V>
float gemm_dot(const float* a, const float* b, int64_t n) {
  typename V::T s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    s0 = V::fma(V::loadu(a + i), V::loadu(b + i), s0);
    s1 = V::fma(V::loadu(a + i + L), V::loadu(b + i + L), s1);
    s2 = V::fma(V::loadu(a + i + 2 * L), V::loadu(b + i + 2 * L), s2);
    s3 = V::fma(V::loadu(a + i + 3 * L), V::loadu(b + i + 3 * L), s3);
  }
  alignas(64) float lanes[L];
  V::storeu(lanes, V::add(V::add(s0, s1), V::add(s2, s3)));
  float sum = 0.f;
  for (int l = 0; l < L; ++l) sum += lanes[l];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}
