// Element-wise operators: activations, scalar arithmetic, clip/round/sign/abs, additions and products with
// broadcasting, and LeakyReLU (leaky, or prelu with a slope per channel).
#include <cmath>

#include "bmx/float_kernels.h"
#include "ops/ops.h"

namespace bmx {
namespace rt {
namespace {

// y = f(x) for a float32 tensor of any shape; tanh and sigmoid with the native core's vector kernels.
class Unary : public Op {
 public:
  enum Kind { kRelu, kSigmoid, kTanh, kSoftrelu, kSoftsign, kClip, kRound, kSign, kAbs, kMul, kDiv, kPlus, kMinus,
              kGreaterEqual };

  Unary(const NodeDesc& node, Kind kind, float a = 0.f, float b = 0.f)
      : Op(node), kind_(kind), a_(a), b_(b) {}

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
      case kSigmoid: sigmoid_array(x, y, n); break;
      case kTanh: tanh_array(x, y, n); break;
      case kSoftrelu: for (int64_t i = 0; i < n; ++i) y[i] = std::log1p(std::exp(x[i])); break;
      case kSoftsign: for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.f + std::fabs(x[i])); break;
      case kClip: for (int64_t i = 0; i < n; ++i) y[i] = x[i] < a_ ? a_ : (x[i] > b_ ? b_ : x[i]); break;
      case kRound: for (int64_t i = 0; i < n; ++i) y[i] = std::round(x[i]); break;
      case kSign: for (int64_t i = 0; i < n; ++i) y[i] = float((x[i] > 0.f) - (x[i] < 0.f)); break;
      case kAbs: for (int64_t i = 0; i < n; ++i) y[i] = std::fabs(x[i]); break;
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

// y = a + b (or a * b) with NumPy broadcasting (elemwise_add requires equal shapes).
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
    collapse_dims();
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
    // rows of the innermost collapsed dimension: one index computation per row, a plain loop along it
    const int64_t inner = dims_.back(), rows = n / std::max<int64_t>(1, inner);
    const int64_t sa = a_run_strides_.back(), sb = b_run_strides_.back();
    parallel_range(ctx, rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, inner)),
                   [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        int64_t rest = row, ia = 0, ib = 0;
        for (size_t k = dims_.size() - 1; k-- > 0;) {
          int64_t coord = rest % dims_[k];
          rest /= dims_[k];
          ia += coord * a_run_strides_[k];
          ib += coord * b_run_strides_[k];
        }
        float* out = y + row * inner;
        if (multiply_) {
          combine(out, a + ia, sa, b + ib, sb, inner, [](float u, float v) { return u * v; });
        } else {
          combine(out, a + ia, sa, b + ib, sb, inner, [](float u, float v) { return u + v; });
        }
      }
    });
  }

 private:
  // y[j] = f(a[j * sa], b[j * sb]) for j < count, with each stride 0 (broadcast) or 1, specialised so the
  // compiler vectorises the common cases.
  template <typename F>
  static void combine(float* y, const float* a, int64_t sa, const float* b, int64_t sb, int64_t count, F f) {
    if (sa == 1 && sb == 0) {
      const float v = b[0];
      for (int64_t j = 0; j < count; ++j) y[j] = f(a[j], v);
    } else if (sa == 0 && sb == 1) {
      const float u = a[0];
      for (int64_t j = 0; j < count; ++j) y[j] = f(u, b[j]);
    } else if (sa == 1 && sb == 1) {
      for (int64_t j = 0; j < count; ++j) y[j] = f(a[j], b[j]);
    } else {
      for (int64_t j = 0; j < count; ++j) y[j] = f(a[j * sa], b[j * sb]);
    }
  }

  // Merge neighbouring output dimensions that both operands walk contiguously (or both broadcast), so the
  // innermost run is as long as possible: (1, C, H, W) + (1, C, 1, 1) becomes C runs of H * W.
  void collapse_dims() {
    dims_.assign(1, 1);
    a_run_strides_.assign(1, 0);
    b_run_strides_.assign(1, 0);
    for (size_t k = 0; k < out_.size(); ++k) {
      if (out_[k] == 1) continue;
      bool merge = dims_.back() == 1 ||
                   (a_run_strides_.back() == a_strides_[k] * out_[k] && b_run_strides_.back() == b_strides_[k] * out_[k]);
      if (merge && dims_.back() != 1) {
        dims_.back() *= out_[k];
        a_run_strides_.back() = a_strides_[k];
        b_run_strides_.back() = b_strides_[k];
      } else if (merge) {
        dims_.back() = out_[k];
        a_run_strides_.back() = a_strides_[k];
        b_run_strides_.back() = b_strides_[k];
      } else {
        dims_.push_back(out_[k]);
        a_run_strides_.push_back(a_strides_[k]);
        b_run_strides_.push_back(b_strides_[k]);
      }
    }
  }

  bool broadcast_, multiply_;
  bool same_ = true;
  Shape out_, dims_;
  std::vector<int64_t> a_strides_, b_strides_, a_run_strides_, b_run_strides_;
};

// LeakyReLU: y = x for x > 0, else slope * x; act_type "leaky" (one `slope` attribute) or "prelu" (a constant
// `gamma` input of C values, one per channel of axis 1, or of one value for all).
class LeakyRelu : public Op {
 public:
  explicit LeakyRelu(const NodeDesc& node) : Op(node) {
    Attrs a(node);
    type_ = a.text("act_type");
    slope_ = float(a.number("slope"));
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require_supported(type_ == "leaky" || type_ == "prelu", "expected act_type leaky or prelu, got '", type_, "'");
    bool prelu = type_ == "prelu";
    require_inputs(in, prelu ? 2 : 1, prelu ? 2 : 1);
    require_dtype(in[0], DType::kFloat32, "data");
    const Shape& s = in[0].info.shape;
    count_ = num_elements(s);
    if (!prelu) {
      slopes_.assign(1, slope_);
      channels_ = 1;
      inner_ = std::max<int64_t>(1, count_);
      return in[0].info;
    }
    require(s.size() >= 2, "expected data of at least 2 dimensions, got ", shape_string(s));
    require_dtype(in[1], DType::kFloat32, "gamma");
    require_constant(in[1], "gamma");
    int64_t n = num_elements(in[1].info.shape);
    require(n == s[1] || n == 1, "expected gamma of ", s[1], " or 1 values, got ", shape_string(in[1].info.shape));
    const float* gamma = static_cast<const float*>(in[1].data);
    slopes_.assign(gamma, gamma + n);
    channels_ = n;
    inner_ = std::max<int64_t>(1, n == 1 ? count_ : count_ / std::max<int64_t>(1, s[0] * s[1]));
    return in[0].info;
  }

  size_t owned_weight_bytes() const override { return sizeof(float) * slopes_.size(); }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    float* y = static_cast<float*>(output);
    // planes of inner_ values share one slope: no division per element
    const int64_t planes = count_ / std::max<int64_t>(1, inner_);
    parallel_range(ctx, planes, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, inner_)),
                   [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const float slope = slopes_[p % channels_];
        const float* xp = x + p * inner_;
        float* yp = y + p * inner_;
        for (int64_t j = 0; j < inner_; ++j) yp[j] = xp[j] > 0.f ? xp[j] : xp[j] * slope;
      }
    });
  }

 private:
  std::string type_;
  float slope_;
  std::vector<float> slopes_;
  int64_t count_ = 0, channels_ = 1, inner_ = 1;
};

}  // namespace

std::unique_ptr<Op> make_leaky_relu(const NodeDesc& node) { return std::make_unique<LeakyRelu>(node); }

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
  if (node.op == "abs") return std::make_unique<Unary>(node, Unary::kAbs);
  float s = float(attrs.number("scalar"));
  Unary::Kind kind = node.op == "_mul_scalar" ? Unary::kMul
                     : node.op == "_div_scalar" ? Unary::kDiv
                     : node.op == "_plus_scalar" ? Unary::kPlus
                     : node.op == "_minus_scalar" ? Unary::kMinus : Unary::kGreaterEqual;
  return std::make_unique<Unary>(node, kind, s);
}

std::unique_ptr<Op> make_add(const NodeDesc& node) {
  return std::make_unique<Add>(node, node.op != "elemwise_add", node.op == "broadcast_mul");
}

}  // namespace rt
}  // namespace bmx
