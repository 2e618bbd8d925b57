// What the operators run with, readable through ctypes (bmxnet_ext.ops.isa(), ops.num_threads()).
//
// The library links the process's one native core (bmxnet_ext/libbmxcore.so), so the instruction set and the
// thread count are those set through bmxnet_ext.native (use_isa, set_num_threads) or BMX_ISA /
// BMX_NUM_THREADS; these queries let tests check that the operators see the same switches.
#include <exception>

#include "bmx/isa.h"
#include "bmx/threading.h"

#define BMX_EXPORT extern "C" __attribute__((visibility("default")))

/// Name of the instruction set the operators' next kernel call runs on ("portable", "avx2", ...), or "" if
/// BMX_ISA names an unusable one (the operators then fail with that message).
BMX_EXPORT const char* bmx_mxnet_isa() {
  try {
    return bmx::isa_name(bmx::current_isa());
  } catch (const std::exception&) {
    return "";
  }
}

/// Threads the operators' kernels use.
BMX_EXPORT int bmx_mxnet_num_threads() { return bmx::get_num_threads(); }
