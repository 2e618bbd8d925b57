// Threads used by the kernels: a small pool owned by the library (no OpenMP, which would clash with the
// OpenMP runtime MXNet ships). Work is split statically, each output is computed by exactly one thread with
// the same arithmetic, so results are bit-identical for every thread count.
#pragma once

#include <cstdint>
#include <functional>

#include "bmx/export.h"

namespace bmx {

/// Use `n` threads (n >= 1, the calling thread included) for the following kernel calls.
/// Throws bmx::Error if n < 1. Default: the number of hardware threads (or BMX_NUM_THREADS if set).
BMX_API void set_num_threads(int n);

/// The number of threads kernel calls use.
BMX_API int get_num_threads();

/// Run fn(task, thread) for every task in [0, tasks) on the kernels' own thread pool (get_num_threads()
/// threads, the caller included) and return when all are done; `thread` in [0, get_num_threads()) names the
/// thread running the task, so callers can give each thread its own scratch. Each thread runs a contiguous
/// share of the tasks (the same share on every call), then helps with what others have left. For code
/// outside the core (e.g. the runtime's float operators), so that one set of threads,
/// already spinning from the previous kernel call, serves every layer of a network. 0 <= tasks < 2^20.
/// If another thread is running a loop on the pool, the caller runs all tasks itself as thread 0.
/// The first exception thrown by a task is rethrown after all tasks finished.
BMX_API void parallel_for(std::int64_t tasks, const std::function<void(std::int64_t task, int thread)>& fn);

}  // namespace bmx
