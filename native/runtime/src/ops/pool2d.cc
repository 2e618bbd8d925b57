#include "ops/pool2d.h"

#include <cfloat>

namespace bmx {
namespace rt {

float Pool2d::init() const { return type == kMax ? -FLT_MAX : 0.f; }

// Outputs whose column window lies inside the image reduce their kernel_w columns of `rows` straight into
// the output row (kernel_w strided passes over the outputs, no per-column window array); border outputs
// reduce their clipped window directly (border()).
void Pool2d::columns(const float* rows, const Window& rw, float* out_row) const {
  const int64_t kw = kernel[1], sw = stride[1], pw = pad[1], full_windows = in[1] - kw + 1;
  // Outputs [first, last) have their whole window inside the image (columns ow * sw - pw + [0, kw)).
  const int64_t first = std::min(out[1], (pw + sw - 1) / sw);
  const int64_t last = std::max(first, std::min(out[1], full_windows > 0 ? (full_windows - 1 + pw) / sw + 1 : 0));
  const bool rows_inside = rw.begin >= 0 && rw.begin + kernel[0] <= in[0];
  if (type != kAvg || rows_inside) {
    const float* src = rows + first * sw - pw;
    const int64_t n = last - first;
    for (int64_t i = 0; i < n; ++i) out_row[first + i] = src[i * sw];
    for (int64_t q = 1; q < kw; ++q) reduce_strided(out_row + first, src + q, sw, n);
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

// dst[i] = combine(dst[i], src[i * step]) for i < n; step 1 and 2 (the usual strides) as fixed-step loops
// the compiler vectorises.
void Pool2d::reduce_strided(float* dst, const float* src, int64_t step, int64_t n) const {
  if (step == 1) return reduce_into(dst, src, n);
  if (type == kMax) {
    if (step == 2) {
      for (int64_t i = 0; i < n; ++i) dst[i] = src[2 * i] > dst[i] ? src[2 * i] : dst[i];
    } else {
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i * step] > dst[i] ? src[i * step] : dst[i];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] += src[i * step];
  }
}

// dst[i] = combine(dst[i], src[i]) for i < n (max or sum), written as two plain loops so they vectorise.
void Pool2d::reduce_into(float* dst, const float* src, int64_t n) const {
  if (type == kMax) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i] > dst[i] ? src[i] : dst[i];
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
  }
}

}  // namespace rt
}  // namespace bmx
