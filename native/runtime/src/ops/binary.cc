// The converted model's binary operators (docs/conventions.md, "Operators of a converted model"), running the
// native core's kernels: BmxPack (sign bits, optionally of a per-channel affine), BmxBinaryConv2D and
// BmxBinaryDense (xnor/popcount with the fused int32 / float affine / packed-sign outputs).
#include "bmx/conv.h"
#include "bmx/dense.h"
#include "bmx/pack.h"
#include "ops/ops.h"

namespace bmx {
namespace rt {
namespace {

enum class OutFormat { kInt32, kFloat, kPacked };

OutFormat parse_out_format(const std::string& node, const std::string& text) {
  if (text == "int32") return OutFormat::kInt32;
  if (text == "float") return OutFormat::kFloat;
  if (text == "packed") return OutFormat::kPacked;
  throw Error(BMX_ERR_FORMAT, cat("node '", node, "': expected out_format int32, float or packed, got '", text, "'"));
}

// float (N, C, H, W) -> words (N, H, W, G * ceil(C/G / 64)); float (N, K) -> words (N, ceil(K / 64)).
class Pack : public Op {
 public:
  explicit Pack(const NodeDesc& node) : Op(node) {
    Attrs a(node);
    affine_ = a.flag("affine");
    groups_ = a.integer("num_group");
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require_inputs(in, affine_ ? 3 : 1, affine_ ? 3 : 1);
    require_dtype(in[0], DType::kFloat32, "data");
    shape_ = in[0].info.shape;
    require(shape_.size() == 4 || shape_.size() == 2, "expected (N, C, H, W) or (N, K) data, got ",
            shape_string(shape_));
    const int64_t c = shape_[1];
    require(groups_ >= 1 && c % groups_ == 0 && (shape_.size() == 4 || groups_ == 1), "channels ", c,
            " must be a multiple of num_group ", groups_, " (1 for (N, K) data)");
    if (affine_) {
      for (int i = 1; i < 3; ++i) {
        const char* role = i == 1 ? "scale" : "bias";
        require_dtype(in[i], DType::kFloat32, role);
        require_shape(in[i], Shape{c}, role);
        require_constant(in[i], role);
      }
      scale_ = static_cast<const float*>(in[1].data);
      bias_ = static_cast<const float*>(in[2].data);
    }
    if (shape_.size() == 2) return TensorInfo{DType::kUInt64, Shape{shape_[0], words_for(c)}};
    return TensorInfo{DType::kUInt64, Shape{shape_[0], shape_[2], shape_[3], groups_ * words_for(c / groups_)}};
  }

  void run(const RunContext&, const std::vector<const void*>& inputs, void* output) override {
    auto* out = static_cast<word_t*>(output);
    if (shape_.size() == 2) {
      pack_rows(fin(inputs, 0), shape_[0], shape_[1], scale_, bias_, out);
    } else {
      pack_activations_nchw(fin(inputs, 0), shape_[0], shape_[1], shape_[2], shape_[3], groups_, scale_, bias_, out);
    }
  }

 private:
  bool affine_;
  int64_t groups_;
  Shape shape_;
  const float* scale_ = nullptr;
  const float* bias_ = nullptr;
};

// Checks shared by the binary convolution and dense layers: packed weight, and scale/bias (O,) when present.
class BinaryLayer : public Op {
 public:
  BinaryLayer(const NodeDesc& node, OutFormat format) : Op(node), format_(format) {}

 protected:
  void prepare_params(const std::vector<TensorArg>& in, const Shape& weight_shape, int64_t out_channels) {
    // scale and bias are required for float and packed outputs; an int32 output ignores them if given.
    require_inputs(in, format_ == OutFormat::kInt32 ? 2 : 4, 4);
    require_dtype(in[0], DType::kUInt64, "packed data");
    require_dtype(in[1], DType::kUInt64, "packed weight");
    require_shape(in[1], weight_shape, "packed weight");
    require_constant(in[1], "packed weight");
    weight_ = static_cast<const word_t*>(in[1].data);
    if (in.size() == 4) {
      for (int i = 2; i < 4; ++i) {
        const char* role = i == 2 ? "scale" : "bias";
        require_dtype(in[i], DType::kFloat32, role);
        require_shape(in[i], Shape{out_channels}, role);
        require_constant(in[i], role);
      }
      scale_ = static_cast<const float*>(in[2].data);
      bias_ = static_cast<const float*>(in[3].data);
    }
  }

  DType out_dtype() const {
    return format_ == OutFormat::kPacked ? DType::kUInt64 : format_ == OutFormat::kInt32 ? DType::kInt32 : DType::kFloat32;
  }

  OutFormat format_;
  const word_t* weight_ = nullptr;
  const float* scale_ = nullptr;
  const float* bias_ = nullptr;
};

class BinaryConv : public BinaryLayer {
 public:
  explicit BinaryConv(const NodeDesc& node) : BinaryLayer(node, parse_out_format(node.name, Attrs(node).text("out_format"))) {
    Attrs a(node);
    std::vector<int64_t> k = a.ints("kernel");
    require_supported(k.size() == 2, "only 2-D binary convolution is supported, kernel has ", k.size(), " values");
    auto s = a.ints("stride", 2, 1), p = a.ints("pad", 2, 0), d = a.ints("dilate", 2, 1);
    p_.kernel_h = k[0], p_.kernel_w = k[1];
    p_.stride_h = s[0], p_.stride_w = s[1];
    p_.pad_h = p[0], p_.pad_w = p[1];
    p_.dilation_h = d[0], p_.dilation_w = d[1];
    p_.out_channels = a.integer("num_filter");
    p_.groups = a.integer("num_group");
    p_.in_channels = a.integer("in_channels");
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require(!in.empty(), "expected inputs");
    const Shape& s = in[0].info.shape;
    require(s.size() == 4, "expected packed (N, H, W, words) data, got ", shape_string(s));
    p_.batch = s[0], p_.in_height = s[1], p_.in_width = s[2];
    try {
      p_.validate(name());
    } catch (const bmx::Error& e) {
      throw Error(BMX_ERR_FORMAT, cat(where(), e.what()));
    }
    require(s[3] == p_.groups * p_.words_per_group(), "packed data has ", s[3], " words per pixel, ",
            p_.in_channels, " channels in ", p_.groups, " groups need ", p_.groups * p_.words_per_group());
    prepare_params(in, Shape{p_.out_channels, p_.kernel_h, p_.kernel_w, p_.words_per_group()}, p_.out_channels);
    if (format_ == OutFormat::kPacked) {
      return TensorInfo{DType::kUInt64, Shape{p_.batch, p_.out_height(), p_.out_width(), words_for(p_.out_channels)}};
    }
    return TensorInfo{out_dtype(), Shape{p_.batch, p_.out_channels, p_.out_height(), p_.out_width()}};
  }

  // A following addition (e.g. a residual connection) is done in the float epilogue, in the same pass.
  bool absorb_residual() override {
    if (format_ != OutFormat::kFloat || residual_) return false;
    return residual_ = true;
  }

  void run(const RunContext&, const std::vector<const void*>& inputs, void* output) override {
    const auto* x = static_cast<const word_t*>(inputs[0]);
    if (residual_) {
      binary_conv2d_float_add(p_, x, weight_, scale_, bias_, fin(inputs, inputs.size() - 1), static_cast<float*>(output));
      return;
    }
    switch (format_) {
      case OutFormat::kInt32: binary_conv2d_int32(p_, x, weight_, static_cast<int32_t*>(output)); break;
      case OutFormat::kFloat: binary_conv2d_float(p_, x, weight_, scale_, bias_, static_cast<float*>(output)); break;
      case OutFormat::kPacked: binary_conv2d_packed(p_, x, weight_, scale_, bias_, static_cast<word_t*>(output)); break;
    }
  }

 private:
  Conv2DParams p_;
  bool residual_ = false;  // absorbed an addition: the last input is added to the float output
};

class BinaryDense : public BinaryLayer {
 public:
  explicit BinaryDense(const NodeDesc& node) : BinaryLayer(node, parse_out_format(node.name, Attrs(node).text("out_format"))) {
    Attrs a(node);
    p_.out_units = a.integer("num_hidden");
    p_.in_units = a.integer("in_units");
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require(!in.empty(), "expected inputs");
    const Shape& s = in[0].info.shape;
    require(s.size() == 2, "expected packed (N, words) data, got ", shape_string(s));
    p_.batch = s[0];
    try {
      p_.validate(name().c_str());
    } catch (const bmx::Error& e) {
      throw Error(BMX_ERR_FORMAT, cat(where(), e.what()));
    }
    require(s[1] == words_for(p_.in_units), "packed data has ", s[1], " words, in_units ", p_.in_units, " need ",
            words_for(p_.in_units));
    prepare_params(in, Shape{p_.out_units, words_for(p_.in_units)}, p_.out_units);
    if (format_ == OutFormat::kPacked) return TensorInfo{DType::kUInt64, Shape{p_.batch, words_for(p_.out_units)}};
    return TensorInfo{out_dtype(), Shape{p_.batch, p_.out_units}};
  }

  void run(const RunContext&, const std::vector<const void*>& inputs, void* output) override {
    const auto* x = static_cast<const word_t*>(inputs[0]);
    switch (format_) {
      case OutFormat::kInt32: binary_dense_int32(p_, x, weight_, static_cast<int32_t*>(output)); break;
      case OutFormat::kFloat: binary_dense_float(p_, x, weight_, scale_, bias_, static_cast<float*>(output)); break;
      case OutFormat::kPacked: binary_dense_packed(p_, x, weight_, scale_, bias_, static_cast<word_t*>(output)); break;
    }
  }

 private:
  DenseParams p_;
};

}  // namespace

std::unique_ptr<Op> make_binary_pack(const NodeDesc& node) { return std::make_unique<Pack>(node); }
std::unique_ptr<Op> make_binary_conv(const NodeDesc& node) { return std::make_unique<BinaryConv>(node); }
std::unique_ptr<Op> make_binary_dense(const NodeDesc& node) { return std::make_unique<BinaryDense>(node); }

}  // namespace rt
}  // namespace bmx
