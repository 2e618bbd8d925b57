// 2-D pooling of one (H, W) plane with MXNet's conventions, shared by the Pooling operator and the
// convolution that absorbs a following max pooling (Model::fuse).
//
// Window of output index o along an axis: [o*s - p, o*s - p + k), clipped to the padded size.
// max: maximum over the window's positions inside the image (padding ignored; -FLT_MAX if none), taken as
// `v > acc ? v : acc` over the rows in ascending order, then over the columns in ascending order.
// avg: sum over the positions inside the image divided by the window clipped to the padded image
// (count_include_pad = 1) or by the number of positions inside the image (count_include_pad = 0).
// sum: the sum over the positions inside the image.
#ifndef BMX_RUNTIME_OPS_POOL2D_H_
#define BMX_RUNTIME_OPS_POOL2D_H_

#include <algorithm>
#include <cstdint>

namespace bmx {
namespace rt {

struct Pool2d {
  enum Type { kMax, kAvg, kSum };
  Type type = kMax;
  bool count_include_pad = true;
  // Per axis (0: rows, 1: columns): kernel, stride, padding, input and output size.
  int64_t kernel[2] = {1, 1}, stride[2] = {1, 1}, pad[2] = {0, 0}, in[2] = {0, 0}, out[2] = {0, 0};

  // The window of output index o along axis a: [begin, end) in padded coordinates (end clipped to the
  // padded size), and its part [valid_begin, valid_end) inside the image.
  struct Window {
    int64_t begin, end, valid_begin, valid_end;
  };
  Window window(int64_t o, int a) const {
    const int64_t begin = o * stride[a] - pad[a];
    const int64_t end = std::min(begin + kernel[a], in[a] + pad[a]);
    return {begin, end, std::max<int64_t>(begin, 0), std::min(end, in[a])};
  }

  // Output row oh (out[1] floats) of one plane. row_of(h) gives input row h (in[1] contiguous floats) for
  // every h of the row window inside the image; `rows` is scratch of in[1] floats. The window's input rows
  // are reduced element-wise into `rows` (from init(), up to kTapsPerPass rows per pass over `rows`,
  // vectorisable), then the columns (columns()).
  template <typename RowOf>
  void output_row(int64_t oh, RowOf&& row_of, float* out_row, float* rows) const {
    const Window rw = window(oh, 0);
    if (rw.valid_begin == rw.valid_end) std::fill(rows, rows + in[1], init());
    for (int64_t h = rw.valid_begin; h < rw.valid_end; h += kTapsPerPass) {
      const float* src[kTapsPerPass];
      const int count = static_cast<int>(std::min<int64_t>(kTapsPerPass, rw.valid_end - h));
      for (int t = 0; t < count; ++t) src[t] = row_of(h + t);
      pass(rows, src, count, 1, h == rw.valid_begin ? kFromInit : kFromDst, in[1]);
    }
    columns(rows, rw, out_row);
  }

  // The reduction step: max keeps acc unless v is greater (a NaN v is skipped, a NaN acc kept); else a sum.
  template <bool Max>
  static float combine_as(float acc, float v) {
    return Max ? (v > acc ? v : acc) : acc + v;
  }

 private:
  static constexpr int kTapsPerPass = 3;
  // What a pass combines its taps into: init(), dst[i], or the first tap itself.
  enum Start { kFromInit = 0, kFromDst = 1, kFromFirst = 2 };

  float init() const;
  // dst[i] = combine(...combine(a, src[0][i * step])..., src[count - 1][i * step]) for i < n, with a the
  // start value (kFromFirst: a = src[0][i * step], not combined again); count in [1, kTapsPerPass].
  void pass(float* dst, const float* const* src, int count, int64_t step, Start start, int64_t n) const;
  void columns(const float* rows, const Window& rw, float* out_row) const;
  void border(const float* rows, const Window& rw, int64_t ow_begin, int64_t ow_end, float* out_row) const;
  float combine(float acc, float v) const { return type == kMax ? combine_as<true>(acc, v) : combine_as<false>(acc, v); }
};

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_OPS_POOL2D_H_
