#include "op_registry.h"

#include "bmx/types.h"

namespace bmx_mxnet {

const std::vector<OpDef>& registered_ops() {
  static const std::vector<OpDef> ops = {pack_op(), binary_conv2d_op(), binary_dense_op()};
  return ops;
}

const char* dtype_name(int dtype) {
  switch (dtype) {
    case kFloat32: return "float32";
    case kFloat64: return "float64";
    case kFloat16: return "float16";
    case kUint8: return "uint8";
    case kInt32: return "int32";
    case kInt8: return "int8";
    case kInt64: return "int64";
    default: return "unknown";
  }
}

void require_dtype(const char* op, const char* what, int expected, int* dtype) {
  if (*dtype < 0 || *dtype == 100 /* lib_api's kUNSET */) {
    *dtype = expected;
    return;
  }
  if (*dtype != expected) {
    throw OpError(std::string(op) + ": expected `" + what + "` of dtype " + dtype_name(expected) + ", got " +
                  dtype_name(*dtype) + ".");
  }
}

void require_shape(const char* op, const char* what, const std::vector<std::int64_t>& expected, Shape* shape) {
  if (!shape->known) {
    shape->known = true;
    shape->dims = expected;
    return;
  }
  if (shape->dims != expected) {
    throw OpError(std::string(op) + ": expected `" + what + "` of shape " + bmx::shape_string(expected) + ", got " +
                  bmx::shape_string(shape->dims) + ".");
  }
}

}  // namespace bmx_mxnet
