// 2-D pooling over (N, C, H, W) with MXNet's conventions.
//
// Output size per spatial axis: `valid`: 1 + floor((H + 2p - k) / s); `full`: 1 + ceil((H + 2p - k) / s);
// global pooling uses k = H, s = 1, p = 0. Window of output row oh: [oh*s - p, oh*s - p + k).
// max: maximum over the window's positions inside the image (padding ignored; -FLT_MAX if none).
// avg: sum over the positions inside the image divided by the window clipped to the padded image
// (count_include_pad = 1) or by the number of positions inside the image (count_include_pad = 0).
// sum: the sum over the positions inside the image.
#include <algorithm>
#include <cfloat>

#include "ops/ops.h"

namespace bmx {
namespace rt {
namespace {

class Pooling : public Op {
 public:
  explicit Pooling(const NodeDesc& node) : Op(node) {
    Attrs a(node);
    global_ = a.flag("global_pool");
    std::string type = a.text("pool_type");
    require_supported(type == "max" || type == "avg" || type == "sum", "expected pool_type max, avg or sum, got '",
                      type, "'");
    type_ = type == "max" ? kMax : type == "avg" ? kAvg : kSum;
    std::string conv = a.text("pooling_convention");
    require_supported(conv == "valid" || conv == "full", "expected pooling_convention valid or full, got '", conv,
                      "'");
    full_ = conv == "full";
    count_include_pad_ = a.flag("count_include_pad");
    require_supported(a.text("layout") == "NCHW", "only layout NCHW is supported, got '", a.text("layout"), "'");
    if (!global_) {
      kernel_ = a.ints("kernel");
      require_supported(kernel_.size() == 2, "only 2-D pooling is supported, kernel has ", kernel_.size(), " values");
      stride_ = a.ints("stride", 2, 1);
      pad_ = a.ints("pad", 2, 0);
    }
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require_inputs(in, 1, 1);
    require_dtype(in[0], DType::kFloat32, "data");
    const Shape& s = in[0].info.shape;
    require_supported(s.size() == 4, "expected (N, C, H, W) data, got ", shape_string(s));
    n_ = s[0], c_ = s[1], h_ = s[2], w_ = s[3];
    if (global_) {
      kernel_ = {h_, w_};
      stride_ = {1, 1};
      pad_ = {0, 0};
    }
    for (int i = 0; i < 2; ++i) {
      require(kernel_[i] >= 1 && stride_[i] >= 1 && pad_[i] >= 0, "expected kernel >= 1, stride >= 1, pad >= 0, got "
              "kernel ", kernel_[i], ", stride ", stride_[i], ", pad ", pad_[i]);
      int64_t span = s[2 + i] + 2 * pad_[i] - kernel_[i];
      require(span >= 0, "kernel ", kernel_[i], " exceeds the padded input size ", s[2 + i] + 2 * pad_[i]);
      out_[i] = 1 + (full_ ? (span + stride_[i] - 1) / stride_[i] : span / stride_[i]);
    }
    return TensorInfo{DType::kFloat32, Shape{n_, c_, out_[0], out_[1]}};
  }

  // Each thread's row buffer of plane() (W floats).
  size_t scratch_bytes(int threads) const override { return static_cast<size_t>(threads) * row_bytes(); }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    float* y = static_cast<float*>(output);
    float* rows = static_cast<float*>(ctx.scratch);
    const size_t stride = row_bytes() / sizeof(float);
    ctx.pool->parallel_for(n_ * c_, [&](int64_t p, int thread) {
      plane(x + p * h_ * w_, y + p * out_[0] * out_[1], rows + thread * stride);
    });
  }

 private:
  size_t row_bytes() const { return align64(static_cast<size_t>(w_) * sizeof(float)); }

  enum Type { kMax, kAvg, kSum };

  // One (H, W) plane: for each output row, reduce its window's input rows element-wise into `rows` (W values,
  // contiguous, vectorisable). Outputs whose window lies inside the image then reduce their kernel_w columns
  // of `rows` straight into the output row (kernel_w strided passes over the outputs, no per-column window
  // array); border outputs reduce their clipped window directly (border()).
  void plane(const float* x, float* y, float* rows) const {
    const int64_t kw = kernel_[1], full_windows = w_ - kw + 1;
    const float init = type_ == kMax ? -FLT_MAX : 0.f;
    const int64_t sw = stride_[1], pw = pad_[1];
    // Outputs [first, last) have their whole window inside the image (columns ow * sw - pw + [0, kw)).
    const int64_t first = std::min(out_[1], (pw + sw - 1) / sw);
    const int64_t last = std::max(first, std::min(out_[1], full_windows > 0 ? (full_windows - 1 + pw) / sw + 1 : 0));
    for (int64_t oh = 0; oh < out_[0]; ++oh) {
      const Window rw = window(oh, 0);
      std::fill(rows, rows + w_, init);
      for (int64_t h = rw.valid_begin; h < rw.valid_end; ++h) reduce_into(rows, x + h * w_, w_);
      float* out = y + oh * out_[1];
      const bool rows_inside = rw.begin >= 0 && rw.begin + kernel_[0] <= h_;
      if (type_ != kAvg || rows_inside) {
        const float* src = rows + first * sw - pw;
        const int64_t n = last - first;
        for (int64_t i = 0; i < n; ++i) out[first + i] = src[i * sw];
        for (int64_t q = 1; q < kw; ++q) reduce_strided(out + first, src + q, sw, n);
        if (type_ == kAvg) {  // whole window inside: count = kh * kw
          const float count = static_cast<float>(kernel_[0] * kw);
          for (int64_t i = 0; i < n; ++i) out[first + i] /= count;
        }
      } else {
        border(rows, rw, first, last, out);
      }
      border(rows, rw, 0, first, out);
      border(rows, rw, last, out_[1], out);
    }
  }

  // The window of output index o along axis a (0: rows, 1: columns): [begin, end) in padded coordinates
  // (end clipped to the padded size), and its part [valid_begin, valid_end) inside the image.
  struct Window {
    int64_t begin, end, valid_begin, valid_end;
  };
  Window window(int64_t o, int a) const {
    const int64_t size = a == 0 ? h_ : w_;
    const int64_t begin = o * stride_[a] - pad_[a];
    const int64_t end = std::min(begin + kernel_[a], size + pad_[a]);
    return {begin, end, std::max<int64_t>(begin, 0), std::min(end, size)};
  }

  // Outputs [ow_begin, ow_end) of the output row `out` whose row window is `rw`, from its row reduction `rows`,
  // clipping each column window.
  void border(const float* rows, const Window& rw, int64_t ow_begin, int64_t ow_end, float* out) const {
    const float init = type_ == kMax ? -FLT_MAX : 0.f;
    for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
      const Window cw = window(ow, 1);
      float acc = init;
      for (int64_t w = cw.valid_begin; w < cw.valid_end; ++w) acc = combine(acc, rows[w]);
      if (type_ == kAvg) {
        const int64_t count = count_include_pad_ ? (rw.end - rw.begin) * (cw.end - cw.begin)
                                                 : (rw.valid_end - rw.valid_begin) * (cw.valid_end - cw.valid_begin);
        acc = count > 0 ? acc / static_cast<float>(count) : 0.f;
      }
      out[ow] = acc;
    }
  }

  float combine(float acc, float v) const {
    if (type_ == kMax) return v > acc ? v : acc;
    return acc + v;
  }

  // dst[i] = combine(dst[i], src[i * step]) for i < n; step 1 and 2 (the usual strides) as fixed-step loops
  // the compiler vectorises.
  void reduce_strided(float* dst, const float* src, int64_t step, int64_t n) const {
    if (step == 1) return reduce_into(dst, src, n);
    if (type_ == kMax) {
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
  void reduce_into(float* dst, const float* src, int64_t n) const {
    if (type_ == kMax) {
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i] > dst[i] ? src[i] : dst[i];
    } else {
      for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
    }
  }

  bool global_, full_, count_include_pad_;
  Type type_;
  std::vector<int64_t> kernel_, stride_, pad_;
  int64_t n_ = 0, c_ = 0, h_ = 0, w_ = 0;
  int64_t out_[2] = {0, 0};
};

}  // namespace

std::unique_ptr<Op> make_pooling(const NodeDesc& node) { return std::make_unique<Pooling>(node); }

}  // namespace rt
}  // namespace bmx
