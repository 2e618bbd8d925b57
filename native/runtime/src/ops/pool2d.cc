#include "ops/pool2d.h"

#include <cfloat>

namespace bmx {
namespace rt {

float Pool2d::init() const { return type == kMax ? -FLT_MAX : 0.f; }

// Outputs whose column window lies inside the image reduce their kernel_w columns of `rows` straight into
// the output row (strided passes over the outputs, no per-column window array); border outputs reduce their
// clipped window directly (border()).
void Pool2d::columns(const float* rows, const Window& rw, float* out_row) const {
  const int64_t kw = kernel[1], sw = stride[1], pw = pad[1], full_windows = in[1] - kw + 1;
  // Outputs [first, last) have their whole window inside the image (columns ow * sw - pw + [0, kw)).
  const int64_t first = std::min(out[1], (pw + sw - 1) / sw);
  const int64_t last = std::max(first, std::min(out[1], full_windows > 0 ? (full_windows - 1 + pw) / sw + 1 : 0));
  const bool rows_inside = rw.begin >= 0 && rw.begin + kernel[0] <= in[0];
  if (type != kAvg || rows_inside) {
    const float* src = rows + first * sw - pw;
    const int64_t n = last - first;
    for (int64_t q = 0; q < kw; q += kTapsPerPass) {
      const float* taps[kTapsPerPass];
      const int count = static_cast<int>(std::min<int64_t>(kTapsPerPass, kw - q));
      for (int t = 0; t < count; ++t) taps[t] = src + q + t;
      pass(out_row + first, taps, count, sw, q == 0 ? kFromFirst : kFromDst, n);
    }
    if (type == kAvg) {  // whole window inside: count = kh * kw
      const float count = static_cast<float>(kernel[0] * kw);
      for (int64_t i = 0; i < n; ++i) out_row[first + i] /= count;
    }
  } else {
    border(rows, rw, first, last, out_row);
  }
  border(rows, rw, 0, first, out_row);
  border(rows, rw, last, out[1], out_row);
}

// Outputs [ow_begin, ow_end) of the output row whose row window is `rw`, from its row reduction `rows`,
// clipping each column window.
void Pool2d::border(const float* rows, const Window& rw, int64_t ow_begin, int64_t ow_end, float* out_row) const {
  for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
    const Window cw = window(ow, 1);
    float acc = init();
    for (int64_t w = cw.valid_begin; w < cw.valid_end; ++w) acc = combine(acc, rows[w]);
    if (type == kAvg) {
      const int64_t count = count_include_pad ? (rw.end - rw.begin) * (cw.end - cw.begin)
                                              : (rw.valid_end - rw.valid_begin) * (cw.valid_end - cw.valid_begin);
      acc = count > 0 ? acc / static_cast<float>(count) : 0.f;
    }
    out_row[ow] = acc;
  }
}

namespace {

// Pool2d::pass for a fixed operation, tap count and start; Step > 0 fixes the stride (1 and 2, the usual
// ones, as loops the compiler vectorises), 0 takes `step`.
template <bool Max, int Count, int Step, int Start>
void pass_loop(float* dst, const float* const* src, int64_t step, float init, int64_t n) {
  const int64_t st = Step > 0 ? Step : step;
  const float* s0 = src[0];
  const float* s1 = Count > 1 ? src[1] : s0;
  const float* s2 = Count > 2 ? src[2] : s0;
  for (int64_t i = 0; i < n; ++i) {
    float a = Start == 0 ? init : Start == 1 ? dst[i] : s0[i * st];
    if (Start != 2) a = Pool2d::combine_as<Max>(a, s0[i * st]);
    if (Count > 1) a = Pool2d::combine_as<Max>(a, s1[i * st]);
    if (Count > 2) a = Pool2d::combine_as<Max>(a, s2[i * st]);
    dst[i] = a;
  }
}

template <bool Max, int Count, int Step>
void pass_start(float* dst, const float* const* src, int64_t step, int start, float init, int64_t n) {
  if (start == 0) return pass_loop<Max, Count, Step, 0>(dst, src, step, init, n);
  if (start == 1) return pass_loop<Max, Count, Step, 1>(dst, src, step, init, n);
  pass_loop<Max, Count, Step, 2>(dst, src, step, init, n);
}

template <bool Max, int Count>
void pass_step(float* dst, const float* const* src, int64_t step, int start, float init, int64_t n) {
  if (step == 1) return pass_start<Max, Count, 1>(dst, src, step, start, init, n);
  if (step == 2) return pass_start<Max, Count, 2>(dst, src, step, start, init, n);
  pass_start<Max, Count, 0>(dst, src, step, start, init, n);
}

template <bool Max>
void pass_count(float* dst, const float* const* src, int count, int64_t step, int start, float init, int64_t n) {
  if (count == 1) return pass_step<Max, 1>(dst, src, step, start, init, n);
  if (count == 2) return pass_step<Max, 2>(dst, src, step, start, init, n);
  pass_step<Max, 3>(dst, src, step, start, init, n);
}

}  // namespace

void Pool2d::pass(float* dst, const float* const* src, int count, int64_t step, Start start, int64_t n) const {
  static_assert(kTapsPerPass == 3, "pass_count handles 1 to 3 taps");
  if (type == kMax) return pass_count<true>(dst, src, count, step, start, init(), n);
  pass_count<false>(dst, src, count, step, start, init(), n);
}

}  // namespace rt
}  // namespace bmx
