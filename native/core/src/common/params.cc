// Validation of the layer geometries (bmx/conv.h, bmx/dense.h).
#include <limits>
#include <string>

#include "bmx/conv.h"
#include "bmx/dense.h"

namespace bmx {
namespace {

void require(bool ok, const std::string& op, const std::string& what, std::int64_t got) {
  if (!ok) throw Error(op + ": expected " + what + ", got " + std::to_string(got));
}

constexpr std::int64_t kMaxDim = std::int64_t(1) << 31;

}  // namespace

void Conv2DParams::validate(const std::string& op) const {
  require(batch >= 1 && batch < kMaxDim, op, "batch >= 1", batch);
  require(groups >= 1 && groups < kMaxDim, op, "groups >= 1", groups);
  require(in_channels >= 1 && in_channels < kMaxDim, op, "in_channels >= 1", in_channels);
  require(in_channels % groups == 0, op, "in_channels divisible by groups=" + std::to_string(groups), in_channels);
  require(out_channels >= 1 && out_channels < kMaxDim, op, "out_channels >= 1", out_channels);
  require(out_channels % groups == 0, op, "out_channels divisible by groups=" + std::to_string(groups),
          out_channels);
  require(in_height >= 1 && in_height < kMaxDim, op, "in_height >= 1", in_height);
  require(in_width >= 1 && in_width < kMaxDim, op, "in_width >= 1", in_width);
  require(kernel_h >= 1 && kernel_h < kMaxDim, op, "kernel_h >= 1", kernel_h);
  require(kernel_w >= 1 && kernel_w < kMaxDim, op, "kernel_w >= 1", kernel_w);
  require(stride_h >= 1 && stride_h < kMaxDim, op, "stride_h >= 1", stride_h);
  require(stride_w >= 1 && stride_w < kMaxDim, op, "stride_w >= 1", stride_w);
  require(pad_h >= 0 && pad_h < kMaxDim, op, "pad_h >= 0", pad_h);
  require(pad_w >= 0 && pad_w < kMaxDim, op, "pad_w >= 0", pad_w);
  require(dilation_h >= 1 && dilation_h < kMaxDim, op, "dilation_h >= 1", dilation_h);
  require(dilation_w >= 1 && dilation_w < kMaxDim, op, "dilation_w >= 1", dilation_w);
  require(in_height + 2 * pad_h >= dilation_h * (kernel_h - 1) + 1, op,
          "padded height >= dilated kernel height " + std::to_string(dilation_h * (kernel_h - 1) + 1),
          in_height + 2 * pad_h);
  require(in_width + 2 * pad_w >= dilation_w * (kernel_w - 1) + 1, op,
          "padded width >= dilated kernel width " + std::to_string(dilation_w * (kernel_w - 1) + 1),
          in_width + 2 * pad_w);
  require(reduction_size() <= (std::int64_t(1) << 24), op, "C/G*KH*KW <= 2^24", reduction_size());
}

void DenseParams::validate(const char* op) const {
  require(batch >= 1 && batch < kMaxDim, op, "batch >= 1", batch);
  require(in_units >= 1 && in_units <= (std::int64_t(1) << 24), op, "1 <= in_units <= 2^24", in_units);
  require(out_units >= 1 && out_units < kMaxDim, op, "out_units >= 1", out_units);
}

}  // namespace bmx
