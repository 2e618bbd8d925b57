// BmxBinaryDense: binary fully connected layer on packed rows.
//
//   data int64 (N, ceil(K / 64))   weight int64 (O, ceil(K / 64))   scale, bias float32 (O,)
//   out_format float -> float32 (N, O); packed -> int64 (N, ceil(O / 64)); int32 -> int32 y (N, O)
//
// Fusions (fused_io.h): in_format float [+ in_affine]: data float32 (N, d1, d2, ...) with d1 * d2 * ... = K,
// flattened and packed by sign inside (inputs 4, 5: in_scale, in_bias (K,)); act_type relu | tanh on the
// float output.
#include "bmx/dense.h"
#include "bmx/pack.h"
#include "fused_io.h"
#include "op_registry.h"
#include "output_format.h"

namespace bmx_mxnet {
namespace {

constexpr const char* kOp = "BmxBinaryDense";

/// The packed data shape (N, ceil(K / 64)) of `data`: itself, or that of float (N, d1, ...) flattened and packed.
std::vector<std::int64_t> packed_data_shape(const Fusion& f, const std::vector<std::int64_t>& d,
                                            std::int64_t in_units) {
  if (!f.float_input) return d;
  std::int64_t k = 1;
  for (std::size_t i = 1; i < d.size(); ++i) k *= d[i];
  if (d.size() < 2 || k != in_units) {
    throw OpError(std::string(kOp) + ": expected float `data` of shape (N, ...) with in_units=" +
                  std::to_string(in_units) + " values per sample, got " + bmx::shape_string(d) + ".");
  }
  return {d[0], bmx::words_for(in_units)};
}

/// Geometry from the attributes and the data shape, checked by the core.
bmx::DenseParams dense_params(const Attrs& attrs, const Fusion& f, const std::vector<std::int64_t>& data) {
  const std::int64_t out_units = attrs.integer("num_hidden", 0, 1, true);
  const std::int64_t in_units = attrs.integer("in_units", 0, 1, true);
  // the weight shape the attributes describe: MXNet checks the actual one against infer_shape's
  return bmx::dense_geometry(kOp, in_units, packed_data_shape(f, data, in_units),
                             {out_units, bmx::words_for(in_units)});
}

void parse(const Attrs& attrs, int* num_in, int* num_out) {
  Fusion f = parse_fusion(attrs, parse_out_format(attrs));
  attrs.integer("num_hidden", 0, 1, true);
  attrs.integer("in_units", 0, 1, true);
  *num_in = f.num_inputs();
  *num_out = 1;
}

void infer_shape(const Attrs& attrs, std::vector<Shape>* in, std::vector<Shape>* out) {
  if (!(*in)[0].known) throw OpError(std::string(kOp) + ": the shape of `data` is unknown; give the input shape.");
  const OutFormat format = parse_out_format(attrs);
  Fusion f = parse_fusion(attrs, format);
  bmx::DenseParams p = dense_params(attrs, f, (*in)[0].dims);
  require_shape(kOp, "weight", {p.out_units, bmx::words_for(p.in_units)}, &(*in)[1]);
  require_shape(kOp, "scale", {p.out_units}, &(*in)[2]);
  require_shape(kOp, "bias", {p.out_units}, &(*in)[3]);
  if (f.in_affine) {
    require_shape(kOp, "in_scale", {p.in_units}, &(*in)[4]);
    require_shape(kOp, "in_bias", {p.in_units}, &(*in)[5]);
  }
  Shape& o = (*out)[0];
  o.known = true;
  if (format == OutFormat::kPacked) {
    o.dims = {p.batch, bmx::words_for(p.out_units)};
  } else {
    o.dims = {p.batch, p.out_units};
  }
}

void infer_type(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  const OutFormat format = parse_out_format(attrs);
  Fusion f = parse_fusion(attrs, format);
  infer_binary_layer_types(kOp, format, in, out, f.float_input ? kFloat32 : kInt64);
  infer_fused_input_types(kOp, f, in);
}

void forward(const Attrs& attrs, const std::vector<Array>& in, const std::vector<Array>& out) {
  const OutFormat format = parse_out_format(attrs);
  Fusion f = parse_fusion(attrs, format);
  bmx::DenseParams p = dense_params(attrs, f, in[0].dims);
  const auto* x = static_cast<const bmx::word_t*>(in[0].data);
  const auto* w = static_cast<const bmx::word_t*>(in[1].data);
  const auto* scale = static_cast<const float*>(in[2].data);
  const auto* bias = static_cast<const float*>(in[3].data);
  if (f.float_input) {
    bmx::word_t* packed = packed_scratch(p.input_words());
    bmx::pack_rows(static_cast<const float*>(in[0].data), p.batch, p.in_units,
                   f.in_affine ? static_cast<const float*>(in[4].data) : nullptr,
                   f.in_affine ? static_cast<const float*>(in[5].data) : nullptr, packed);
    x = packed;
  }
  switch (format) {
    case OutFormat::kFloat:
      bmx::binary_dense_float(p, x, w, scale, bias, static_cast<float*>(out[0].data));
      apply_activation(f.act, static_cast<float*>(out[0].data), p.output_size());
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
