// A small fixed pool of worker threads running one parallel loop at a time (no OpenMP).
#pragma once

#include <cstdint>
#include <functional>

namespace bmx {
namespace detail {

/// Most tasks one parallel_for call accepts.
constexpr int kMaxTasks = 1 << 20;

/// Run fn(task) for every task in [0, tasks) and return when all are done. Tasks are handed out dynamically
/// to the calling thread and up to get_num_threads() - 1 workers, so a worker that the OS schedules late
/// simply gets fewer tasks. Callers make every task's result independent of the thread that runs it (tasks
/// take per-thread scratch from Scratch::task()), which keeps results identical for every thread count.
/// If another thread is running a parallel loop, the caller runs all tasks itself.
/// Exceptions from tasks are rethrown (the first one) after all tasks finished.
void parallel_for(int tasks, const std::function<void(int task)>& fn);

/// Begin of part `part` when [0, total) is split into `parts` nearly equal contiguous ranges.
inline std::int64_t split_point(std::int64_t total, std::int64_t parts, std::int64_t part) {
  return total * part / parts;
}

}  // namespace detail
}  // namespace bmx
