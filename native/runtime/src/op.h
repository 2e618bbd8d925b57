// The operator interface of the executor and helpers to read typed node attributes.
//
// Life of an operator: make_op() builds it from its node (attributes), prepare() validates its inputs
// (shapes, dtypes, constant data) and returns its output's type and shape - all checks happen here, once,
// at load time - then run() executes it any number of times without failing.
#ifndef BMX_RUNTIME_OP_H_
#define BMX_RUNTIME_OP_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "model_file.h"
#include "tensor.h"
#include "thread_pool.h"

namespace bmx {
namespace rt {

struct Pool2d;

// What run() may use besides its tensors.
struct RunContext {
  ThreadPool* pool = nullptr;
  void* scratch = nullptr;  // scratch_bytes(pool->size()) bytes, 64-byte aligned, shared by all operators
};

class Op {
 public:
  explicit Op(const NodeDesc& node) : node_(node.name), op_(node.op) {}
  virtual ~Op() = default;

  // Validate the inputs (constants carry data) and return the output's type and shape.
  virtual TensorInfo prepare(const std::vector<TensorArg>& inputs) = 0;
  // Scratch memory run() needs with `threads` threads.
  virtual size_t scratch_bytes(int /*threads*/) const { return 0; }
  // Index of an input whose buffer the output may share unchanged (a reshape), or -1. The executor shares it
  // when that input is an intermediate; otherwise run() gets a separate output buffer and must copy.
  virtual int alias_of_input() const { return -1; }
  // Bytes of weights the operator built for itself in prepare() (e.g. repacked for a kernel).
  virtual size_t owned_weight_bytes() const { return 0; }
  virtual void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) = 0;

  // Load-time fusion (Model::fuse): an operator whose output is y[c] = x[c] * scale[c] + shift[c] per channel
  // (axis 1) reports its folded constants; one that can apply such an affine and a ReLU to its own output
  // absorbs them (after prepare()). Defaults: no fusion.
  virtual bool channel_affine(std::vector<float>* /*scale*/, std::vector<float>* /*shift*/) const { return false; }
  virtual bool is_relu() const { return false; }
  virtual bool absorb_affine(const std::vector<float>& /*scale*/, const std::vector<float>& /*shift*/) {
    return false;
  }
  virtual bool absorb_relu() { return false; }
  // An addition of two same-shaped float tensors; an operator that can add a tensor of its own output's shape
  // to its output absorbs such an addition: the executor then passes that tensor (the "residual") as one more
  // input, after the node's own ones.
  virtual bool is_same_shape_add() const { return false; }
  virtual bool absorb_residual() { return false; }
  // A 2-D max pooling (not global) reports its geometry (ops/pool2d.h); an operator that can max-pool its
  // own output absorbs it: from then on it writes the pooled tensor (the executor sizes its buffer so) and
  // absorbs nothing further.
  virtual const Pool2d* max_pool() const { return nullptr; }
  virtual bool absorb_max_pool(const Pool2d& /*pool*/) { return false; }

  const std::string& name() const { return node_; }

 protected:
  // "Op 'name' (Convolution): " prefix for error messages.
  std::string where() const { return cat(op_, " node '", node_, "': "); }
  template <typename... Args>
  void require(bool condition, Args&&... args) const {
    if (!condition) throw Error(BMX_ERR_FORMAT, cat(where(), std::forward<Args>(args)...));
  }
  template <typename... Args>
  void require_supported(bool condition, Args&&... args) const {
    if (!condition) throw Error(BMX_ERR_UNSUPPORTED, cat(where(), std::forward<Args>(args)...));
  }
  // Inputs count, dtype and (for constants) presence of data.
  void require_inputs(const std::vector<TensorArg>& inputs, size_t min_count, size_t max_count) const;
  void require_dtype(const TensorArg& t, DType dtype, const char* role) const;
  void require_shape(const TensorArg& t, const Shape& shape, const char* role) const;
  void require_constant(const TensorArg& t, const char* role) const;

 private:
  std::string node_, op_;
};

// Bound on integer attributes (kernel, stride, pad, channel counts, ...): with tensors of at most 2^36
// elements it keeps every size computation of the operators far from int64 overflow.
constexpr int64_t kMaxAttrInt = int64_t{1} << 24;

// Typed attribute access; every accessor throws BMX_ERR_FORMAT naming the node and attribute on a mismatch,
// and integers outside [-kMaxAttrInt, kMaxAttrInt].
class Attrs {
 public:
  explicit Attrs(const NodeDesc& node) : node_(node) {}
  std::vector<int64_t> ints(const char* key) const;
  // An integer list of exactly `n` values; an empty list becomes `n` copies of `empty_default`.
  std::vector<int64_t> ints(const char* key, size_t n, int64_t empty_default) const;
  int64_t integer(const char* key) const;
  bool flag(const char* key) const;
  double number(const char* key) const;
  std::string text(const char* key) const;

 private:
  const Attr& get(const char* key, Attr::Kind kind) const;
  const NodeDesc& node_;
};

// Build the operator for a node; BMX_ERR_UNSUPPORTED for an unknown operator name.
std::unique_ptr<Op> make_op(const NodeDesc& node);

// Round up to a multiple of 64 bytes (scratch and arena allocations).
inline size_t align64(size_t n) { return (n + 63) / 64 * 64; }

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_OP_H_
