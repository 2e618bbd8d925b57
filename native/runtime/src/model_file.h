// Parse a `.bmx` model file (docs/bmx_format.md) into a validated description of its graph.
//
// The parser trusts nothing: the header, the CRC-32 of the body, every count, length, offset and index are
// checked before use, so a truncated, corrupt or hostile file yields an Error (BMX_ERR_FORMAT), never a crash
// or an unbounded allocation.
#ifndef BMX_RUNTIME_MODEL_FILE_H_
#define BMX_RUNTIME_MODEL_FILE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor.h"

namespace bmx {
namespace rt {

constexpr uint16_t kFormatMajor = 1;
constexpr uint16_t kFormatMinor = 0;
constexpr size_t kHeaderSize = 32;
constexpr size_t kDataAlignment = 64;
constexpr int kMaxNdim = 8;

// A typed node attribute (MXNet's attribute strings are resolved by the writer).
struct Attr {
  enum Kind : uint8_t { kInts = 0, kFloat = 1, kString = 2 };
  Kind kind = kInts;
  std::vector<int64_t> ints;
  double number = 0.0;
  std::string text;
};

enum class TensorKind : uint8_t { kInput = 0, kConstant = 1, kIntermediate = 2 };

struct TensorDesc {
  std::string name;
  TensorKind kind = TensorKind::kIntermediate;
  DType dtype = DType::kFloat32;
  Shape shape;                   // inputs and constants only; intermediates' shapes are inferred
  const uint8_t* data = nullptr;  // constants: points into the file image (64-byte aligned)
  uint64_t nbytes = 0;
};

struct NodeDesc {
  std::string op;
  std::string name;
  std::map<std::string, Attr> attrs;
  std::vector<uint32_t> inputs;   // tensor indices
  std::vector<uint32_t> outputs;  // tensor indices
};

struct ModelDesc {
  uint16_t version_major = 0, version_minor = 0;
  std::vector<TensorDesc> tensors;
  std::vector<NodeDesc> nodes;  // in a valid execution order
  std::vector<uint32_t> inputs, outputs;
};

// Parse `size` bytes at `data`, which must be 8-byte aligned and outlive the result (constants point into it).
// Checks the structure (every index defined before use, one producer per tensor); operator semantics are
// checked when the executor builds the operators.
ModelDesc parse_model(const uint8_t* data, size_t size);

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_MODEL_FILE_H_
