// WebAssembly additions to the runtime's C API (include/bmx_runtime.h, exported unchanged beside these):
// the instruction set of the native core, which a browser cannot choose by environment variable.
#include <cstddef>
#include <exception>
#include <string>

#include "bmx/isa.h"
#include "bmx_runtime.h"

// web/bmx.js reads bmx_tensor_info and bmx_node_profile at these offsets (wasm32: 4-byte pointers and size_t).
static_assert(offsetof(bmx_tensor_info, dtype) == 4 && offsetof(bmx_tensor_info, ndim) == 8 &&
                  offsetof(bmx_tensor_info, dims) == 16 && offsetof(bmx_tensor_info, nbytes) == 80 &&
                  sizeof(bmx_tensor_info) == 88,
              "bmx_tensor_info layout changed: update INFO in web/bmx.js");
static_assert(offsetof(bmx_node_profile, op) == 4 && offsetof(bmx_node_profile, total_ms) == 8 &&
                  offsetof(bmx_node_profile, runs) == 16 && sizeof(bmx_node_profile) == 24,
              "bmx_node_profile layout changed: update PROFILE in web/bmx.js");

extern "C" {

/// The instruction set the next kernel call uses: "portable" or "wasm_simd".
const char* bmx_web_isa(void) { return bmx::isa_name(bmx::current_isa()); }

/// The instruction sets this module supports, fastest last, separated by commas ("portable,wasm_simd").
const char* bmx_web_available_isas(void) {
  static std::string names;
  names.clear();
  for (bmx::Isa isa : bmx::available_isas()) names += std::string(names.empty() ? "" : ",") + bmx::isa_name(isa);
  return names.c_str();
}

/// Run the following calls on `name`'s kernels ("" or null: back to the best one). Returns 0 on success, else 1
/// and the reason in bmx_web_error().
static std::string g_error;
int bmx_web_set_isa(const char* name) {
  try {
    if (name == nullptr || *name == '\0') {
      bmx::reset_isa();
    } else {
      bmx::force_isa(bmx::parse_isa(name));
    }
    g_error.clear();
    return 0;
  } catch (const std::exception& err) {
    g_error = err.what();
    return 1;
  }
}

/// The message of the last failed bmx_web_set_isa() ("" if none).
const char* bmx_web_error(void) { return g_error.c_str(); }

}  // extern "C"
