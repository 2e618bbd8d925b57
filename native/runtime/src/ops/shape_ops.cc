// Shape and normalisation operators: Flatten (a reshape sharing its input's buffer), Concat, Pad, softmax.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "ops/ops.h"

namespace bmx {
namespace rt {
namespace {

// (N, d1, d2, ...) -> (N, d1 * d2 * ...), same bytes.
class Flatten : public Op {
 public:
  using Op::Op;
  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require_inputs(in, 1, 1);
    const Shape& s = in[0].info.shape;
    require(!s.empty(), "expected data with at least 1 dimension");
    int64_t rest = s.size() == 1 ? 1 : num_elements(Shape(s.begin() + 1, s.end()));
    bytes_ = in[0].info.bytes();
    return TensorInfo{in[0].info.dtype, Shape{s[0], rest}};
  }
  int alias_of_input() const override { return 0; }
  void run(const RunContext&, const std::vector<const void*>& inputs, void* output) override {
    if (inputs[0] != output) std::memcpy(output, inputs[0], bytes_);
  }

 private:
  size_t bytes_ = 0;
};

// Join inputs along `dim`; all other dimensions must agree.
class Concat : public Op {
 public:
  explicit Concat(const NodeDesc& node) : Op(node) {
    Attrs a(node);
    dim_ = a.integer("dim");
    num_args_ = a.integer("num_args");
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require(num_args_ >= 1 && static_cast<int64_t>(in.size()) == num_args_, "num_args is ", num_args_, ", got ",
            in.size(), " inputs");
    Shape out = in[0].info.shape;
    const int64_t nd = static_cast<int64_t>(out.size());
    int64_t dim = dim_ < 0 ? dim_ + nd : dim_;
    require(dim >= 0 && dim < nd, "dim ", dim_, " is out of range for ", nd, " dimensions");
    out[dim] = 0;
    item_ = dtype_size(in[0].info.dtype);
    for (const TensorArg& t : in) {
      require(t.info.dtype == in[0].info.dtype, "inputs mix ", dtype_name(in[0].info.dtype), " and ",
              dtype_name(t.info.dtype));
      require(static_cast<int64_t>(t.info.shape.size()) == nd, "inputs have different ranks: ",
              shape_string(in[0].info.shape), " and ", shape_string(t.info.shape));
      for (int64_t k = 0; k < nd; ++k) {
        require(k == dim || t.info.shape[k] == in[0].info.shape[k], "input shapes ", shape_string(in[0].info.shape),
                " and ", shape_string(t.info.shape), " differ outside dim ", dim);
      }
      out[dim] += t.info.shape[dim];
      inner_.push_back(num_elements(Shape(t.info.shape.begin() + dim, t.info.shape.end())));
    }
    outer_ = num_elements(Shape(out.begin(), out.begin() + dim));
    total_inner_ = num_elements(Shape(out.begin() + dim, out.end()));
    return TensorInfo{in[0].info.dtype, out};
  }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    auto* y = static_cast<uint8_t*>(output);
    parallel_range(ctx, outer_ * int64_t(inputs.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        int64_t o = task / int64_t(inputs.size());
        size_t i = static_cast<size_t>(task % int64_t(inputs.size()));
        int64_t offset = 0;
        for (size_t j = 0; j < i; ++j) offset += inner_[j];
        std::memcpy(y + (o * total_inner_ + offset) * item_,
                    static_cast<const uint8_t*>(inputs[i]) + o * inner_[i] * item_, inner_[i] * item_);
      }
    });
  }

 private:
  int64_t dim_, num_args_;
  size_t item_ = 4;
  int64_t outer_ = 0, total_inner_ = 0;
  std::vector<int64_t> inner_;
};

// Pad (N, C, H, W) with a constant: pad_width = (0, 0, 0, 0, top, bottom, left, right), mode "constant".
class Pad : public Op {
 public:
  explicit Pad(const NodeDesc& node) : Op(node) {
    Attrs a(node);
    require_supported(a.text("mode") == "constant", "only mode 'constant' is supported, got '", a.text("mode"), "'");
    width_ = a.ints("pad_width");
    value_ = static_cast<float>(a.number("constant_value"));
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require_inputs(in, 1, 1);
    require_dtype(in[0], DType::kFloat32, "data");
    const Shape& s = in[0].info.shape;
    require_supported(s.size() == 4 && width_.size() == 8 && width_[0] == 0 && width_[1] == 0 && width_[2] == 0 &&
                          width_[3] == 0,
                      "only spatial padding of (N, C, H, W) data is supported, got pad_width of ", width_.size(),
                      " values for ", shape_string(s));
    for (int64_t w : width_) require(w >= 0 && w <= (int64_t{1} << 20), "pad_width values must be in [0, 2^20]");
    planes_ = s[0] * s[1], h_ = s[2], w_ = s[3];
    oh_ = h_ + width_[4] + width_[5];
    ow_ = w_ + width_[6] + width_[7];
    return TensorInfo{DType::kFloat32, Shape{s[0], s[1], oh_, ow_}};
  }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    float* y = static_cast<float*>(output);
    parallel_range(ctx, planes_, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, oh_ * ow_)),
                   [&](int64_t begin, int64_t end) {
                     for (int64_t p = begin; p < end; ++p) {
                       float* yp = y + p * oh_ * ow_;
                       std::fill(yp, yp + oh_ * ow_, value_);
                       for (int64_t r = 0; r < h_; ++r)
                         std::memcpy(yp + (r + width_[4]) * ow_ + width_[6], x + (p * h_ + r) * w_, w_ * sizeof(float));
                     }
                   });
  }

 private:
  std::vector<int64_t> width_;
  float value_;
  int64_t planes_ = 0, h_ = 0, w_ = 0, oh_ = 0, ow_ = 0;
};

// softmax along `axis`: exp((x - max) / T) / sum.
class Softmax : public Op {
 public:
  explicit Softmax(const NodeDesc& node) : Op(node) {
    Attrs a(node);
    axis_ = a.integer("axis");
    temperature_ = static_cast<float>(a.number("temperature"));
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require_inputs(in, 1, 1);
    require_dtype(in[0], DType::kFloat32, "data");
    const Shape& s = in[0].info.shape;
    const int64_t nd = static_cast<int64_t>(s.size());
    int64_t axis = axis_ < 0 ? axis_ + nd : axis_;
    require(axis >= 0 && axis < nd, "axis ", axis_, " is out of range for ", nd, " dimensions");
    require(temperature_ != 0.f, "temperature must not be 0");
    outer_ = num_elements(Shape(s.begin(), s.begin() + axis));
    len_ = s[axis];
    inner_ = num_elements(Shape(s.begin() + axis + 1, s.end()));
    return in[0].info;
  }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    float* y = static_cast<float*>(output);
    parallel_range(ctx, outer_ * inner_, 64, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t base = (t / inner_) * len_ * inner_ + t % inner_;
        float m = -FLT_MAX;
        for (int64_t i = 0; i < len_; ++i) m = std::max(m, x[base + i * inner_]);
        float sum = 0.f;
        for (int64_t i = 0; i < len_; ++i) sum += (y[base + i * inner_] = std::exp((x[base + i * inner_] - m) / temperature_));
        for (int64_t i = 0; i < len_; ++i) y[base + i * inner_] /= sum;
      }
    });
  }

 private:
  int64_t axis_;
  float temperature_;
  int64_t outer_ = 0, len_ = 0, inner_ = 0;
};

}  // namespace

std::unique_ptr<Op> make_flatten(const NodeDesc& node) { return std::make_unique<Flatten>(node); }
std::unique_ptr<Op> make_concat(const NodeDesc& node) { return std::make_unique<Concat>(node); }
std::unique_ptr<Op> make_softmax(const NodeDesc& node) { return std::make_unique<Softmax>(node); }
std::unique_ptr<Op> make_pad(const NodeDesc& node) { return std::make_unique<Pad>(node); }

}  // namespace rt
}  // namespace bmx
