// The table of operator names the runtime implements (names as written by bmxnet_ext/bmx_format.py).
#include <cstring>

#include "ops/ops.h"

namespace bmx {
namespace rt {

std::unique_ptr<Op> make_op(const NodeDesc& node) {
  using Factory = std::unique_ptr<Op> (*)(const NodeDesc&);
  static const struct {
    const char* name;
    Factory make;
  } table[] = {
      {"Activation", make_activation}, {"relu", make_activation},    {"sigmoid", make_activation},
      {"tanh", make_activation},       {"clip", make_unary},         {"round", make_unary},
      {"sign", make_unary},            {"_mul_scalar", make_unary},  {"_div_scalar", make_unary},
      {"_plus_scalar", make_unary},    {"_minus_scalar", make_unary}, {"_greater_equal_scalar", make_unary},
      {"Pad", make_pad},               {"elemwise_add", make_add},
      {"broadcast_add", make_add},     {"BatchNorm", make_batch_norm}, {"Pooling", make_pooling},
      {"Flatten", make_flatten},       {"Concat", make_concat},      {"softmax", make_softmax},
      {"FullyConnected", make_fully_connected}, {"Convolution", make_convolution},
      {"BmxPack", make_binary_pack},   {"BmxBinaryConv2D", make_binary_conv},
      {"BmxBinaryDense", make_binary_dense}, {"abs", make_unary},
      {"broadcast_mul", make_add},     {"LeakyReLU", make_leaky_relu},
  };
  for (const auto& entry : table) {
    if (node.op == entry.name) return entry.make(node);
  }
  std::string known;
  for (const auto& entry : table) known += cat(known.empty() ? "" : ", ", entry.name);
  throw Error(BMX_ERR_UNSUPPORTED, cat("node '", node.name, "' uses operator '", node.op,
                                       "', which this runtime does not implement; it implements ", known));
}

}  // namespace rt
}  // namespace bmx
