// Peak xnor + popcount throughput of this machine, for judging kernel efficiency.
#pragma once

#include "bmx/export.h"
#include "bmx/isa.h"

namespace bmx {

/// Binary multiply-accumulates per second of the best xor + popcount + add loop on L1-resident data for `isa`
/// with `threads` threads (each running the loop on its own data), measured for about `seconds`.
/// One binary MAC = one bit of one xor'ed word. Throws bmx::Error if the ISA is unsupported or threads < 1.
BMX_API double peak_binary_macs_per_second(Isa isa, int threads, double seconds = 0.2);

}  // namespace bmx
