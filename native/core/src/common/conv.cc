// Binary 2-D convolution driver: padding, the lane-interleaved input layout, work split and output forms.
//
// Steps of one call (all on the current ISA's kernels, bmx/conv.h states the contract):
//  1. build the "vector layout" xs of the -1 padded input (common/kernels.h): entry (n, row, c0, word) holds,
//     for lanes j < L, the padded input word at (row, c0 + j * stride_w), so that the L lanes of one entry are
//     the inputs of L adjacent output pixels for one kernel tap;
//  2. split the pixel vectors (L adjacent output pixels of one row) evenly over the threads; each thread
//     runs the kernel on tiles of up to max_vecs vectors x 64 output channels and writes the outputs.
#include <algorithm>
#include <cstring>
#include <vector>

#include "bmx/conv.h"
#include "bmx/threading.h"
#include "kernels.h"
#include "output.h"
#include "scratch.h"
#include "thread_pool.h"

namespace bmx {
namespace detail {
namespace {

constexpr std::int64_t kChannelChunk = 64;
constexpr word_t kLowNibbles = 0x0f0f0f0f0f0f0f0fULL;

struct ConvPlan {
  const Conv2DParams& p;
  const IsaKernels& kernels;
  std::int64_t lanes, planes, padded_h, padded_w, out_h, out_w, cwg, words_per_pixel, kwords, k;
  std::int64_t out_per_group, vecs_per_row, num_vecs;

  ConvPlan(const Conv2DParams& params, const IsaKernels& isa)
      : p(params), kernels(isa), lanes(isa.lanes), planes(isa.planes) {
    padded_h = p.in_height + 2 * p.pad_h;
    padded_w = p.in_width + 2 * p.pad_w;
    out_h = p.out_height();
    out_w = p.out_width();
    cwg = p.words_per_group();
    words_per_pixel = p.groups * cwg;
    kwords = p.kernel_h * p.kernel_w * cwg;
    k = p.reduction_size();
    out_per_group = p.out_channels / p.groups;
    vecs_per_row = (out_w + lanes - 1) / lanes;
    num_vecs = p.batch * out_h * vecs_per_row;
  }

  std::int64_t entry_words() const { return planes * lanes; }
  std::int64_t xs_words() const { return p.batch * padded_h * padded_w * words_per_pixel * entry_words(); }

  // Entry index of pixel vector v (all taps are offsets from it), its sample, row and first column.
  void locate(std::int64_t v, std::int64_t* n, std::int64_t* oh, std::int64_t* ow0, std::int64_t* base) const {
    *n = v / (out_h * vecs_per_row);
    std::int64_t rem = v % (out_h * vecs_per_row);
    *oh = rem / vecs_per_row;
    *ow0 = rem % vecs_per_row * lanes;
    *base = ((*n * padded_h + *oh * p.stride_h) * padded_w + *ow0 * p.stride_w) * words_per_pixel;
  }

  // Entry offsets of the kwords taps of group g, in weight order (kh, kw, word).
  void tap_offsets(std::int64_t g, std::int64_t* out) const {
    std::int64_t i = 0;
    for (std::int64_t kh = 0; kh < p.kernel_h; ++kh)
      for (std::int64_t kw = 0; kw < p.kernel_w; ++kw)
        for (std::int64_t w = 0; w < cwg; ++w)
          out[i++] = ((kh * p.dilation_h) * padded_w + kw * p.dilation_w) * words_per_pixel + g * cwg + w;
  }
};

// The word of a padded pixel: every valid channel bit set (-1), tail bits clear.
word_t pad_word(std::int64_t channels_per_group, std::int64_t word) {
  std::int64_t valid = std::min<std::int64_t>(64, channels_per_group - word * 64);
  return valid == 64 ? ~word_t(0) : (word_t(1) << valid) - 1;
}

// Fill padded rows [r0, r1) (over all samples) of the vector layout.
void build_vector_layout(const ConvPlan& plan, const word_t* input, const word_t* pad, word_t* xs, std::int64_t r0,
                         std::int64_t r1) {
  const Conv2DParams& p = plan.p;
  const std::int64_t L = plan.lanes, S = plan.planes, wpp = plan.words_per_pixel;
  for (std::int64_t nr = r0; nr < r1; ++nr) {
    std::int64_t n = nr / plan.padded_h, ih = nr % plan.padded_h - p.pad_h;
    bool row_inside = ih >= 0 && ih < p.in_height;
    const word_t* in_row = input + (n * p.in_height + (row_inside ? ih : 0)) * p.in_width * wpp;
    word_t* out = xs + nr * plan.padded_w * wpp * S * L;
    for (std::int64_t c0 = 0; c0 < plan.padded_w; ++c0) {
      for (std::int64_t j = 0; j < L; ++j) {
        std::int64_t col = c0 + j * p.stride_w, iw = col - p.pad_w;
        const word_t* src = nullptr;  // null: pad word; lanes past the padded width read as zero
        bool beyond = col >= plan.padded_w;
        if (!beyond && row_inside && iw >= 0 && iw < p.in_width) src = in_row + iw * wpp;
        for (std::int64_t w = 0; w < wpp; ++w) {
          word_t value = beyond ? 0 : (src ? src[w] : pad[w]);
          word_t* entry = out + (c0 * wpp + w) * S * L;
          if (S == 1) {
            entry[j] = value;
          } else {
            entry[j] = value & kLowNibbles;
            entry[L + j] = (value >> 4) & kLowNibbles;
          }
        }
      }
    }
  }
}

void run_conv(const Conv2DParams& p, const word_t* input, const word_t* weights, OutputKind kind, void* out,
              const float* scale, const float* bias, const char* op) {
  p.validate(op);
  if (input == nullptr || weights == nullptr || out == nullptr)
    throw Error(std::string(op) + ": null input, weight or output pointer");
  if (kind != OutputKind::int32 && (scale == nullptr || bias == nullptr))
    throw Error(std::string(op) + ": this output form needs scale and bias arrays of shape (out_channels,)");
  const IsaKernels& isa = current_kernels();
  const ConvPlan plan(p, isa);
  const int threads = get_num_threads();
  const std::int64_t tile_counts = kChannelChunk * isa.max_vecs * isa.lanes;

  ScratchLayout layout;
  std::size_t xs_at = layout.add<word_t>(plan.xs_words());
  std::size_t pad_at = layout.add<word_t>(plan.words_per_pixel);
  std::size_t taps_at = layout.add<std::int64_t>(p.groups * plan.kwords);
  std::size_t counts_at = layout.add<std::int32_t>(threads * tile_counts);
  std::size_t bases_at = layout.add<std::int64_t>(threads * isa.max_vecs);
  std::size_t intervals_at = layout.add<SignInterval>(kind == OutputKind::packed ? p.out_channels : 0);
  layout.allocate();
  word_t* xs = layout.at<word_t>(xs_at);
  word_t* pad = layout.at<word_t>(pad_at);
  std::int64_t* taps = layout.at<std::int64_t>(taps_at);
  for (std::int64_t g = 0; g < p.groups; ++g) {
    for (std::int64_t w = 0; w < plan.cwg; ++w) pad[g * plan.cwg + w] = pad_word(p.channels_per_group(), w);
    plan.tap_offsets(g, taps + g * plan.kwords);
  }

  OutputSink sink;
  sink.kind = kind;
  sink.scale = scale;
  sink.bias = bias;
  if (kind == OutputKind::int32) sink.i32 = static_cast<std::int32_t*>(out);
  if (kind == OutputKind::float32) sink.f32 = static_cast<float*>(out);
  if (kind == OutputKind::packed) {
    sink.bits = static_cast<word_t*>(out);
    SignInterval* intervals = layout.at<SignInterval>(intervals_at);
    sign_intervals(scale, bias, p.out_channels, plan.k, intervals);
    sink.intervals = intervals;
    std::memset(sink.bits, 0, p.output_words() * sizeof(word_t));
  }

  const std::int64_t rows = p.batch * plan.padded_h;
  parallel_for(threads, [&](int t) {
    build_vector_layout(plan, input, pad, xs, split_point(rows, threads, t, 1), split_point(rows, threads, t + 1, 1));
  });

  const std::int64_t pixels = plan.out_h * plan.out_w, out_words = words_for(p.out_channels);
  parallel_for(threads, [&](int t) {
    std::int32_t* counts = layout.at<std::int32_t>(counts_at) + t * tile_counts;
    std::int64_t* bases = layout.at<std::int64_t>(bases_at) + t * isa.max_vecs;
    std::int64_t sample[16], pixel[16], valid[16];
    const std::int64_t v_end = split_point(plan.num_vecs, threads, t + 1, 1);
    for (std::int64_t v0 = split_point(plan.num_vecs, threads, t, 1); v0 < v_end; v0 += isa.max_vecs) {
      const int nvec = static_cast<int>(std::min<std::int64_t>(isa.max_vecs, v_end - v0));
      for (int v = 0; v < nvec; ++v) {
        std::int64_t oh, ow0;
        plan.locate(v0 + v, &sample[v], &oh, &ow0, &bases[v]);
        pixel[v] = oh * plan.out_w + ow0;
        valid[v] = std::min(plan.lanes, plan.out_w - ow0);
      }
      for (std::int64_t g = 0; g < p.groups; ++g) {
        for (std::int64_t c0 = 0; c0 < plan.out_per_group; c0 += kChannelChunk) {
          const std::int64_t nchan = std::min(kChannelChunk, plan.out_per_group - c0);
          const std::int64_t o0 = g * plan.out_per_group + c0;
          isa.conv_counts(xs, bases, nvec, taps + g * plan.kwords, plan.kwords, weights + o0 * plan.kwords, nchan,
                          counts);
          for (std::int64_t c = 0; c < nchan; ++c) {
            const std::int32_t* cnt = counts + c * nvec * plan.lanes;
            const std::int64_t o = o0 + c;
            for (int v = 0; v < nvec; ++v)
              for (std::int64_t j = 0; j < valid[v]; ++j) {
                std::int64_t px = pixel[v] + j;
                write_output(sink, (sample[v] * p.out_channels + o) * pixels + px,
                             (sample[v] * pixels + px) * out_words + o / 64, o, plan.k - 2 * cnt[v * plan.lanes + j]);
              }
          }
        }
      }
    }
  });
}

}  // namespace
}  // namespace detail

void binary_conv2d_int32(const Conv2DParams& p, const word_t* input, const word_t* weights, std::int32_t* out) {
  detail::run_conv(p, input, weights, detail::OutputKind::int32, out, nullptr, nullptr, "binary_conv2d_int32");
}

void binary_conv2d_float(const Conv2DParams& p, const word_t* input, const word_t* weights, const float* scale,
                         const float* bias, float* out) {
  detail::run_conv(p, input, weights, detail::OutputKind::float32, out, scale, bias, "binary_conv2d_float");
}

void binary_conv2d_packed(const Conv2DParams& p, const word_t* input, const word_t* weights, const float* scale,
                          const float* bias, word_t* out) {
  detail::run_conv(p, input, weights, detail::OutputKind::packed, out, scale, bias, "binary_conv2d_packed");
}

}  // namespace bmx
