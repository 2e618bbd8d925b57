// A loaded model: the file image, the validated graph, its operators, the memory plan and the run loop.
#ifndef BMX_RUNTIME_MODEL_H_
#define BMX_RUNTIME_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model_file.h"
#include "op.h"
#include "thread_pool.h"

namespace bmx {
namespace rt {

// 64-byte aligned heap memory.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class Model {
 public:
  // Take ownership of a file image (64-byte aligned), parse and validate it, build operators and the plan.
  explicit Model(AlignedBuffer image);

  void set_threads(int threads);

  size_t num_inputs() const { return desc_.inputs.size(); }
  size_t num_outputs() const { return desc_.outputs.size(); }
  const std::string& tensor_name(uint32_t id) const { return desc_.tensors[id].name; }
  const TensorInfo& input_info(size_t i) const { return info_[desc_.inputs.at(i)]; }
  const TensorInfo& output_info(size_t i) const { return info_[desc_.outputs.at(i)]; }
  const std::string& input_name(size_t i) const { return tensor_name(desc_.inputs.at(i)); }
  const std::string& output_name(size_t i) const { return tensor_name(desc_.outputs.at(i)); }

  void set_input(size_t i, const void* data, size_t nbytes);
  // Fill sample `batch_index` of 4-D float input `i` from an 8-bit image by the input convention.
  void set_input_image(size_t i, const uint8_t* pixels, int height, int width, int channels, int64_t batch_index);
  // Change the batch size (dimension 0 of every input): operators and the memory plan are rebuilt, inputs
  // are zeroed, the thread count is kept, profiling is reset.
  void set_batch_size(int64_t batch);

  const InputConvention& convention() const { return convention_; }
  void set_convention(const InputConvention& c);
  const std::vector<std::string>& labels() const { return desc_.labels; }
  void run();
  void get_output(size_t i, void* data, size_t nbytes) const;

  void set_profiling(bool enabled);
  size_t num_nodes() const { return desc_.nodes.size(); }
  const NodeDesc& node(size_t i) const { return desc_.nodes.at(i); }
  double node_ms(size_t i) const { return node_ms_.at(i); }
  int64_t profiled_runs() const { return profiled_runs_; }

  size_t arena_bytes() const { return arena_.size(); }
  size_t scratch_bytes() const { return scratch_.size(); }
  size_t weight_bytes() const;

 private:
  void build();
  void build_ops();
  void fuse();
  void plan();
  uint8_t* address(uint32_t tensor) const;

  AlignedBuffer image_;
  ModelDesc desc_;
  InputConvention convention_;
  std::vector<std::unique_ptr<Op>> ops_;  // one per node
  std::vector<char> fused_;               // per node: folded into its producer at load time, not run
  std::vector<TensorInfo> info_;          // per tensor
  std::vector<uint32_t> root_;            // per tensor: the tensor whose storage it uses (aliases)
  std::vector<AlignedBuffer> inputs_;     // per graph input
  std::vector<size_t> offset_;            // per tensor: arena offset (intermediates)
  std::vector<std::vector<const void*>> node_inputs_;  // per node, filled at run
  std::vector<std::vector<uint32_t>> extra_inputs_;    // per node: tensors it reads for a fused node (residuals)
  AlignedBuffer arena_, scratch_;
  bool profiling_ = false;
  std::vector<double> node_ms_;  // per node, summed over profiled runs
  int64_t profiled_runs_ = 0;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_MODEL_H_
