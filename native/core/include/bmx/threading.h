// Threads used by the kernels: a small pool owned by the library (no OpenMP, which would clash with the
// OpenMP runtime MXNet ships). Work is split statically, each output is computed by exactly one thread with
// the same arithmetic, so results are bit-identical for every thread count.
#pragma once

namespace bmx {

/// Use `n` threads (n >= 1, the calling thread included) for the following kernel calls.
/// Throws bmx::Error if n < 1. Default: the number of hardware threads (or BMX_NUM_THREADS if set).
void set_num_threads(int n);

/// The number of threads kernel calls use.
int get_num_threads();

}  // namespace bmx
