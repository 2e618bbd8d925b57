// Instruction sets of the native core and their run-time selection.
//
// Every kernel exists for every instruction set (ISA) compiled for the target: `portable` (plain C++,
// everywhere), `avx2` and `avx512` (x86-64; avx512 needs AVX-512F/BW/VL + VPOPCNTDQ), `neon` (aarch64),
// `wasm_simd` (WebAssembly built with -msimd128: 128-bit xor + i8x16.popcnt).
// By default the best ISA the CPU supports is used. The environment variable BMX_ISA
// (portable|avx2|avx512|neon|wasm_simd), read once at first use, or force_isa() override the choice; forcing
// an ISA the CPU or the build lacks throws bmx::Error. The choice is process-wide: the Python binding, the MXNet
// operators and the runtime share one core library and so one switch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bmx/export.h"

namespace bmx {

enum class Isa { portable = 0, avx2 = 1, avx512 = 2, neon = 3, wasm_simd = 4 };

/// Lower-case name: "portable", "avx2", "avx512", "neon", "wasm_simd".
BMX_API const char* isa_name(Isa isa);

/// Parse a name as printed by isa_name(); throws bmx::Error naming the valid choices otherwise.
BMX_API Isa parse_isa(const std::string& name);

/// True if this build contains the ISA's kernels and the running CPU supports them.
BMX_API bool isa_supported(Isa isa);

/// All supported ISAs, from the most portable to the fastest.
BMX_API std::vector<Isa> available_isas();

/// The fastest supported ISA.
BMX_API Isa best_isa();

/// The ISA used by the next kernel call: the forced one, else BMX_ISA, else best_isa().
/// Throws bmx::Error if BMX_ISA names an unknown or unsupported ISA.
BMX_API Isa current_isa();

/// Force every following kernel call (all threads) onto `isa`; throws bmx::Error if unsupported.
BMX_API void force_isa(Isa isa);

/// Undo force_isa(): back to BMX_ISA or the best supported ISA.
BMX_API void reset_isa();

/// The ISA of the kernels the next kernel call runs: current_isa() by construction; exposed so that tests
/// can check that forcing an ISA really switches the kernels.
BMX_API Isa kernels_isa();

/// Kernel calls (packing, convolution, dense layer, GEMM, from every thread) that ran on `isa` in this process
/// so far. Every front end links the one core library, so tests use it to see which kernels an MXNet operator
/// or a runtime model really ran.
BMX_API std::int64_t kernel_calls(Isa isa);

}  // namespace bmx
