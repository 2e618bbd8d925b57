// The operators of this library: each is a name plus four functions with this library's own signatures.
//
// entry_points.cc converts MXNet's C arrays into the types below, calls these functions, and turns a thrown
// OpError into a failed call with a message MXNet shows to the user.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "attrs.h"
#include "extension_abi.h"

namespace bmx_mxnet {

/// A bad attribute, shape or dtype. The message names the operator, the argument, the expected and actual value.
class OpError : public std::runtime_error {
 public:
  explicit OpError(const std::string& what) : std::runtime_error(what) {}
};

/// A shape during inference: `known` is false when MXNet does not know it yet.
struct Shape {
  bool known = false;
  std::vector<std::int64_t> dims;
};

/// One input or output array during Forward: CPU memory, dense, row-major.
struct Array {
  void* data = nullptr;
  std::vector<std::int64_t> dims;
  int dtype = -1;
};

/// Number of inputs and outputs for the given attributes (also validates them).
using ParseFn = void (*)(const Attrs& attrs, int* num_in, int* num_out);
/// Complete input shapes (weights and affine vectors follow from the data shape) and set output shapes.
using InferShapeFn = void (*)(const Attrs& attrs, std::vector<Shape>* in, std::vector<Shape>* out);
/// Check / complete input dtypes (-1 = unknown) and set output dtypes.
using InferTypeFn = void (*)(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out);
/// Compute the outputs.
using ForwardFn = void (*)(const Attrs& attrs, const std::vector<Array>& in, const std::vector<Array>& out);

struct OpDef {
  const char* name;
  ParseFn parse;
  InferShapeFn infer_shape;
  InferTypeFn infer_type;
  ForwardFn forward;
};

/// All operators of the library, in registration order.
const std::vector<OpDef>& registered_ops();

OpDef pack_op();
OpDef binary_conv2d_op();
OpDef binary_dense_op();

/// Helpers shared by the operators' checks.
const char* dtype_name(int dtype);
/// Unknown (-1) -> `expected`; any other value than `expected` -> OpError naming `op` and `what`.
void require_dtype(const char* op, const char* what, int expected, int* dtype);
/// An unknown shape becomes `expected`; a known one must equal it (OpError otherwise).
void require_shape(const char* op, const char* what, const std::vector<std::int64_t>& expected, Shape* shape);

}  // namespace bmx_mxnet
