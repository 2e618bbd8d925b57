// The `out_format` attribute shared by BmxBinaryConv2D and BmxBinaryDense.
#pragma once

#include <string>

#include "op_registry.h"

namespace bmx_mxnet {

enum class OutFormat { kFloat, kPacked, kInt32 };

/// `out_format`: "float" (default) -> scale * y + bias, "packed" -> its sign bits, "int32" -> y.
inline OutFormat parse_out_format(const Attrs& attrs) {
  static constexpr OutFormat kFormats[] = {OutFormat::kFloat, OutFormat::kPacked, OutFormat::kInt32};
  return kFormats[attrs.choice("out_format", {"float", "packed", "int32"}, 0)];
}

/// The MXNet dtype of an output in `format`.
inline int out_dtype(OutFormat format) {
  return format == OutFormat::kPacked ? kInt64 : format == OutFormat::kInt32 ? kInt32 : kFloat32;
}

/// Types of the four inputs (data, weight, scale, bias) and the output of a binary layer; `data` is packed
/// (int64) unless `data_dtype` says otherwise (a layer that packs its float input itself, fused_io.h).
inline void infer_binary_layer_types(const char* op, OutFormat format, std::vector<int>* in, std::vector<int>* out,
                                     int data_dtype = kInt64) {
  require_dtype(op, "data", data_dtype, &(*in)[0]);
  require_dtype(op, "weight", kInt64, &(*in)[1]);
  require_dtype(op, "scale", kFloat32, &(*in)[2]);
  require_dtype(op, "bias", kFloat32, &(*in)[3]);
  (*out)[0] = out_dtype(format);
}

}  // namespace bmx_mxnet
