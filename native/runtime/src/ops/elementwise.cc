// Element-wise operators: activations, scalar arithmetic, clip/round/sign, additions and products with
// broadcasting, and LeakyReLU (leaky / per-channel prelu).
#include <cmath>

#include "ops/ops.h"

namespace bmx {
namespace rt {
namespace {

// y = f(x) for a float32 tensor of any shape.
class Unary : public Op {
 public:
  enum Kind { kRelu, kSigmoid, kTanh, kSoftrelu, kSoftsign, kClip, kRound, kSign, kMul, kDiv, kPlus, kMinus, kGreaterEqual };

  Unary(const NodeDesc& node, Kind kind, float a = 0.f, float b = 0.f) : Op(node), kind_(kind), a_(a), b_(b) {}

  TensorInfo prepare(const std::vector<TensorArg>& inputs) override {
    require_inputs(inputs, 1, 1);
    require_dtype(inputs[0], DType::kFloat32, "data");
    count_ = num_elements(inputs[0].info.shape);
    return inputs[0].info;
  }

  bool is_relu() const override { return kind_ == kRelu; }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    float* y = static_cast<float*>(output);
    parallel_range(ctx, count_, 1 << 15, [&](int64_t begin, int64_t end) { apply(x + begin, y + begin, end - begin); });
  }

 private:
  void apply(const float* x, float* y, int64_t n) const {
    switch (kind_) {
      case kRelu: for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f; break;
      case kSigmoid: for (int64_t i = 0; i < n; ++i) y[i] = 1.f / (1.f + std::exp(-x[i])); break;
      case kTanh: for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]); break;
      case kSoftrelu: for (int64_t i = 0; i < n; ++i) y[i] = std::log1p(std::exp(x[i])); break;
      case kSoftsign: for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.f + std::fabs(x[i])); break;
      case kClip: for (int64_t i = 0; i < n; ++i) y[i] = x[i] < a_ ? a_ : (x[i] > b_ ? b_ : x[i]); break;
      case kRound: for (int64_t i = 0; i < n; ++i) y[i] = std::round(x[i]); break;
      case kSign: for (int64_t i = 0; i < n; ++i) y[i] = float((x[i] > 0.f) - (x[i] < 0.f)); break;
      case kMul: for (int64_t i = 0; i < n; ++i) y[i] = x[i] * a_; break;
      case kDiv: for (int64_t i = 0; i < n; ++i) y[i] = x[i] / a_; break;
      case kPlus: for (int64_t i = 0; i < n; ++i) y[i] = x[i] + a_; break;
      case kMinus: for (int64_t i = 0; i < n; ++i) y[i] = x[i] - a_; break;
      case kGreaterEqual: for (int64_t i = 0; i < n; ++i) y[i] = x[i] >= a_ ? 1.f : 0.f; break;
    }
  }

  Kind kind_;
  float a_, b_;
  int64_t count_ = 0;
};

// y = a + b (or a * b) with NumPy broadcasting (the elemwise_ operators require equal shapes).
class Add : public Op {
 public:
  Add(const NodeDesc& node, bool broadcast, bool multiply = false)
      : Op(node), broadcast_(broadcast), multiply_(multiply) {}

  TensorInfo prepare(const std::vector<TensorArg>& inputs) override {
    require_inputs(inputs, 2, 2);
    require_dtype(inputs[0], DType::kFloat32, "lhs");
    require_dtype(inputs[1], DType::kFloat32, "rhs");
    const Shape &a = inputs[0].info.shape, &b = inputs[1].info.shape;
    if (!broadcast_) require(a == b, "expected equal shapes, got ", shape_string(a), " and ", shape_string(b));
    size_t nd = std::max(a.size(), b.size());
    out_.assign(nd, 1);
    a_strides_.assign(nd, 0);
    b_strides_.assign(nd, 0);
    int64_t sa = 1, sb = 1;
    for (size_t k = 0; k < nd; ++k) {
      size_t i = nd - 1 - k;
      int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1, db = k < b.size() ? b[b.size() - 1 - k] : 1;
      require(da == db || da == 1 || db == 1, "shapes ", shape_string(a), " and ", shape_string(b),
              " do not broadcast");
      out_[i] = da == 1 ? db : da;
      a_strides_[i] = da == 1 ? 0 : sa;
      b_strides_[i] = db == 1 ? 0 : sb;
      sa *= da;
      sb *= db;
    }
    same_ = a == b;
    return TensorInfo{DType::kFloat32, out_};
  }

  bool is_same_shape_add() const override { return same_ && !multiply_; }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float *a = fin(inputs, 0), *b = fin(inputs, 1);
    float* y = static_cast<float*>(output);
    int64_t n = num_elements(out_);
    if (same_) {
      parallel_range(ctx, n, 1 << 15, [&](int64_t begin, int64_t end) {
        if (multiply_) {
          for (int64_t i = begin; i < end; ++i) y[i] = a[i] * b[i];
        } else {
          for (int64_t i = begin; i < end; ++i) y[i] = a[i] + b[i];
        }
      });
      return;
    }
    const size_t nd = out_.size();
    parallel_range(ctx, n, 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        int64_t rest = i, ia = 0, ib = 0;
        for (size_t k = nd; k-- > 0;) {
          int64_t coord = rest % out_[k];
          rest /= out_[k];
          ia += coord * a_strides_[k];
          ib += coord * b_strides_[k];
        }
        y[i] = multiply_ ? a[ia] * b[ib] : a[ia] + b[ib];
      }
    });
  }

 private:
  bool broadcast_;
  bool multiply_;
  bool same_ = true;
  Shape out_;
  std::vector<int64_t> a_strides_, b_strides_;
};

// MXNet's LeakyReLU: y = x for x > 0, else slope * x, with one slope ("leaky") or the per-channel slopes
// gamma (C,) of the second input along axis 1 ("prelu"; a single-element gamma is shared by all channels).
class LeakyRelu : public Op {
 public:
  LeakyRelu(const NodeDesc& node, bool prelu, float slope) : Op(node), prelu_(prelu), slope_(slope) {}

  TensorInfo prepare(const std::vector<TensorArg>& inputs) override {
    require_inputs(inputs, prelu_ ? 2 : 1, prelu_ ? 2 : 1);
    require_dtype(inputs[0], DType::kFloat32, "data");
    const Shape& x = inputs[0].info.shape;
    count_ = num_elements(x);
    if (prelu_) {
      require_dtype(inputs[1], DType::kFloat32, "gamma");
      require(x.size() >= 2, "expected data of rank >= 2, got ", shape_string(x));
      int64_t slopes = num_elements(inputs[1].info.shape);
      require(inputs[1].info.shape.size() == 1 && (slopes == x[1] || slopes == 1), "expected gamma of shape (",
              x[1], ",) or (1,) for data ", shape_string(x), ", got ", shape_string(inputs[1].info.shape));
      channels_ = x[1];
      inner_ = count_ / (x[0] * x[1]);
      shared_ = slopes == 1;
    }
    return inputs[0].info;
  }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    const float* gamma = prelu_ ? fin(inputs, 1) : nullptr;
    float* y = static_cast<float*>(output);
    parallel_range(ctx, count_, 1 << 15, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        float slope = !prelu_ ? slope_ : gamma[shared_ ? 0 : (i / inner_) % channels_];
        y[i] = x[i] > 0.f ? x[i] : slope * x[i];
      }
    });
  }

 private:
  bool prelu_;
  float slope_;
  bool shared_ = false;
  int64_t count_ = 0, channels_ = 1, inner_ = 1;
};

}  // namespace

std::unique_ptr<Op> make_leaky_relu(const NodeDesc& node) {
  Attrs attrs(node);
  std::string type = attrs.text("act_type");
  if (type != "leaky" && type != "prelu") {
    throw Error(BMX_ERR_UNSUPPORTED, cat("LeakyReLU node '", node.name, "': expected act_type leaky or prelu, got '",
                                         type, "'"));
  }
  return std::make_unique<LeakyRelu>(node, type == "prelu", float(attrs.number("slope")));
}

std::unique_ptr<Op> make_activation(const NodeDesc& node) {
  std::string type = node.op == "Activation" ? Attrs(node).text("act_type") : node.op;
  static const struct { const char* name; Unary::Kind kind; } kinds[] = {
      {"relu", Unary::kRelu}, {"sigmoid", Unary::kSigmoid}, {"tanh", Unary::kTanh},
      {"softrelu", Unary::kSoftrelu}, {"softsign", Unary::kSoftsign}};
  for (const auto& k : kinds) {
    if (type == k.name) return std::make_unique<Unary>(node, k.kind);
  }
  throw Error(BMX_ERR_UNSUPPORTED, cat("Activation node '", node.name, "': expected act_type relu, sigmoid, tanh, "
                                       "softrelu or softsign, got '", type, "'"));
}

std::unique_ptr<Op> make_unary(const NodeDesc& node) {
  Attrs attrs(node);
  if (node.op == "clip") {
    return std::make_unique<Unary>(node, Unary::kClip, float(attrs.number("a_min")), float(attrs.number("a_max")));
  }
  if (node.op == "round") return std::make_unique<Unary>(node, Unary::kRound);
  if (node.op == "sign") return std::make_unique<Unary>(node, Unary::kSign);
  float s = float(attrs.number("scalar"));
  Unary::Kind kind = node.op == "_mul_scalar" ? Unary::kMul
                     : node.op == "_div_scalar" ? Unary::kDiv
                     : node.op == "_plus_scalar" ? Unary::kPlus
                     : node.op == "_minus_scalar" ? Unary::kMinus : Unary::kGreaterEqual;
  return std::make_unique<Unary>(node, kind, s);
}

std::unique_ptr<Op> make_add(const NodeDesc& node) {
  return std::make_unique<Add>(node, node.op == "broadcast_add" || node.op == "broadcast_mul",
                               node.op == "broadcast_mul" || node.op == "elemwise_mul");
}

}  // namespace rt
}  // namespace bmx
