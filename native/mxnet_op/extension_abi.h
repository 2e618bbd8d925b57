// The small part of MXNet's extension-library ABI (MXNet 1.9, MX_LIBRARY_VERSION 11) this library relies on.
//
// MXNet loads the library with dlopen, calls `initialize(version)`, then asks `_opRegSize` / `_opRegGet` for
// the operators and keeps the function pointers they hand back. Later it calls the library's own
// `_opCall*` entry points with those pointers (so their types are this library's business), with attributes
// as parallel arrays of C strings, shapes as arrays, and types as MXNet dtype codes. The entry points return
// 1 on success and 0 on failure; on failure MXNet reads the messages from `_msgSize` / `_msgGet` and raises
// an MXNetError in Python. Arrays that the library allocates for MXNet (output shapes) are released by MXNet
// through `_opCallFree`. Written from lib_api.h's declarations and MXLoadLib's calling code; lib_api.h itself
// is not included (pip's isolated build has no MXNet headers).
#pragma once

#include <cstdint>

namespace bmx_mxnet {

/// MXNet dtype codes (mshadow::TypeFlag).
enum DType : int {
  kFloat32 = 0,
  kFloat64 = 1,
  kFloat16 = 2,
  kUint8 = 3,
  kInt32 = 4,
  kInt8 = 5,
  kInt64 = 6,
};

/// The library ABI version MXNet 1.9.1 expects from `_opVersion`.
constexpr int kLibraryVersion = 11;

/// Entry-point return values.
constexpr int kFail = 0;
constexpr int kSuccess = 1;

/// MXNet's allocator callback for temporary CPU memory: `malloc(alloc_state, bytes)`.
using xpu_malloc_t = void* (*)(void*, int);

}  // namespace bmx_mxnet
