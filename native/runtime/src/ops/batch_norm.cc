// BatchNorm at inference: y = (x - mean) / sqrt(var + eps) * gamma + beta per channel (axis 1), folded at load
// time into y = x * scale[c] + shift[c]. fix_gamma uses gamma = 1 (MXNet's rule).
#include <cmath>

#include "ops/ops.h"

namespace bmx {
namespace rt {
namespace {

class BatchNorm : public Op {
 public:
  explicit BatchNorm(const NodeDesc& node) : Op(node) {
    Attrs a(node);
    eps_ = a.number("eps");
    fix_gamma_ = a.flag("fix_gamma");
    axis_ = a.integer("axis");
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require_inputs(in, 5, 5);
    require_dtype(in[0], DType::kFloat32, "data");
    const Shape& s = in[0].info.shape;
    require(s.size() >= 2, "expected data of at least 2 dimensions, got ", shape_string(s));
    int64_t axis = axis_ < 0 ? axis_ + int64_t(s.size()) : axis_;
    require_supported(axis == 1, "only axis 1 (channels) is supported, got ", axis_);
    require(eps_ > 0 && std::isfinite(eps_), "expected eps > 0, got ", eps_);
    channels_ = s[1];
    outer_ = s[0];
    inner_ = num_elements(s) / std::max<int64_t>(1, outer_ * channels_);
    const char* roles[] = {"gamma", "beta", "moving_mean", "moving_var"};
    for (int i = 1; i < 5; ++i) {
      require_dtype(in[i], DType::kFloat32, roles[i - 1]);
      require_shape(in[i], Shape{channels_}, roles[i - 1]);
      require_constant(in[i], roles[i - 1]);
    }
    const float *gamma = static_cast<const float*>(in[1].data), *beta = static_cast<const float*>(in[2].data);
    const float *mean = static_cast<const float*>(in[3].data), *var = static_cast<const float*>(in[4].data);
    scale_.resize(channels_);
    shift_.resize(channels_);
    for (int64_t c = 0; c < channels_; ++c) {
      float g = fix_gamma_ ? 1.f : gamma[c];
      scale_[c] = g / std::sqrt(var[c] + static_cast<float>(eps_));
      shift_[c] = beta[c] - mean[c] * scale_[c];
    }
    return in[0].info;
  }

  bool channel_affine(std::vector<float>* scale, std::vector<float>* shift) const override {
    if (outer_ < 1) return false;
    *scale = scale_;
    *shift = shift_;
    return true;
  }

  size_t owned_weight_bytes() const override { return 2 * sizeof(float) * scale_.size(); }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    float* y = static_cast<float*>(output);
    parallel_range(ctx, outer_ * channels_, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, inner_)),
                   [&](int64_t begin, int64_t end) {
                     for (int64_t p = begin; p < end; ++p) {
                       const float s = scale_[p % channels_], t = shift_[p % channels_];
                       const float* xp = x + p * inner_;
                       float* yp = y + p * inner_;
                       for (int64_t i = 0; i < inner_; ++i) yp[i] = xp[i] * s + t;
                     }
                   });
  }

 private:
  double eps_;
  bool fix_gamma_;
  int64_t axis_;
  int64_t channels_ = 0, outer_ = 0, inner_ = 0;
  std::vector<float> scale_, shift_;
};

}  // namespace

std::unique_ptr<Op> make_batch_norm(const NodeDesc& node) { return std::make_unique<BatchNorm>(node); }

}  // namespace rt
}  // namespace bmx
