// Static memory plan: place every intermediate tensor at an offset of one arena so that tensors alive at the
// same time never overlap, and the arena stays small.
#ifndef BMX_RUNTIME_MEMORY_PLAN_H_
#define BMX_RUNTIME_MEMORY_PLAN_H_

#include <cstddef>
#include <vector>

namespace bmx {
namespace rt {

// A buffer needed from step `first` to step `last` (inclusive; steps are node indices).
struct BufferRequest {
  size_t bytes = 0;
  int first = 0;
  int last = 0;
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per request, 64-byte aligned
  size_t arena_bytes = 0;
};

// Greedy first-fit by decreasing size: each buffer goes to the lowest offset free of every already-placed
// buffer whose lifetime intersects its own. Exact (never overlaps live buffers), usually near the lower bound
// max over steps of the live bytes.
MemoryPlan plan_memory(const std::vector<BufferRequest>& requests);

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_MEMORY_PLAN_H_
