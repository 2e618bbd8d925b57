// Full-precision dense layer (MXNet `FullyConnected`), one vectorised dot product per output.
#include "bmx/float_kernels.h"
#include "ops/ops.h"

namespace bmx {
namespace rt {
namespace {

// y = x W^T + b: x (N, K) (flatten = 1: the input's trailing dimensions flattened; flatten = 0: the last axis).
class FullyConnected : public Op {
 public:
  explicit FullyConnected(const NodeDesc& node) : Op(node), kernel_(current_float_kernels()) {
    Attrs a(node);
    o_ = a.integer("num_hidden");
    no_bias_ = a.flag("no_bias");
    flatten_ = a.flag("flatten");
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require_inputs(in, no_bias_ ? 2 : 3, no_bias_ ? 2 : 3);
    require_dtype(in[0], DType::kFloat32, "data");
    const Shape& s = in[0].info.shape;
    require(!s.empty() && o_ >= 1, "expected data with a batch axis and num_hidden >= 1");
    Shape out;
    if (flatten_ || s.size() == 1) {
      rows_ = s[0];
      k_ = num_elements(s) / std::max<int64_t>(1, s[0]);
      out = {s[0], o_};
    } else {
      k_ = s.back();
      rows_ = num_elements(s) / std::max<int64_t>(1, k_);
      out = s;
      out.back() = o_;
    }
    require_dtype(in[1], DType::kFloat32, "weight");
    require_shape(in[1], Shape{o_, k_}, "weight");
    require_constant(in[1], "weight");
    weight_ = static_cast<const float*>(in[1].data);
    if (!no_bias_) {
      require_dtype(in[2], DType::kFloat32, "bias");
      require_shape(in[2], Shape{o_}, "bias");
      require_constant(in[2], "bias");
      bias_ = static_cast<const float*>(in[2].data);
    }
    return TensorInfo{DType::kFloat32, out};
  }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    float* y = static_cast<float*>(output);
    parallel_range(ctx, rows_ * o_, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, k_)),
                   [&](int64_t begin, int64_t end) {
                     for (int64_t t = begin; t < end; ++t) {
                       const int64_t r = t / o_, o = t % o_;
                       y[t] = kernel_.dot(x + r * k_, weight_ + o * k_, k_) + (bias_ ? bias_[o] : 0.f);
                     }
                   });
  }

 private:
  const FloatKernels& kernel_;
  int64_t o_;
  bool no_bias_, flatten_;
  int64_t rows_ = 0, k_ = 0;
  const float* weight_ = nullptr;
  const float* bias_ = nullptr;
};

}  // namespace

std::unique_ptr<Op> make_fully_connected(const NodeDesc& node) { return std::make_unique<FullyConnected>(node); }

}  // namespace rt
}  // namespace bmx
