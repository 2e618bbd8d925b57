// Thread count of the kernels inside this library, settable from Python (bmxnet_ext.ops.set_num_threads).
//
// The library links its own copy of the native core, so the pool that bmxnet_ext.native controls is a
// different one; these two functions reach the pool the MXNet operators actually use.
#include <exception>

#include "bmx/threading.h"

#define BMX_EXPORT extern "C" __attribute__((visibility("default")))

/// Use `n >= 1` threads in the operators' kernels. Returns 1 on success, 0 for an invalid `n`.
BMX_EXPORT int bmx_mxnet_set_num_threads(int n) {
  try {
    bmx::set_num_threads(n);
    return 1;
  } catch (const std::exception&) {
    return 0;
  }
}

/// Threads the operators' kernels use.
BMX_EXPORT int bmx_mxnet_get_num_threads() { return bmx::get_num_threads(); }
