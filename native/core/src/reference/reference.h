// Reference implementations written as naive loops: the specification the kernels are tested against.
// Header-only and dependency-free (used by native/core/tests/kernel_test.cc, e.g. under qemu-aarch64).
#pragma once

#include <cstdint>
#include <vector>

#include "bmx/conv.h"
#include "bmx/dense.h"
#include "bmx/types.h"

namespace bmx {
namespace reference {

/// det_sign as an integer: -1 if x < 0 else +1 (zero, -0.0 and NaN are +1).
inline int sign_of(float x) { return x < 0.0f ? -1 : 1; }

/// Bit j of the packed vector `words`.
inline bool bit(const word_t* words, std::int64_t j) { return (words[j / 64] >> (j % 64)) & 1; }

/// Pack float (N, C, H, W) by sign, per group: words (N, H, W, G * ceil(C/G / 64)).
inline std::vector<word_t> pack_nchw(const std::vector<float>& x, std::int64_t n, std::int64_t c, std::int64_t h,
                                     std::int64_t w, std::int64_t groups) {
  const std::int64_t cg = c / groups, cwg = words_for(cg), wpp = groups * cwg;
  std::vector<word_t> out(n * h * w * wpp, 0);
  for (std::int64_t s = 0; s < n; ++s)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t p = 0; p < h * w; ++p)
        if (x[(s * c + ch) * h * w + p] < 0.0f) {
          const std::int64_t g = ch / cg, local = ch % cg;
          out[(s * h * w + p) * wpp + g * cwg + local / 64] |= word_t(1) << (local % 64);
        }
  return out;
}

/// Integer convolution of sign(x) (N, C, H, W) with sign(w) (O, C/G, KH, KW), padding -1: (N, O, OH, OW).
inline std::vector<std::int32_t> conv2d(const Conv2DParams& p, const std::vector<float>& x,
                                        const std::vector<float>& w) {
  const std::int64_t oh_n = p.out_height(), ow_n = p.out_width(), cg = p.in_channels / p.groups;
  const std::int64_t og = p.out_channels / p.groups;
  std::vector<std::int32_t> out(p.batch * p.out_channels * oh_n * ow_n);
  for (std::int64_t n = 0; n < p.batch; ++n)
    for (std::int64_t o = 0; o < p.out_channels; ++o)
      for (std::int64_t oh = 0; oh < oh_n; ++oh)
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          std::int32_t sum = 0;
          for (std::int64_t c = 0; c < cg; ++c)
            for (std::int64_t kh = 0; kh < p.kernel_h; ++kh)
              for (std::int64_t kw = 0; kw < p.kernel_w; ++kw) {
                const std::int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
                const std::int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                const std::int64_t ch = o / og * cg + c;
                const int xs = ih < 0 || ih >= p.in_height || iw < 0 || iw >= p.in_width
                                   ? -1
                                   : sign_of(x[((n * p.in_channels + ch) * p.in_height + ih) * p.in_width + iw]);
                sum += xs * sign_of(w[((o * cg + c) * p.kernel_h + kh) * p.kernel_w + kw]);
              }
          out[((n * p.out_channels + o) * oh_n + oh) * ow_n + ow] = sum;
        }
  return out;
}

/// Integer product of sign(x) (N, K) and sign(w) (O, K)^T: (N, O).
inline std::vector<std::int32_t> dense(const DenseParams& p, const std::vector<float>& x, const std::vector<float>& w) {
  std::vector<std::int32_t> out(p.batch * p.out_units);
  for (std::int64_t n = 0; n < p.batch; ++n)
    for (std::int64_t o = 0; o < p.out_units; ++o) {
      std::int32_t sum = 0;
      for (std::int64_t k = 0; k < p.in_units; ++k) sum += sign_of(x[n * p.in_units + k]) * sign_of(w[o * p.in_units + k]);
      out[n * p.out_units + o] = sum;
    }
  return out;
}

}  // namespace reference
}  // namespace bmx
