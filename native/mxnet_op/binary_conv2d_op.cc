// BmxBinaryConv2D: binary 2-D convolution of packed activations with packed weights, padding -1.
//
//   data   int64 (N, H, W, G * Cwg), Cwg = ceil(C/G / 64)      weight int64 (O, KH, KW, Cwg)
//   scale, bias float32 (O,)
//   out_format float  -> float32 scale[o] * y + bias[o]  (N, O, OH, OW)
//              packed -> int64 sign bits of that value   (N, OH, OW, ceil(O / 64))
//              int32  -> int32 y                         (N, O, OH, OW)
// y is the dot product of the +/-1 tensors (docs/conventions.md); the kernels are the native core's.
#include "bmx/conv.h"
#include "op_registry.h"
#include "output_format.h"

namespace bmx_mxnet {
namespace {

constexpr const char* kOp = "BmxBinaryConv2D";

/// Geometry from the attributes and the packed data shape (N, H, W, G * Cwg), checked by the core.
bmx::Conv2DParams conv_params(const Attrs& attrs, const std::vector<std::int64_t>& data) {
  bmx::Conv2DParams p;
  auto kernel = attrs.pair("kernel", {1, 1}, 1, true);
  auto stride = attrs.pair("stride", {1, 1}, 1);
  auto pad = attrs.pair("pad", {0, 0}, 0);
  auto dilate = attrs.pair("dilate", {1, 1}, 1);
  p.stride_h = stride.first, p.stride_w = stride.second;
  p.pad_h = pad.first, p.pad_w = pad.second;
  p.dilation_h = dilate.first, p.dilation_w = dilate.second;
  p.groups = attrs.integer("num_group", 1, 1);
  p.in_channels = attrs.integer("in_channels", 0, 1, true);
  const std::int64_t out_channels = attrs.integer("num_filter", 0, 1, true);
  // the weight shape the attributes describe: MXNet checks the actual one against infer_shape's
  return bmx::conv2d_geometry(kOp, p, data,
                              {out_channels, kernel.first, kernel.second, bmx::words_for(p.in_channels / p.groups)});
}

void parse(const Attrs& attrs, int* num_in, int* num_out) {
  parse_out_format(attrs);
  attrs.pair("kernel", {1, 1}, 1, true);
  attrs.integer("num_filter", 0, 1, true);
  attrs.integer("in_channels", 0, 1, true);
  *num_in = 4;
  *num_out = 1;
}

void infer_shape(const Attrs& attrs, std::vector<Shape>* in, std::vector<Shape>* out) {
  if (!(*in)[0].known) throw OpError(std::string(kOp) + ": the shape of `data` is unknown; give the input shape.");
  bmx::Conv2DParams p = conv_params(attrs, (*in)[0].dims);
  require_shape(kOp, "weight", {p.out_channels, p.kernel_h, p.kernel_w, p.words_per_group()}, &(*in)[1]);
  require_shape(kOp, "scale", {p.out_channels}, &(*in)[2]);
  require_shape(kOp, "bias", {p.out_channels}, &(*in)[3]);
  Shape& o = (*out)[0];
  o.known = true;
  if (parse_out_format(attrs) == OutFormat::kPacked) {
    o.dims = {p.batch, p.out_height(), p.out_width(), bmx::words_for(p.out_channels)};
  } else {
    o.dims = {p.batch, p.out_channels, p.out_height(), p.out_width()};
  }
}

void infer_type(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  infer_binary_layer_types(kOp, parse_out_format(attrs), in, out);
}

void forward(const Attrs& attrs, const std::vector<Array>& in, const std::vector<Array>& out) {
  bmx::Conv2DParams p = conv_params(attrs, in[0].dims);
  const auto* x = static_cast<const bmx::word_t*>(in[0].data);
  const auto* w = static_cast<const bmx::word_t*>(in[1].data);
  const auto* scale = static_cast<const float*>(in[2].data);
  const auto* bias = static_cast<const float*>(in[3].data);
  switch (parse_out_format(attrs)) {
    case OutFormat::kFloat:
      bmx::binary_conv2d_float(p, x, w, scale, bias, static_cast<float*>(out[0].data));
      break;
    case OutFormat::kPacked:
      bmx::binary_conv2d_packed(p, x, w, scale, bias, static_cast<bmx::word_t*>(out[0].data));
      break;
    case OutFormat::kInt32:
      bmx::binary_conv2d_int32(p, x, w, static_cast<std::int32_t*>(out[0].data));
      break;
  }
}

}  // namespace

OpDef binary_conv2d_op() { return {kOp, parse, infer_shape, infer_type, forward}; }

}  // namespace bmx_mxnet
