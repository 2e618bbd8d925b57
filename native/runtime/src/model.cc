#include "model.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include "bmx/threading.h"
#include "image_input.h"
#include "memory_plan.h"

namespace bmx {
namespace rt {

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  data_ = static_cast<uint8_t*>(std::aligned_alloc(64, align64(bytes)));
  if (!data_) throw Error(BMX_ERR_OUT_OF_MEMORY, cat("cannot allocate ", bytes, " bytes"));
}

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

Model::Model(AlignedBuffer image)
    : image_(std::move(image)), desc_(parse_model(image_.data(), image_.size())),
      convention_(desc_.convention), pool_(std::make_unique<ThreadPool>(1)) {
  build();
}

void Model::build() {
  ops_.clear();
  inputs_.clear();
  build_ops();
  fuse();
  plan();
}

void Model::set_batch_size(int64_t batch) {
  if (batch < 1 || batch > (int64_t{1} << 20)) {
    throw Error(BMX_ERR_INVALID_ARGUMENT, cat("expected a batch size in [1, 2^20], got ", batch));
  }
  for (uint32_t id : desc_.inputs) {
    if (desc_.tensors[id].shape.empty()) throw Error(BMX_ERR_INVALID_ARGUMENT, "an input has no batch axis");
  }
  const int threads = pool_->size();
  const int64_t previous = desc_.tensors[desc_.inputs.at(0)].shape[0];
  auto rebuild = [&](int64_t n) {
    for (uint32_t id : desc_.inputs) desc_.tensors[id].shape[0] = n;
    build();
    set_threads(threads);
  };
  try {
    rebuild(batch);  // every operator validates the new shapes
  } catch (...) {
    rebuild(previous);  // the model stays usable with its previous batch size
    throw;
  }
  set_profiling(false);
}

void Model::set_convention(const InputConvention& c) {
  validate_convention(c, BMX_ERR_INVALID_ARGUMENT, "the input convention");
  convention_ = c;
}

void Model::set_input_image(size_t i, const uint8_t* pixels, int height, int width, int channels,
                            int64_t batch_index) {
  if (i >= inputs_.size()) throw Error(BMX_ERR_INVALID_ARGUMENT, cat("input index ", i, " >= ", inputs_.size()));
  const TensorInfo& info = input_info(i);
  if (info.shape.size() != 4 || info.dtype != DType::kFloat32) {
    throw Error(BMX_ERR_INVALID_ARGUMENT, cat("input '", input_name(i), "' ", shape_string(info.shape),
                                              " is not an NCHW image input"));
  }
  if (batch_index < 0 || batch_index >= info.shape[0]) {
    throw Error(BMX_ERR_INVALID_ARGUMENT, cat("batch index ", batch_index, " outside the batch of ", info.shape[0]));
  }
  const int c = static_cast<int>(info.shape[1]), h = static_cast<int>(info.shape[2]), w = static_cast<int>(info.shape[3]);
  float* out = reinterpret_cast<float*>(inputs_[i].data()) + static_cast<size_t>(batch_index) * c * h * w;
  image_to_input(pixels, height, width, channels, convention_, c, h, w, out);
}

// Fold a per-channel affine (BatchNorm) or a ReLU into the operator producing its input, when nothing else
// reads that input: the producer then writes the final value and the fused node's output shares its buffer.
// A max pooling is folded the same way into a producer that can pool its own output, which then writes the
// smaller pooled tensor (the buffer is planned by the pooled shape).
// Likewise a same-shape addition into the producer of the input computed last, which then also reads the
// other input (kept alive until the addition's step, so still there when the producer runs).
void Model::fuse() {
  const size_t n = desc_.tensors.size();
  std::vector<int> uses(n, 0), writer(n, -1);
  for (const NodeDesc& node : desc_.nodes)
    for (uint32_t id : node.inputs) ++uses[id];
  for (uint32_t id : desc_.outputs) ++uses[id];
  fused_.assign(desc_.nodes.size(), 0);
  extra_inputs_.assign(desc_.nodes.size(), {});
  auto sole_reader = [&](uint32_t in) {  // the node reading `in` is the only reader of its producer's output
    return writer[in] >= 0 && uses[in] == 1 && desc_.tensors[in].kind == TensorKind::kIntermediate;
  };
  auto fusable = [&](uint32_t in, uint32_t out) { return sole_reader(in) && info_[in].shape == info_[out].shape; };
  std::vector<float> scale, shift;
  for (size_t s = 0; s < desc_.nodes.size(); ++s) {
    const NodeDesc& node = desc_.nodes[s];
    const uint32_t out = node.outputs[0];
    writer[out] = static_cast<int>(s);
    if (node.inputs.empty()) continue;
    if (ops_[s]->is_same_shape_add() && node.inputs.size() == 2) {
      const uint32_t a = node.inputs[0], b = node.inputs[1];
      const uint32_t in = writer[a] >= writer[b] ? a : b, other = in == a ? b : a;
      if (root_[in] != root_[other] && fusable(in, out) && ops_[writer[in]]->absorb_residual()) {
        const int producer = writer[in];
        extra_inputs_[producer].push_back(other);
        fused_[s] = 1;
        writer[out] = producer;
        root_[out] = root_[in];
      }
      continue;
    }
    const uint32_t in = node.inputs[0];
    const int producer = writer[in];
    if (const Pool2d* pool = ops_[s]->max_pool()) {
      if (sole_reader(in) && ops_[producer]->absorb_max_pool(*pool)) {
        fused_[s] = 1;
        writer[out] = producer;
        // The producer's buffer now holds the pooled tensor: `out` becomes the root of every tensor sharing
        // it, so the plan sizes it by the pooled shape.
        const uint32_t r = root_[in];
        for (uint32_t& t : root_) t = t == r ? out : t;
      }
      continue;
    }
    if (!fusable(in, out)) continue;
    bool done = false;
    if (ops_[s]->channel_affine(&scale, &shift)) done = ops_[producer]->absorb_affine(scale, shift);
    else if (ops_[s]->is_relu()) done = ops_[producer]->absorb_relu();
    if (done) {
      fused_[s] = 1;
      writer[out] = producer;
      root_[out] = root_[in];
    }
  }
}

void Model::build_ops() {
  const size_t n = desc_.tensors.size();
  info_.assign(n, TensorInfo{});
  root_.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    root_[i] = i;
    const TensorDesc& t = desc_.tensors[i];
    if (t.kind != TensorKind::kIntermediate) info_[i] = TensorInfo{t.dtype, t.shape};
  }
  for (const NodeDesc& node : desc_.nodes) {
    check_format(node.outputs.size() == 1, node.op, " node '", node.name, "' has ", node.outputs.size(),
                 " outputs; runtime operators have exactly 1");
    std::unique_ptr<Op> op = make_op(node);
    std::vector<TensorArg> args;
    for (uint32_t id : node.inputs) {
      const TensorDesc& t = desc_.tensors[id];
      args.push_back(TensorArg{info_[id], t.kind == TensorKind::kConstant ? t.data : nullptr, t.name});
    }
    uint32_t out = node.outputs[0];
    info_[out] = op->prepare(args);
    check_format(num_elements(info_[out].shape) <= (int64_t{1} << 32), node.op, " node '", node.name, "' output ",
                 shape_string(info_[out].shape), " has more than 2^32 elements");
    int alias = op->alias_of_input();
    if (alias >= 0 && desc_.tensors[node.inputs.at(static_cast<size_t>(alias))].kind == TensorKind::kIntermediate) {
      root_[out] = root_[node.inputs[static_cast<size_t>(alias)]];
    }
    ops_.push_back(std::move(op));
  }
}

void Model::plan() {
  const int steps = static_cast<int>(desc_.nodes.size());
  const size_t n = desc_.tensors.size();
  std::vector<int> first(n, -1), last(n, -1);
  for (int s = 0; s < steps; ++s) {
    const NodeDesc& node = desc_.nodes[s];
    for (uint32_t id : node.inputs) last[root_[id]] = std::max(last[root_[id]], s);
    uint32_t r = root_[node.outputs[0]];
    if (first[r] < 0) first[r] = s;
    last[r] = std::max(last[r], s);
  }
  for (uint32_t id : desc_.outputs) last[root_[id]] = steps;  // outputs live until read
  std::vector<BufferRequest> requests;
  std::vector<uint32_t> owners;
  for (uint32_t i = 0; i < n; ++i) {
    if (desc_.tensors[i].kind == TensorKind::kIntermediate && root_[i] == i) {
      requests.push_back(BufferRequest{info_[i].bytes(), first[i], last[i]});
      owners.push_back(i);
    }
  }
  MemoryPlan mp = plan_memory(requests);
  offset_.assign(n, 0);
  for (size_t k = 0; k < owners.size(); ++k) offset_[owners[k]] = mp.offsets[k];
  arena_ = AlignedBuffer(mp.arena_bytes);  // not touched here: pages are committed by the first run
  for (uint32_t id : desc_.inputs) {
    inputs_.emplace_back(info_[id].bytes());
    if (inputs_.back().data()) std::memset(inputs_.back().data(), 0, inputs_.back().size());
  }
  node_inputs_.resize(desc_.nodes.size());
  set_threads(1);
}

void Model::set_threads(int threads) {
  if (threads < 1 || threads > 1024) {
    throw Error(BMX_ERR_INVALID_ARGUMENT, cat("expected threads in [1, 1024], got ", threads));
  }
  if (threads != pool_->size()) pool_ = std::make_unique<ThreadPool>(threads);
  size_t scratch = 0;
  for (const auto& op : ops_) scratch = std::max(scratch, align64(op->scratch_bytes(threads)));
  if (scratch != scratch_.size()) scratch_ = AlignedBuffer(scratch);
}

uint8_t* Model::address(uint32_t tensor) const {
  uint32_t r = root_[tensor];
  const TensorDesc& t = desc_.tensors[r];
  switch (t.kind) {
    case TensorKind::kConstant: return const_cast<uint8_t*>(t.data);
    case TensorKind::kInput:
      for (size_t i = 0; i < desc_.inputs.size(); ++i)
        if (desc_.inputs[i] == r) return inputs_[i].data();
      break;
    case TensorKind::kIntermediate: return arena_.data() + offset_[r];
  }
  throw Error(BMX_ERR_INTERNAL, cat("tensor '", t.name, "' has no storage"));
}

void Model::set_input(size_t i, const void* data, size_t nbytes) {
  if (i >= inputs_.size()) throw Error(BMX_ERR_INVALID_ARGUMENT, cat("input index ", i, " >= ", inputs_.size()));
  if (nbytes != inputs_[i].size()) {
    throw Error(BMX_ERR_INVALID_ARGUMENT, cat("input '", input_name(i), "' ", shape_string(input_info(i).shape),
                                              " needs ", inputs_[i].size(), " bytes, got ", nbytes));
  }
  if (nbytes) std::memcpy(inputs_[i].data(), data, nbytes);
}

void Model::set_profiling(bool enabled) {
  profiling_ = enabled;
  if (enabled) {
    node_ms_.assign(desc_.nodes.size(), 0.0);
    profiled_runs_ = 0;
  }
}

void Model::run() {
  // The thread count is a setting of the process's one native core, shared with the other front ends of a
  // Python process: a run uses the model's count and gives the previous one back.
  struct ThreadCount {
    int saved = bmx::get_num_threads();
    ~ThreadCount() { bmx::set_num_threads(saved); }
  } restore;
  if (restore.saved != pool_->size()) bmx::set_num_threads(pool_->size());
  RunContext ctx{pool_.get(), scratch_.data()};
  for (size_t s = 0; s < ops_.size(); ++s) {
    if (fused_[s]) continue;
    const NodeDesc& node = desc_.nodes[s];
    auto& ins = node_inputs_[s];
    ins.clear();
    for (uint32_t id : node.inputs) ins.push_back(address(id));
    for (uint32_t id : extra_inputs_[s]) ins.push_back(address(id));
    if (!profiling_) {
      ops_[s]->run(ctx, ins, address(node.outputs[0]));
      continue;
    }
    auto t0 = std::chrono::steady_clock::now();
    ops_[s]->run(ctx, ins, address(node.outputs[0]));
    node_ms_[s] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  if (profiling_) ++profiled_runs_;
}

void Model::get_output(size_t i, void* data, size_t nbytes) const {
  if (i >= desc_.outputs.size()) {
    throw Error(BMX_ERR_INVALID_ARGUMENT, cat("output index ", i, " >= ", desc_.outputs.size()));
  }
  size_t expected = output_info(i).bytes();
  if (nbytes != expected) {
    throw Error(BMX_ERR_INVALID_ARGUMENT, cat("output '", output_name(i), "' ",
                                              shape_string(output_info(i).shape), " has ", expected,
                                              " bytes, got a buffer of ", nbytes));
  }
  if (nbytes) std::memcpy(data, address(desc_.outputs[i]), nbytes);
}

size_t Model::weight_bytes() const {
  size_t total = image_.size();
  for (const auto& op : ops_) total += op->owned_weight_bytes();
  return total;
}

}  // namespace rt
}  // namespace bmx
