// The runtime's view of the native core's thread pool: the float operators run their parallel loops on the
// same threads as the binary kernels (bmx::parallel_for), so a network uses one set of threads, which are
// still spinning from the previous layer when the next one starts.
#ifndef BMX_RUNTIME_THREAD_POOL_H_
#define BMX_RUNTIME_THREAD_POOL_H_

#include <cstdint>
#include <functional>

namespace bmx {
namespace rt {

class ThreadPool {
 public:
  explicit ThreadPool(int threads = 1) : threads_(threads < 1 ? 1 : threads) {}

  int size() const { return threads_; }

  // Run fn(task, thread) for task in [0, tasks); thread in [0, size()). Returns when all tasks are done.
  // Sets the core's thread count to size() first, so `thread` always indexes per-thread scratch in range.
  void parallel_for(int64_t tasks, const std::function<void(int64_t task, int thread)>& fn);

 private:
  int threads_;
};

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_THREAD_POOL_H_
