// Basic types of the native core: the packed word, its bit order, and the library's error type.
//
// Bit-packing contract (docs/conventions.md): a vector of length K is stored in ceil(K / 64) uint64 words;
// element j goes to word j / 64, bit j % 64 (bit 0 = least significant). A set bit means -1 (x < 0), a clear
// bit +1 (zero and -0.0 are +1). Tail bits past K are zero. The binary dot product of two packed vectors is
// dot = K - 2 * popcount(a XOR b).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "bmx/export.h"

namespace bmx {

/// The packed word. All packed arrays are contiguous arrays of this type (int64 views carry the same bits).
using word_t = std::uint64_t;

/// Bits per packed word.
constexpr int kWordBits = 64;

/// Number of words that hold `bits` bits: ceil(bits / 64).
constexpr std::int64_t words_for(std::int64_t bits) { return (bits + kWordBits - 1) / kWordBits; }

/// A shape as Python prints it, for messages: "(2, 3)", "(4,)".
BMX_API std::string shape_string(const std::vector<std::int64_t>& shape);

/// Every invalid argument (bad shape, bad parameter, unsupported instruction set) throws this.
/// Messages name the operation, the argument, the expected and the actual value.
class BMX_API Error : public std::invalid_argument {
 public:
  explicit Error(const std::string& what) : std::invalid_argument(what) {}
};

}  // namespace bmx
