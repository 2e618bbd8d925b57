// Vectorised exp, tanh and sigmoid over float arrays, instantiated per instruction set by the
// src/<isa>/float_kernels_<isa>.cc files (like float_gemm.h).
//
// Include inside an anonymous namespace after defining the vector traits type V of float_gemm.h, which here
// also needs: `using M` (a lane mask), `sub(a, b)`, `div(a, b)`, `min(a, b)` (= a < b ? a : b, so min(c, NaN)
// is NaN), `round(a)` (to the nearest integer, ties to even), `pow2(n)` (2^n for integral n in [-126, 127]),
// `lt(a, b)` (the mask a < b) and `select(m, a, b)` (m ? a : b per lane).
//
// Every step is one IEEE operation (multiplications and additions, never fused), so every instruction set
// computes the same bits. Errors against the exact function (measured against float64 on a dense grid of
// [-12, 12] and 10^-30 .. 16): exp within 1.2 ulp on [-87, 88], tanh within 1.5 ulp, sigmoid within 2.5 ulp.
// NaN gives NaN.

// e^y = 2^n e^r with n = round(y / ln 2) and r = y - n ln 2 (ln 2 in a high part exact in float times n and
// a low part: Cody and Waite's reduction), |r| <= ln 2 / 2; e^r by its Taylor series to r^7 (the first
// omitted term is below 0.35^8 / 8! < 6e-9). y is clamped to [-87, 88], where 2^n stays a normal float.
template <typename V>
typename V::T vector_exp(typename V::T y) {
  using T = typename V::T;
  y = V::max(V::broadcast(-87.f), V::min(V::broadcast(88.f), y));
  const T n = V::round(V::mul(y, V::broadcast(1.44269504088896341f)));
  T r = V::sub(y, V::mul(n, V::broadcast(0.693359375f)));
  r = V::sub(r, V::mul(n, V::broadcast(-2.12194440e-4f)));
  static const float kInverseFactorials[] = {1.f / 5040, 1.f / 720, 1.f / 120, 1.f / 24, 1.f / 6, 1.f / 2, 1.f, 1.f};
  T p = V::broadcast(kInverseFactorials[0]);
  for (int i = 1; i < 8; ++i) p = V::add(V::mul(p, r), V::broadcast(kInverseFactorials[i]));
  return V::mul(p, V::pow2(n));
}

// tanh x: x itself for |x| < 2^-12 (there x^3 / 3 is below half an ulp of x; keeps -0 and denormals); for
// |x| < 0.55 its Taylor series x + x^3 (c1 + c2 x^2 + ... + c8 x^14) (coefficients 2^2k (2^2k - 1) B_2k / (2k)!,
// B the Bernoulli numbers; the first omitted term is below 5e-9 x); otherwise sign(x) (1 - e) / (1 + e) with
// e = e^(-2 min(|x|, 9)) (tanh 9 rounds to 1 in float).
template <typename V>
typename V::T vector_tanh(typename V::T x) {
  using T = typename V::T;
  static const float kTaylor[] = {6404582.f / 10854718875.f, -929569.f / 638512875.f, 21844.f / 6081075.f,
                                  -1382.f / 155925.f, 62.f / 2835.f, -17.f / 315.f, 2.f / 15.f, -1.f / 3.f};
  const T zero = V::zero(), z = V::mul(x, x);
  T p = V::broadcast(kTaylor[0]);
  for (int i = 1; i < 8; ++i) p = V::add(V::mul(p, z), V::broadcast(kTaylor[i]));
  const T small = V::add(x, V::mul(V::mul(x, z), p));
  const T a = V::max(x, V::sub(zero, x));
  const T e = vector_exp<V>(V::mul(V::broadcast(-2.f), V::min(V::broadcast(9.f), a)));
  const T one = V::broadcast(1.f);
  const T t = V::div(V::sub(one, e), V::add(one, e));
  const T large = V::select(V::lt(x, zero), V::sub(zero, t), t);
  return V::select(V::lt(a, V::broadcast(0x1p-12f)), x, V::select(V::lt(a, V::broadcast(0.55f)), small, large));
}

// sigmoid x = 1 / (1 + e^-x) (0 for x < -88 becomes sigmoid(-88) ~ 6e-39, a denormal).
template <typename V>
typename V::T vector_sigmoid(typename V::T x) {
  const typename V::T one = V::broadcast(1.f);
  return V::div(one, V::add(one, vector_exp<V>(V::sub(V::zero(), x))));
}

// y[i] = f(x[i]) for i < n, kLanes at a time; the last n mod kLanes values through a zero-padded vector, so
// every element gets the same arithmetic wherever it lies. x and y may be the same array.
template <typename V, typename V::T (*F)(typename V::T)>
void vector_map(const float* x, float* y, int64_t n) {
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) V::storeu(y + i, F(V::loadu(x + i)));
  if (i == n) return;
  alignas(64) float tail[L] = {};
  for (int64_t j = i; j < n; ++j) tail[j - i] = x[j];
  V::storeu(tail, F(V::loadu(tail)));
  for (int64_t j = i; j < n; ++j) y[j] = tail[j - i];
}
