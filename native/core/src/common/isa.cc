// CPU feature detection and the process-wide choice of instruction set.
#include "bmx/isa.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>

#include "bmx/types.h"
#include "kernels.h"

namespace bmx {
namespace {

constexpr Isa kAllIsas[] = {Isa::portable, Isa::avx2, Isa::avx512, Isa::neon, Isa::wasm_simd};

bool cpu_has(Isa isa) {
  switch (isa) {
    case Isa::portable:
      return true;
#if defined(__x86_64__)
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq");
#endif
#if defined(__aarch64__)
    case Isa::neon:
      return true;  // Advanced SIMD is mandatory on AArch64
#endif
#if defined(__wasm_simd128__)
    case Isa::wasm_simd:
      return true;  // a module built with -msimd128 only instantiates where SIMD128 is supported
#endif
    default:
      return false;
  }
}

// -1: not forced; otherwise the forced Isa's value.
std::atomic<int> g_forced{-1};

// Kernel calls per ISA (indexed by the enum's value), for kernel_calls().
std::atomic<std::int64_t> g_calls[std::size(kAllIsas)];

Isa isa_from_environment_or_best() {
  const char* env = std::getenv("BMX_ISA");
  if (env == nullptr || *env == '\0') return best_isa();
  Isa isa = parse_isa(env);
  if (!isa_supported(isa))
    throw Error(std::string("BMX_ISA=") + env + " is not supported by this CPU or build");
  return isa;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::portable: return "portable";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::neon: return "neon";
    case Isa::wasm_simd: return "wasm_simd";
  }
  return "unknown";
}

Isa parse_isa(const std::string& name) {
  for (Isa isa : kAllIsas)
    if (name == isa_name(isa)) return isa;
  throw Error("Expected an instruction set name portable, avx2, avx512, neon or wasm_simd, got '" + name + "'");
}

bool isa_supported(Isa isa) { return cpu_has(isa); }

std::vector<Isa> available_isas() {
  std::vector<Isa> isas;
  for (Isa isa : kAllIsas)
    if (isa_supported(isa)) isas.push_back(isa);
  return isas;
}

Isa best_isa() { return available_isas().back(); }

Isa current_isa() {
  int forced = g_forced.load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<Isa>(forced);
  static const Isa chosen = isa_from_environment_or_best();  // env read once; a bad value throws each time
  return chosen;
}

void force_isa(Isa isa) {
  if (!isa_supported(isa)) {
    std::string available;
    for (Isa a : available_isas()) available += std::string(available.empty() ? "" : ", ") + isa_name(a);
    throw Error(std::string("force_isa: instruction set '") + isa_name(isa) +
                "' is not supported by this CPU or build (available: " + available + ")");
  }
  g_forced.store(static_cast<int>(isa), std::memory_order_relaxed);
}

void reset_isa() { g_forced.store(-1, std::memory_order_relaxed); }

Isa kernels_isa() { return detail::kernels_for(current_isa()).isa; }

std::int64_t kernel_calls(Isa isa) {
  const auto i = static_cast<std::size_t>(isa);
  return i < std::size(g_calls) ? g_calls[i].load(std::memory_order_relaxed) : 0;
}

namespace detail {

#if defined(__x86_64__)
bool cpu_has_gfni_vbmi() { return __builtin_cpu_supports("gfni") && __builtin_cpu_supports("avx512vbmi"); }
#endif

const IsaKernels& kernels_for(Isa isa) {
  if (!isa_supported(isa))
    throw Error(std::string("instruction set '") + isa_name(isa) + "' is not supported by this CPU or build");
  switch (isa) {
#if defined(__x86_64__)
    case Isa::avx2: return avx2_kernels();
    case Isa::avx512: return avx512_kernels();
#endif
#if defined(__aarch64__)
    case Isa::neon: return neon_kernels();
#endif
#if defined(__wasm_simd128__)
    case Isa::wasm_simd: return wasm_simd_kernels();
#endif
    default: return portable_kernels();
  }
}

const IsaKernels& current_kernels() {
  const IsaKernels& kernels = kernels_for(current_isa());
  g_calls[static_cast<std::size_t>(kernels.isa)].fetch_add(1, std::memory_order_relaxed);
  return kernels;
}

}  // namespace detail
}  // namespace bmx
