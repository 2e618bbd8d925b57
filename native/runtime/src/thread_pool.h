// A small fixed-size thread pool for the runtime's float operators (the native core has its own for the
// binary kernels). Work is split statically into tasks; the calling thread takes part.
#ifndef BMX_RUNTIME_THREAD_POOL_H_
#define BMX_RUNTIME_THREAD_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bmx {
namespace rt {

class ThreadPool {
 public:
  explicit ThreadPool(int threads = 1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Run fn(task, thread) for task in [0, tasks); thread in [0, size()). Returns when all tasks are done.
  // Tasks are handed out dynamically, each runs exactly once; the caller works too and never waits for a
  // worker that has not started (on a busy machine a descheduled worker just finds no tasks left).
  void parallel_for(int64_t tasks, const std::function<void(int64_t task, int thread)>& fn);

 private:
  void worker(int index);
  void work(int thread, uint64_t generation);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t tasks_ = 0;     // all guarded by mutex_
  int64_t next_ = 0;      // next task to hand out
  int64_t finished_ = 0;  // tasks completed
  uint64_t generation_ = 0;  // one per parallel_for call
  bool stop_ = false;
};

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_THREAD_POOL_H_
