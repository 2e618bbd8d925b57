// 2-D pooling over (N, C, H, W) with MXNet's conventions (ops/pool2d.h reduces each plane).
//
// Output size per spatial axis: `valid`: 1 + floor((H + 2p - k) / s); `full`: 1 + ceil((H + 2p - k) / s);
// global pooling uses k = H, s = 1, p = 0.
#include "ops/ops.h"
#include "ops/pool2d.h"

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
    pool_.type = type == "max" ? Pool2d::kMax : type == "avg" ? Pool2d::kAvg : Pool2d::kSum;
    std::string conv = a.text("pooling_convention");
    require_supported(conv == "valid" || conv == "full", "expected pooling_convention valid or full, got '", conv,
                      "'");
    full_ = conv == "full";
    pool_.count_include_pad = a.flag("count_include_pad");
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
    n_ = s[0], c_ = s[1];
    if (global_) {
      kernel_ = {s[2], s[3]};
      stride_ = {1, 1};
      pad_ = {0, 0};
    }
    for (int i = 0; i < 2; ++i) {
      require(kernel_[i] >= 1 && stride_[i] >= 1 && pad_[i] >= 0, "expected kernel >= 1, stride >= 1, pad >= 0, got "
              "kernel ", kernel_[i], ", stride ", stride_[i], ", pad ", pad_[i]);
      int64_t span = s[2 + i] + 2 * pad_[i] - kernel_[i];
      require(span >= 0, "kernel ", kernel_[i], " exceeds the padded input size ", s[2 + i] + 2 * pad_[i]);
      pool_.kernel[i] = kernel_[i], pool_.stride[i] = stride_[i], pool_.pad[i] = pad_[i], pool_.in[i] = s[2 + i];
      pool_.out[i] = 1 + (full_ ? (span + stride_[i] - 1) / stride_[i] : span / stride_[i]);
    }
    return TensorInfo{DType::kFloat32, Shape{n_, c_, pool_.out[0], pool_.out[1]}};
  }

  const Pool2d* max_pool() const override { return pool_.type == Pool2d::kMax && !global_ ? &pool_ : nullptr; }

  // Each thread's row buffer of Pool2d::output_row (W floats).
  size_t scratch_bytes(int threads) const override { return static_cast<size_t>(threads) * row_bytes(); }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    float* y = static_cast<float*>(output);
    float* rows = static_cast<float*>(ctx.scratch);
    const size_t stride = row_bytes() / sizeof(float);
    const int64_t h = pool_.in[0], w = pool_.in[1], oh = pool_.out[0], ow = pool_.out[1];
    ctx.pool->parallel_for(n_ * c_, [&](int64_t p, int thread) {
      const float* plane = x + p * h * w;
      for (int64_t r = 0; r < oh; ++r) {
        pool_.output_row(r, [&](int64_t i) { return plane + i * w; }, y + (p * oh + r) * ow, rows + thread * stride);
      }
    });
  }

 private:
  size_t row_bytes() const { return align64(static_cast<size_t>(pool_.in[1]) * sizeof(float)); }

  bool global_, full_;
  Pool2d pool_;
  std::vector<int64_t> kernel_, stride_, pad_;
  int64_t n_ = 0, c_ = 0;
};

}  // namespace

std::unique_ptr<Op> make_pooling(const NodeDesc& node) { return std::make_unique<Pooling>(node); }

}  // namespace rt
}  // namespace bmx
