// The machine's xnor/popcount peak: every thread runs its ISA's peak loop on its own L1-resident data.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "bmx/benchmark.h"
#include "bmx/threading.h"
#include "bmx/types.h"
#include "kernels.h"
#include "thread_pool.h"

namespace bmx {

double peak_binary_macs_per_second(Isa isa, int threads, double seconds) {
  if (threads < 1) throw Error("peak_binary_macs_per_second: expected threads >= 1, got " + std::to_string(threads));
  if (!(seconds > 0)) throw Error("peak_binary_macs_per_second: expected seconds > 0");
  const detail::IsaKernels& kernels = detail::kernels_for(isa);
  const int saved = get_num_threads();
  set_num_threads(threads);
  using clock = std::chrono::steady_clock;
  struct Run {
    double macs, seconds;
  };
  auto timed = [&](std::int64_t iters) {
    std::vector<double> macs(threads);
    auto start = clock::now();
    detail::parallel_for(threads, [&](int t) { macs[t] = kernels.peak_loop(iters); });
    double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    double total = 0;
    for (double m : macs) total += m;
    return Run{total, elapsed};
  };
  try {
    std::int64_t iters = 16;
    auto probe = timed(iters);
    while (probe.seconds < seconds / 20) {
      iters *= 4;
      probe = timed(iters);
    }
    iters = static_cast<std::int64_t>(iters * (seconds / 5) / probe.seconds) + 1;
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
      auto run = timed(iters);
      best = std::max(best, run.macs / run.seconds);
    }
    set_num_threads(saved);
    return best;
  } catch (...) {
    set_num_threads(saved);
    throw;
  }
}

}  // namespace bmx
