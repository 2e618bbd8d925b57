// Validation of the layer geometries (bmx/conv.h, bmx/dense.h): the one place front ends' arguments are checked.
#include <limits>
#include <string>
#include <vector>

#include "bmx/conv.h"
#include "bmx/dense.h"

namespace bmx {
namespace {

[[noreturn]] void fail(const std::string& op, const std::string& what, std::int64_t got) {
  throw Error(op + ": expected " + what + ", got " + std::to_string(got));
}

// Messages are built only on failure: validate() runs on every kernel call of the MXNet operators.
void require(bool ok, const std::string& op, const char* what, std::int64_t got) {
  if (!ok) fail(op, what, got);
}

// "data (1, 8, 8, 1) and weight (4, 3, 3, 1)": the arrays a geometry was read from, for messages.
std::string shapes_of(const std::vector<std::int64_t>& data, const std::vector<std::int64_t>& weight) {
  return "data " + shape_string(data) + " and weight " + shape_string(weight);
}

constexpr std::int64_t kMaxDim = std::int64_t(1) << 31;

}  // namespace

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

void Conv2DParams::validate(const std::string& op) const {
  require(batch >= 1 && batch < kMaxDim, op, "batch >= 1", batch);
  require(groups >= 1 && groups < kMaxDim, op, "groups >= 1", groups);
  require(in_channels >= 1 && in_channels < kMaxDim, op, "in_channels >= 1", in_channels);
  if (in_channels % groups != 0) fail(op, "in_channels divisible by groups=" + std::to_string(groups), in_channels);
  require(out_channels >= 1 && out_channels < kMaxDim, op, "out_channels >= 1", out_channels);
  if (out_channels % groups != 0)
    fail(op, "out_channels divisible by groups=" + std::to_string(groups), out_channels);
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
  if (in_height + 2 * pad_h < dilation_h * (kernel_h - 1) + 1)
    fail(op, "padded height >= dilated kernel height " + std::to_string(dilation_h * (kernel_h - 1) + 1),
         in_height + 2 * pad_h);
  if (in_width + 2 * pad_w < dilation_w * (kernel_w - 1) + 1)
    fail(op, "padded width >= dilated kernel width " + std::to_string(dilation_w * (kernel_w - 1) + 1),
         in_width + 2 * pad_w);
  require(reduction_size() <= (std::int64_t(1) << 24), op, "C/G*KH*KW <= 2^24", reduction_size());
}

Conv2DParams conv2d_geometry(const std::string& op, Conv2DParams p, const std::vector<std::int64_t>& data,
                             const std::vector<std::int64_t>& weight) {
  if (data.size() != 4 || weight.size() != 4)
    throw Error(op + ": expected packed data (N, H, W, words) and weight (O, KH, KW, words), got " +
                shapes_of(data, weight));
  p.batch = data[0], p.in_height = data[1], p.in_width = data[2];
  p.out_channels = weight[0], p.kernel_h = weight[1], p.kernel_w = weight[2];
  try {
    p.validate(op);
  } catch (const Error& err) {
    throw Error(std::string(err.what()) + " (" + shapes_of(data, weight) + ")");
  }
  const std::int64_t cwg = p.words_per_group();
  if (data[3] != p.groups * cwg || weight[3] != cwg)
    throw Error(op + ": expected packed data (N, H, W, " + std::to_string(p.groups * cwg) +
                ") and weight (O, KH, KW, " + std::to_string(cwg) + ") for in_channels=" +
                std::to_string(p.in_channels) + " and groups=" + std::to_string(p.groups) + ", got " +
                shapes_of(data, weight));
  return p;
}

DenseParams dense_geometry(const std::string& op, std::int64_t in_units, const std::vector<std::int64_t>& data,
                           const std::vector<std::int64_t>& weight) {
  if (data.size() != 2 || weight.size() != 2)
    throw Error(op + ": expected packed data (N, words) and weight (O, words), got " + shapes_of(data, weight));
  DenseParams p;
  p.batch = data[0], p.in_units = in_units, p.out_units = weight[0];
  try {
    p.validate(op.c_str());
  } catch (const Error& err) {
    throw Error(std::string(err.what()) + " (" + shapes_of(data, weight) + ")");
  }
  const std::int64_t kw = words_for(in_units);
  if (data[1] != kw || weight[1] != kw)
    throw Error(op + ": expected packed data (N, " + std::to_string(kw) + ") and weight (O, " + std::to_string(kw) +
                ") for " + std::to_string(in_units) + " input bits, got " + shapes_of(data, weight));
  return p;
}

void DenseParams::validate(const char* op) const {
  require(batch >= 1 && batch < kMaxDim, op, "batch >= 1", batch);
  require(in_units >= 1 && in_units <= (std::int64_t(1) << 24), op, "1 <= in_units <= 2^24", in_units);
  require(out_units >= 1 && out_units < kMaxDim, op, "out_units >= 1", out_units);
}

}  // namespace bmx
