// The worker pool behind bmx::set_num_threads and detail::parallel_for.
//
// Each thread slot (the caller is slot 0, workers 1 ... n-1) owns a contiguous share of a loop's tasks, in one
// 64-bit atomic word [generation:24][end:20][next:20] on its own cache line. A thread claims its own tasks
// first, in order, then takes what is left of the others' shares. So a thread gets the same share of the
// tasks call after call and finds its previous outputs in its own cache (on a two-socket-like VM, a line
// written by the other core costs more than the work on it), while a thread that the OS delays still has
// its share done by the others. Claims are compare-and-swaps on those words, so a claim can never hit a
// loop other than the one the claimer saw. Workers spin briefly after each loop (kernel calls come in quick
// succession during inference), then sleep on a condition variable, so an idle pool costs no CPU.
#include "thread_pool.h"

#include <algorithm>
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

thread_local int t_thread_index = 0;  // 0 for callers, 1 ... workers for the pool's threads

constexpr std::uint64_t kFieldMask = (1u << 20) - 1;

std::uint64_t make_state(std::uint64_t gen, std::uint64_t end, std::uint64_t next) {
  return (gen << 40) | (end << 20) | next;
}

class ThreadPool {
 public:
  explicit ThreadPool(int workers) : shares_(new Share[workers + 1]) {
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this, w] { worker_loop(w + 1); });
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true);
      wake_generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  int slots() const { return static_cast<int>(threads_.size()) + 1; }

  // Caller holds the global run lock (one loop at a time).
  void run(int tasks, const std::function<void(int)>& fn) {
    job_ = &fn;
    error_ = nullptr;
    gen_ = (gen_ + 1) & ((1u << 24) - 1);
    const int n = slots();
    for (int t = 0; t < n; ++t)
      shares_[t].state.store(make_state(gen_, split_point(tasks, n, t + 1), split_point(tasks, n, t)));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      wake_generation_.fetch_add(1);
    }
    wake_.notify_all();
    work(0);
    // A worker may still run a task it claimed; if the OS preempted it, yield so it can finish.
    for (int i = 0; active_.load() != 0; ++i) {
      if (i < 4096) cpu_relax(); else std::this_thread::yield();
    }
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Claim and run tasks of the current loop until none is left: slot `self`'s share first, then the others'.
  void work(int self) {
    const int n = slots();
    for (int k = 0; k < n; ++k) {
      std::atomic<std::uint64_t>& share = shares_[(self + k) % n].state;
      std::uint64_t s = share.load();
      for (;;) {
        const std::uint64_t next = s & kFieldMask, end = (s >> 20) & kFieldMask;
        if (next >= end) break;
        if (!share.compare_exchange_weak(s, s + 1)) continue;  // s reloaded on failure
        try {
          (*job_)(static_cast<int>(next));
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex_);
          if (!error_) error_ = std::current_exception();
        }
        s = share.load();
      }
    }
  }

  void worker_loop(int index) {
    t_thread_index = index;
    std::uint64_t seen = 0;
    for (;;) {
      seen = wait_for_wake(seen);
      if (stop_.load()) return;
      active_.fetch_add(1);  // before looking at the shares: the caller waits for us from now on
      work(index);
      active_.fetch_sub(1);
    }
  }

  std::uint64_t wait_for_wake(std::uint64_t seen) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0;; ++i) {
      std::uint64_t gen = wake_generation_.load();
      if (gen != seen) return gen;
      cpu_relax();
      if ((i & 255) == 255 && std::chrono::steady_clock::now() - start > std::chrono::microseconds(100)) break;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return wake_generation_.load() != seen; });
    return wake_generation_.load();
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<std::uint64_t> wake_generation_{0};
  struct alignas(64) Share {
    std::atomic<std::uint64_t> state{0};  // [generation:24][end:20][next:20] of this slot's tasks
  };
  std::unique_ptr<Share[]> shares_;
  std::atomic<int> active_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int)>* job_ = nullptr;
  std::uint64_t gen_ = 0;
  std::exception_ptr error_;
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

void run_serially(int tasks, const std::function<void(int)>& fn) {
  for (int t = 0; t < tasks; ++t) fn(t);
}

}  // namespace

void parallel_for(int tasks, const std::function<void(int)>& fn) {
  if (tasks < 0 || tasks > kMaxTasks)
    throw Error("parallel_for: expected 0 <= tasks <= " + std::to_string(kMaxTasks) + ", got " +
                std::to_string(tasks));
  const int threads = num_threads();
  if (threads <= 1 || tasks <= 1) return run_serially(tasks, fn);
  std::unique_lock<std::mutex> lock(g_run_mutex, std::try_to_lock);
  if (!lock.owns_lock()) return run_serially(tasks, fn);
  if (!g_pool || g_pool->slots() != threads) {
    g_pool.reset();
    g_pool.reset(new ThreadPool(threads - 1));
  }
  g_pool->run(tasks, fn);
}

}  // namespace detail

void parallel_for(std::int64_t tasks, const std::function<void(std::int64_t, int)>& fn) {
  if (tasks < 0 || tasks > detail::kMaxTasks)
    throw Error("parallel_for: expected 0 <= tasks <= " + std::to_string(detail::kMaxTasks) + ", got " +
                std::to_string(tasks));
  detail::parallel_for(static_cast<int>(tasks), [&](int task) { fn(task, detail::t_thread_index); });
}

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads: expected a thread count >= 1, got " + std::to_string(n));
  detail::g_num_threads.store(n, std::memory_order_relaxed);
}

int get_num_threads() { return detail::num_threads(); }

}  // namespace bmx
