// Factories of the runtime's operators, one per operator family (the registry is op_registry.cc).
#ifndef BMX_RUNTIME_OPS_OPS_H_
#define BMX_RUNTIME_OPS_OPS_H_

#include <algorithm>
#include <cstdint>
#include <memory>

#include "op.h"

namespace bmx {
namespace rt {

std::unique_ptr<Op> make_activation(const NodeDesc& node);     // Activation, relu, sigmoid, tanh
std::unique_ptr<Op> make_unary(const NodeDesc& node);          // clip, round, sign, abs, _*_scalar
std::unique_ptr<Op> make_pad(const NodeDesc& node);            // Pad (constant mode)
std::unique_ptr<Op> make_add(const NodeDesc& node);            // elemwise_add, broadcast_add, broadcast_mul
std::unique_ptr<Op> make_leaky_relu(const NodeDesc& node);     // LeakyReLU (leaky, prelu)
std::unique_ptr<Op> make_batch_norm(const NodeDesc& node);     // BatchNorm (inference)
std::unique_ptr<Op> make_pooling(const NodeDesc& node);        // Pooling
std::unique_ptr<Op> make_flatten(const NodeDesc& node);        // Flatten
std::unique_ptr<Op> make_concat(const NodeDesc& node);         // Concat
std::unique_ptr<Op> make_softmax(const NodeDesc& node);        // softmax
std::unique_ptr<Op> make_fully_connected(const NodeDesc& node);  // FullyConnected
std::unique_ptr<Op> make_convolution(const NodeDesc& node);    // Convolution (float)
std::unique_ptr<Op> make_binary_pack(const NodeDesc& node);    // BmxPack
std::unique_ptr<Op> make_binary_conv(const NodeDesc& node);    // BmxBinaryConv2D
std::unique_ptr<Op> make_binary_dense(const NodeDesc& node);   // BmxBinaryDense

// Run fn(begin, end) over [0, n) in chunks of about `grain` items spread over the pool's threads.
template <typename Fn>
void parallel_range(const RunContext& ctx, int64_t n, int64_t grain, Fn&& fn) {
  int64_t chunks = std::max<int64_t>(1, std::min<int64_t>((n + grain - 1) / grain, 8 * ctx.pool->size()));
  int64_t step = (n + chunks - 1) / chunks;
  ctx.pool->parallel_for(chunks, [&](int64_t c, int) {
    int64_t begin = c * step, end = std::min(n, begin + step);
    if (begin < end) fn(begin, end);
  });
}

// The float32 input `i` of an operator.
inline const float* fin(const std::vector<const void*>& inputs, size_t i) {
  return static_cast<const float*>(inputs[i]);
}

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_OPS_OPS_H_
