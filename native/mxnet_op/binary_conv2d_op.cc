// BmxBinaryConv2D: binary 2-D convolution of packed activations with packed weights, padding -1.
//
//   data   int64 (N, H, W, G * Cwg), Cwg = ceil(C/G / 64)      weight int64 (O, KH, KW, Cwg)
//   scale, bias float32 (O,)
//   out_format float  -> float32 scale[o] * y + bias[o]  (N, O, OH, OW)
//              packed -> int64 sign bits of that value   (N, OH, OW, ceil(O / 64))
//              int32  -> int32 y                         (N, O, OH, OW)
// y is the dot product of the +/-1 tensors (docs/conventions.md); the kernels are the native core's.
//
// Fusions (fused_io.h), so that a whole binary layer is one operator call:
//   in_format float [+ in_affine]: data float32 (N, C, H, W), packed by sign inside (inputs 4, 5: in_scale,
//                                  in_bias (C,));
//   residual = True (float output): one more input float32 (N, O, OH, OW) added after scale and bias;
//   act_type relu | tanh (float output): applied after that;
//   pool_kernel = (PH, PW), pool_stride (default (1, 1) as MXNet's Pooling) (float output): max pooling of the result, no
//                 padding, MXNet's "valid" convention: output (N, O, (OH - PH) / SH + 1, (OW - PW) / SW + 1).
#include <algorithm>

#include "bmx/conv.h"
#include "bmx/pack.h"
#include "fused_io.h"
#include "op_registry.h"
#include "output_format.h"

namespace bmx_mxnet {
namespace {

constexpr const char* kOp = "BmxBinaryConv2D";

struct ConvAttrs {
  OutFormat format;
  Fusion fusion;
  bool residual;
  std::pair<std::int64_t, std::int64_t> pool_kernel;  // (0, 0): no pooling
  std::pair<std::int64_t, std::int64_t> pool_stride;
  bool pooled() const { return pool_kernel.first > 0; }
  int residual_index() const { return fusion.num_inputs(); }
};

ConvAttrs parse_attrs(const Attrs& attrs) {
  ConvAttrs a;
  a.format = parse_out_format(attrs);
  a.fusion = parse_fusion(attrs, a.format);
  a.residual = attrs.boolean("residual", false);
  a.pool_kernel = attrs.pair("pool_kernel", {0, 0}, 1);
  a.pool_stride = attrs.pair("pool_stride", {1, 1}, 1);
  if ((a.residual || a.pooled()) && a.format != OutFormat::kFloat) {
    throw OpError(std::string(kOp) + ": `residual` and `pool_kernel` need out_format='float'.");
  }
  return a;
}

/// The packed data shape (N, H, W, G * Cwg) of `data`: itself, or that of float (N, C, H, W) packed.
std::vector<std::int64_t> packed_data_shape(const Attrs& attrs, const ConvAttrs& a, const std::vector<std::int64_t>& d) {
  if (!a.fusion.float_input) return d;
  if (d.size() != 4) {
    throw OpError(std::string(kOp) + ": expected float `data` of shape (N, C, H, W), got " + bmx::shape_string(d) + ".");
  }
  const std::int64_t in_channels = attrs.integer("in_channels", 0, 1, true);
  if (d[1] != in_channels) {
    throw OpError(std::string(kOp) + ": expected float `data` with in_channels=" + std::to_string(in_channels) +
                  " channels, got shape " + bmx::shape_string(d) + ".");
  }
  return {d[0], d[2], d[3], bmx::packed_pixel_words(kOp, d[0], d[1], d[2], d[3], attrs.integer("num_group", 1, 1))};
}

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

/// Pooled output size along one axis ("valid": windows that fit).
std::int64_t pooled_size(std::int64_t size, std::int64_t kernel, std::int64_t stride) {
  if (kernel > size) {
    throw OpError(std::string(kOp) + ": pool_kernel " + std::to_string(kernel) +
                  " is larger than the convolution output " + std::to_string(size) + ".");
  }
  return (size - kernel) / stride + 1;
}

void parse(const Attrs& attrs, int* num_in, int* num_out) {
  ConvAttrs a = parse_attrs(attrs);
  attrs.pair("kernel", {1, 1}, 1, true);
  attrs.integer("num_filter", 0, 1, true);
  attrs.integer("in_channels", 0, 1, true);
  *num_in = a.fusion.num_inputs() + (a.residual ? 1 : 0);
  *num_out = 1;
}

void infer_shape(const Attrs& attrs, std::vector<Shape>* in, std::vector<Shape>* out) {
  if (!(*in)[0].known) throw OpError(std::string(kOp) + ": the shape of `data` is unknown; give the input shape.");
  ConvAttrs a = parse_attrs(attrs);
  bmx::Conv2DParams p = conv_params(attrs, packed_data_shape(attrs, a, (*in)[0].dims));
  require_shape(kOp, "weight", {p.out_channels, p.kernel_h, p.kernel_w, p.words_per_group()}, &(*in)[1]);
  require_shape(kOp, "scale", {p.out_channels}, &(*in)[2]);
  require_shape(kOp, "bias", {p.out_channels}, &(*in)[3]);
  if (a.fusion.in_affine) {
    require_shape(kOp, "in_scale", {p.in_channels}, &(*in)[4]);
    require_shape(kOp, "in_bias", {p.in_channels}, &(*in)[5]);
  }
  if (a.residual) {
    require_shape(kOp, "residual", {p.batch, p.out_channels, p.out_height(), p.out_width()},
                  &(*in)[a.residual_index()]);
  }
  Shape& o = (*out)[0];
  o.known = true;
  if (a.format == OutFormat::kPacked) {
    o.dims = {p.batch, p.out_height(), p.out_width(), bmx::words_for(p.out_channels)};
  } else if (a.pooled()) {
    o.dims = {p.batch, p.out_channels, pooled_size(p.out_height(), a.pool_kernel.first, a.pool_stride.first),
              pooled_size(p.out_width(), a.pool_kernel.second, a.pool_stride.second)};
  } else {
    o.dims = {p.batch, p.out_channels, p.out_height(), p.out_width()};
  }
}

void infer_type(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  ConvAttrs a = parse_attrs(attrs);
  infer_binary_layer_types(kOp, a.format, in, out, a.fusion.float_input ? kFloat32 : kInt64);
  infer_fused_input_types(kOp, a.fusion, in);
  if (a.residual) require_dtype(kOp, "residual", kFloat32, &(*in)[a.residual_index()]);
}

/// Max pooling of float (N*O planes of OH x OW) into (N*O planes of PH' x PW'), windows that fit.
void max_pool(const float* x, std::int64_t planes, std::int64_t h, std::int64_t w, const ConvAttrs& a, float* out) {
  const std::int64_t kh = a.pool_kernel.first, kw = a.pool_kernel.second;
  const std::int64_t sh = a.pool_stride.first, sw = a.pool_stride.second;
  const std::int64_t oh = (h - kh) / sh + 1, ow = (w - kw) / sw + 1;
  for (std::int64_t p = 0; p < planes; ++p, x += h * w) {
    for (std::int64_t i = 0; i < oh; ++i) {
      for (std::int64_t j = 0; j < ow; ++j) {
        const float* window = x + i * sh * w + j * sw;
        float m = window[0];
        for (std::int64_t u = 0; u < kh; ++u)
          for (std::int64_t v = 0; v < kw; ++v) m = std::max(m, window[u * w + v]);
        *out++ = m;
      }
    }
  }
}

/// A float buffer of `count` elements owned by the calling thread (the unpooled result).
float* float_scratch(std::int64_t count) {
  thread_local std::vector<float> buffer;
  if (static_cast<std::int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
  return buffer.data();
}

void forward(const Attrs& attrs, const std::vector<Array>& in, const std::vector<Array>& out) {
  ConvAttrs a = parse_attrs(attrs);
  bmx::Conv2DParams p = conv_params(attrs, packed_data_shape(attrs, a, in[0].dims));
  const auto* w = static_cast<const bmx::word_t*>(in[1].data);
  const auto* scale = static_cast<const float*>(in[2].data);
  const auto* bias = static_cast<const float*>(in[3].data);
  const bmx::word_t* x = static_cast<const bmx::word_t*>(in[0].data);
  if (a.fusion.float_input) {
    bmx::word_t* packed = packed_scratch(p.input_words());
    const auto& d = in[0].dims;
    bmx::pack_activations_nchw(static_cast<const float*>(in[0].data), d[0], d[1], d[2], d[3], p.groups,
                               a.fusion.in_affine ? static_cast<const float*>(in[4].data) : nullptr,
                               a.fusion.in_affine ? static_cast<const float*>(in[5].data) : nullptr, packed);
    x = packed;
  }
  switch (a.format) {
    case OutFormat::kFloat: {
      float* y = a.pooled() ? float_scratch(p.output_size()) : static_cast<float*>(out[0].data);
      if (a.residual) {
        bmx::binary_conv2d_float_add(p, x, w, scale, bias, static_cast<const float*>(in[a.residual_index()].data), y);
      } else {
        bmx::binary_conv2d_float(p, x, w, scale, bias, y);
      }
      apply_activation(a.fusion.act, y, p.output_size());
      if (a.pooled()) {
        max_pool(y, p.batch * p.out_channels, p.out_height(), p.out_width(), a, static_cast<float*>(out[0].data));
      }
      break;
    }
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
