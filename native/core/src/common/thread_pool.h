// A small fixed pool of worker threads running one parallel loop at a time (no OpenMP).
#pragma once

#include <cstdint>
#include <functional>

namespace bmx {
namespace detail {

/// Run fn(task) for task in [0, tasks) on min(tasks, get_num_threads()) threads (the caller runs task 0);
/// returns when all tasks are done. Tasks are assigned statically, task t always to the same thread slot.
/// If another thread is already running a parallel loop, this one runs all tasks on the caller.
void parallel_for(int tasks, const std::function<void(int)>& fn);

/// Split [0, total) into `parts` contiguous ranges whose boundaries are multiples of `grain` (except `total`);
/// returns the begin of range `part` (begin of part + 1 is its end).
inline std::int64_t split_point(std::int64_t total, int parts, int part, std::int64_t grain) {
  std::int64_t units = (total + grain - 1) / grain;
  std::int64_t point = units * part / parts * grain;
  return point < total ? point : total;
}

}  // namespace detail
}  // namespace bmx
