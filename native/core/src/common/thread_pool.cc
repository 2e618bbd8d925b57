// The worker pool behind bmx::set_num_threads and detail::parallel_for.
//
// Workers spin briefly on a generation counter after each loop (kernel calls come in quick succession during
// inference) and then sleep on a condition variable, so an idle pool costs no CPU.
#include "thread_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bmx/threading.h"
#include "bmx/types.h"

namespace bmx {
namespace detail {
namespace {

void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class ThreadPool {
 public:
  explicit ThreadPool(int workers) {
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this, w] { worker_loop(w); });
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  int size() const { return static_cast<int>(threads_.size()) + 1; }

  // Caller holds the pool's run lock.
  void run(int tasks, const std::function<void(int)>& fn) {
    job_ = &fn;
    job_tasks_ = tasks;
    error_ = nullptr;
    pending_.store(static_cast<int>(threads_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    std::exception_ptr caller_error;
    try {
      fn(0);
    } catch (...) {
      caller_error = std::current_exception();
    }
    while (pending_.load(std::memory_order_acquire) != 0) cpu_relax();
    job_ = nullptr;
    if (caller_error) std::rethrow_exception(caller_error);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void worker_loop(int w) {
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t gen = wait_for_generation(seen);
      if (stop_) return;
      seen = gen;
      if (w + 1 < job_tasks_) {
        try {
          (*job_)(w + 1);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex_);
          error_ = std::current_exception();
        }
      }
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::uint64_t wait_for_generation(std::uint64_t seen) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0;; ++i) {
      std::uint64_t gen = generation_.load(std::memory_order_acquire);
      if (gen != seen) return gen;
      cpu_relax();
      if ((i & 255) == 255 && std::chrono::steady_clock::now() - start > std::chrono::microseconds(200)) break;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    return generation_.load(std::memory_order_acquire);
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int)>* job_ = nullptr;
  int job_tasks_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
};

int default_threads() {
  if (const char* env = std::getenv("BMX_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

std::mutex g_run_mutex;  // one parallel loop at a time; also guards g_pool replacement
std::unique_ptr<ThreadPool> g_pool;
std::atomic<int> g_num_threads{0};

int num_threads() {
  int n = g_num_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    int expected = 0;
    g_num_threads.compare_exchange_strong(expected, default_threads());
    n = g_num_threads.load(std::memory_order_relaxed);
  }
  return n;
}

}  // namespace

void parallel_for(int tasks, const std::function<void(int)>& fn) {
  int threads = std::min(tasks, num_threads());
  std::unique_lock<std::mutex> lock(g_run_mutex, std::try_to_lock);
  if (threads <= 1 || !lock.owns_lock()) {
    for (int t = 0; t < tasks; ++t) fn(t);
    return;
  }
  if (!g_pool || g_pool->size() != num_threads()) {
    g_pool.reset();
    g_pool.reset(new ThreadPool(num_threads() - 1));
  }
  if (tasks > g_pool->size()) {
    // More tasks than threads: each slot runs a strided share, still a fixed assignment.
    int slots = g_pool->size();
    g_pool->run(slots, [&](int slot) {
      for (int t = slot; t < tasks; t += slots) fn(t);
    });
  } else {
    g_pool->run(tasks, fn);
  }
}

}  // namespace detail

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads: expected a thread count >= 1, got " + std::to_string(n));
  detail::g_num_threads.store(n, std::memory_order_relaxed);
}

int get_num_threads() { return detail::num_threads(); }

}  // namespace bmx
