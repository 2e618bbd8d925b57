// Where a binary layer writes its dot products, in one of the three output forms (int32, float, packed).
#pragma once

#include <cstdint>

#include "bmx/threshold.h"
#include "bmx/types.h"
#include "fp.h"

namespace bmx {
namespace detail {

enum class OutputKind { int32, float32, packed };

/// One output form plus what it needs; element (n, o, pixel) of a layer with `channels` outputs and `pixels`
/// pixels per sample goes to index (n * channels + o) * pixels + pixel (int32 / float) or sets bit o of word
/// (n * pixels + pixel) * ceil(channels / 64) + o / 64 (packed).
struct OutputSink {
  OutputKind kind = OutputKind::int32;
  std::int32_t* i32 = nullptr;
  float* f32 = nullptr;
  word_t* bits = nullptr;
  const float* scale = nullptr;
  const float* bias = nullptr;
  const SignInterval* intervals = nullptr;  // packed only
};

inline void write_output(const OutputSink& s, std::int64_t index, std::int64_t word_index, std::int64_t o,
                         std::int64_t y) {
  switch (s.kind) {
    case OutputKind::int32:
      s.i32[index] = static_cast<std::int32_t>(y);
      break;
    case OutputKind::float32:
      s.f32[index] = affine(s.scale[o], static_cast<float>(y), s.bias[o]);
      break;
    case OutputKind::packed:
      if (s.intervals[o].lo <= y && y <= s.intervals[o].hi) s.bits[word_index] |= word_t(1) << (o % 64);
      break;
  }
}

}  // namespace detail
}  // namespace bmx
