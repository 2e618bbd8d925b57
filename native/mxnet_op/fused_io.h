// What BmxBinaryConv2D and BmxBinaryDense fuse around their binary dot product, so that a binary layer is one
// MXNet operator call (docs/conventions.md, "Fused input and epilogue"):
//
//   in_format = "float"  `data` is float32 and is packed by sign inside the operator (as BmxPack does), with
//                        `in_affine` = True through the affine v = in_scale[c] * x + in_bias[c] (two more
//                        float32 inputs); "packed" (default): `data` holds packed words.
//   act_type  = "relu" | "tanh" applied to the float output after scale, bias (and the residual of the
//                        convolution): relu(v) = v > 0 ? v : 0, tanh(v) by the core's vectorised tanh
//                        (bmx::tanh_array: the standalone runtime's Activation tanh, the same bits on every
//                        instruction set, within 1.5 ulp); "none" (default).
//
// The packed intermediate lives in a buffer cached per calling thread (reused across calls).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bmx/float_kernels.h"
#include "bmx/types.h"
#include "op_registry.h"
#include "output_format.h"

namespace bmx_mxnet {

enum class Activation { kNone, kRelu, kTanh };

/// The fused parts of a binary layer, from its attributes; `op` names it in error messages.
struct Fusion {
  bool float_input = false;  ///< in_format = "float"
  bool in_affine = false;    ///< in_affine = True: inputs in_scale, in_bias follow scale and bias
  Activation act = Activation::kNone;

  /// Inputs before any the operator adds itself: data, weight, scale, bias, [in_scale, in_bias].
  int num_inputs() const { return in_affine ? 6 : 4; }
};

inline Fusion parse_fusion(const Attrs& attrs, OutFormat format) {
  Fusion f;
  f.float_input = attrs.choice("in_format", {"packed", "float"}, 0) == 1;
  f.in_affine = attrs.boolean("in_affine", false);
  static constexpr Activation kActivations[] = {Activation::kNone, Activation::kRelu, Activation::kTanh};
  f.act = kActivations[attrs.choice("act_type", {"none", "relu", "tanh"}, 0)];
  if (f.in_affine && !f.float_input) {
    throw OpError(attrs.op() + ": `in_affine` needs in_format='float' (packed data has no affine).");
  }
  if (f.act != Activation::kNone && format != OutFormat::kFloat) {
    throw OpError(attrs.op() + ": `act_type` '" + (f.act == Activation::kRelu ? "relu" : "tanh") +
                  "' needs out_format='float'.");
  }
  return f;
}

/// Dtypes of the input affine, for a layer with these fusions.
inline void infer_fused_input_types(const char* op, const Fusion& f, std::vector<int>* in) {
  if (f.in_affine) {
    require_dtype(op, "in_scale", kFloat32, &(*in)[4]);
    require_dtype(op, "in_bias", kFloat32, &(*in)[5]);
  }
}

/// A buffer of `count` words owned by the calling thread, reused across calls (grown, never shrunk).
inline bmx::word_t* packed_scratch(std::int64_t count) {
  thread_local std::vector<bmx::word_t> buffer;
  if (static_cast<std::int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
  return buffer.data();
}

/// Apply the activation to `n` floats in place.
inline void apply_activation(Activation act, float* v, std::int64_t n) {
  if (act == Activation::kRelu) {
    for (std::int64_t i = 0; i < n; ++i) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
  } else if (act == Activation::kTanh) {
    bmx::tanh_array(v, v, n);
  }
}

}  // namespace bmx_mxnet
