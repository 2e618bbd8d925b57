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
constexpr uint16_t kFormatMinor = 1;
constexpr uint16_t kMetadataSinceMinor = 1;
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

// How an 8-bit image becomes the model's input, and the class names (bmxnet_ext/model_metadata.py has the
// meaning of every field). The defaults are ImageNet's convention, used for files that record none.
struct InputConvention {
  enum Color { kRGB = 0, kBGR = 1, kGray = 2 };
  enum Resize { kCrop = 0, kStretch = 1 };
  Color color = kRGB;
  Resize resize = kCrop;
  double scale = 1.0 / 255.0;
  double crop_fraction = 0.875;
  std::vector<double> mean{0.485, 0.456, 0.406}, std{0.229, 0.224, 0.225};  // 1 value or one per channel
  bool recorded = false;  // true when the file records the convention
  int channels() const { return color == kGray ? 1 : 3; }
};

// Throw an Error with `error_status` (`what` names the source) unless every field of `c` is valid.
void validate_convention(const InputConvention& c, int error_status, const char* what);

struct ModelDesc {
  uint16_t version_major = 0, version_minor = 0;
  std::vector<TensorDesc> tensors;
  std::vector<NodeDesc> nodes;  // in a valid execution order
  std::vector<uint32_t> inputs, outputs;
  InputConvention convention;           // format 1.1 metadata, else the defaults
  std::vector<std::string> labels;      // class names by output index (format 1.1 metadata), may be empty
};

// Parse `size` bytes at `data`, which must be 8-byte aligned and outlive the result (constants point into it).
// Checks the structure (every index defined before use, one producer per tensor); operator semantics are
// checked when the executor builds the operators.
ModelDesc parse_model(const uint8_t* data, size_t size);

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_MODEL_FILE_H_
