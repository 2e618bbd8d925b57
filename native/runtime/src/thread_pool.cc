#include "thread_pool.h"

#include "bmx/threading.h"

namespace bmx {
namespace rt {

void ThreadPool::parallel_for(int64_t tasks, const std::function<void(int64_t, int)>& fn) {
  if (tasks <= 0) return;
  if (bmx::get_num_threads() != threads_) bmx::set_num_threads(threads_);
  bmx::parallel_for(tasks, fn);
}

}  // namespace rt
}  // namespace bmx
