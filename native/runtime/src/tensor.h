// Element types, shapes and tensor descriptions shared by the loader, the executor and the operators.
#ifndef BMX_RUNTIME_TENSOR_H_
#define BMX_RUNTIME_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bmx {
namespace rt {

enum class DType : uint8_t { kFloat32 = 0, kInt32 = 1, kUInt64 = 2 };

inline size_t dtype_size(DType t) { return t == DType::kUInt64 ? 8 : 4; }
const char* dtype_name(DType t);

using Shape = std::vector<int64_t>;

// Number of elements; INT64_MAX for a negative dimension or when the product overflows (callers bound it).
int64_t num_elements(const Shape& shape);
std::string shape_string(const Shape& shape);

// Type and shape of a tensor.
struct TensorInfo {
  DType dtype = DType::kFloat32;
  Shape shape;
  // Byte size; only used after the executor checked the element count (Model::build_ops).
  size_t bytes() const { return static_cast<size_t>(num_elements(shape)) * dtype_size(dtype); }
};

// A constant or input tensor handed to an operator while it prepares: `data` is null for activations.
struct TensorArg {
  TensorInfo info;
  const void* data = nullptr;
  std::string name;
};

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_TENSOR_H_
