// BmxBinaryDense: binary fully connected layer on packed rows.
//
//   data int64 (N, ceil(K / 64))   weight int64 (O, ceil(K / 64))   scale, bias float32 (O,)
//   out_format float -> float32 (N, O); packed -> int64 (N, ceil(O / 64)); int32 -> int32 y (N, O)
#include "bmx/dense.h"
#include "op_registry.h"
#include "output_format.h"

namespace bmx_mxnet {
namespace {

constexpr const char* kOp = "BmxBinaryDense";

/// Geometry from the attributes and the packed data shape (N, ceil(K / 64)), checked by the core.
bmx::DenseParams dense_params(const Attrs& attrs, const std::vector<std::int64_t>& data) {
  const std::int64_t out_units = attrs.integer("num_hidden", 0, 1, true);
  const std::int64_t in_units = attrs.integer("in_units", 0, 1, true);
  // the weight shape the attributes describe: MXNet checks the actual one against infer_shape's
  return bmx::dense_geometry(kOp, in_units, data, {out_units, bmx::words_for(in_units)});
}

void parse(const Attrs& attrs, int* num_in, int* num_out) {
  parse_out_format(attrs);
  attrs.integer("num_hidden", 0, 1, true);
  attrs.integer("in_units", 0, 1, true);
  *num_in = 4;
  *num_out = 1;
}

void infer_shape(const Attrs& attrs, std::vector<Shape>* in, std::vector<Shape>* out) {
  if (!(*in)[0].known) throw OpError(std::string(kOp) + ": the shape of `data` is unknown; give the input shape.");
  bmx::DenseParams p = dense_params(attrs, (*in)[0].dims);
  require_shape(kOp, "weight", {p.out_units, bmx::words_for(p.in_units)}, &(*in)[1]);
  require_shape(kOp, "scale", {p.out_units}, &(*in)[2]);
  require_shape(kOp, "bias", {p.out_units}, &(*in)[3]);
  Shape& o = (*out)[0];
  o.known = true;
  if (parse_out_format(attrs) == OutFormat::kPacked) {
    o.dims = {p.batch, bmx::words_for(p.out_units)};
  } else {
    o.dims = {p.batch, p.out_units};
  }
}

void infer_type(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  infer_binary_layer_types(kOp, parse_out_format(attrs), in, out);
}

void forward(const Attrs& attrs, const std::vector<Array>& in, const std::vector<Array>& out) {
  bmx::DenseParams p = dense_params(attrs, in[0].dims);
  const auto* x = static_cast<const bmx::word_t*>(in[0].data);
  const auto* w = static_cast<const bmx::word_t*>(in[1].data);
  const auto* scale = static_cast<const float*>(in[2].data);
  const auto* bias = static_cast<const float*>(in[3].data);
  switch (parse_out_format(attrs)) {
    case OutFormat::kFloat:
      bmx::binary_dense_float(p, x, w, scale, bias, static_cast<float*>(out[0].data));
      break;
    case OutFormat::kPacked:
      bmx::binary_dense_packed(p, x, w, scale, bias, static_cast<bmx::word_t*>(out[0].data));
      break;
    case OutFormat::kInt32:
      bmx::binary_dense_int32(p, x, w, static_cast<std::int32_t*>(out[0].data));
      break;
  }
}

}  // namespace

OpDef binary_dense_op() { return {kOp, parse, infer_shape, infer_type, forward}; }

}  // namespace bmx_mxnet
