// BmxPack: float activations -> packed sign bits (docs/conventions.md, "Operators of a converted model").
//
//   data (N, C, H, W) float32 -> int64 words (N, H, W, G * ceil(C/G / 64))
//   data (N, K)       float32 -> int64 words (N, ceil(K / 64))
// Bit set iff v < 0 with v = scale[c] * x + bias[c] (affine=True, scale/bias float32 (C,)) or v = x.
#include "bmx/pack.h"
#include "op_registry.h"

namespace bmx_mxnet {
namespace {

constexpr const char* kOp = "BmxPack";

struct PackAttrs {
  bool affine;
  std::int64_t groups;
};

PackAttrs parse_attrs(const Attrs& attrs) {
  return {attrs.boolean("affine", false), attrs.integer("num_group", 1, 1)};
}

void parse(const Attrs& attrs, int* num_in, int* num_out) {
  *num_in = parse_attrs(attrs).affine ? 3 : 1;
  *num_out = 1;
}

void infer_shape(const Attrs& attrs, std::vector<Shape>* in, std::vector<Shape>* out) {
  PackAttrs a = parse_attrs(attrs);
  const Shape& data = (*in)[0];
  if (!data.known) throw OpError(std::string(kOp) + ": the shape of `data` is unknown; give the input shape.");
  const auto& d = data.dims;
  if (d.size() != 2 && d.size() != 4) {
    throw OpError(std::string(kOp) + ": expected `data` of shape (N, C, H, W) or (N, K), got " + bmx::shape_string(d) +
                  ".");
  }
  if (d.size() == 2 && a.groups != 1) {
    throw OpError(std::string(kOp) + ": `num_group` applies to 4-d `data` only, got " + std::to_string(a.groups) +
                  " for shape " + bmx::shape_string(d) + ".");
  }
  const std::int64_t channels = d[1];
  // (N, K) packs like (N, K, 1, 1); the core checks the shape and the groups
  const std::int64_t words = d.size() == 4 ? bmx::packed_pixel_words(kOp, d[0], d[1], d[2], d[3], a.groups)
                                           : bmx::packed_pixel_words(kOp, d[0], d[1], 1, 1, 1);
  if (a.affine) {
    require_shape(kOp, "scale", {channels}, &(*in)[1]);
    require_shape(kOp, "bias", {channels}, &(*in)[2]);
  }
  Shape& o = (*out)[0];
  o.known = true;
  o.dims = d.size() == 4 ? std::vector<std::int64_t>{d[0], d[2], d[3], words} : std::vector<std::int64_t>{d[0], words};
}

void infer_type(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  require_dtype(kOp, "data", kFloat32, &(*in)[0]);
  if (parse_attrs(attrs).affine) {
    require_dtype(kOp, "scale", kFloat32, &(*in)[1]);
    require_dtype(kOp, "bias", kFloat32, &(*in)[2]);
  }
  (*out)[0] = kInt64;
}

void forward(const Attrs& attrs, const std::vector<Array>& in, const std::vector<Array>& out) {
  PackAttrs a = parse_attrs(attrs);
  const auto& d = in[0].dims;
  const float* x = static_cast<const float*>(in[0].data);
  const float* scale = a.affine ? static_cast<const float*>(in[1].data) : nullptr;
  const float* bias = a.affine ? static_cast<const float*>(in[2].data) : nullptr;
  auto* words = static_cast<bmx::word_t*>(out[0].data);
  if (d.size() == 4) {
    bmx::pack_activations_nchw(x, d[0], d[1], d[2], d[3], a.groups, scale, bias, words);
  } else {
    bmx::pack_rows(x, d[0], d[1], scale, bias, words);
  }
}

}  // namespace

OpDef pack_op() { return {kOp, parse, infer_shape, infer_type, forward}; }

}  // namespace bmx_mxnet
