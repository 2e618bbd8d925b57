// Binary 2-D convolution driver: padding, the lane-interleaved input layout, work split and output forms.
//
// Steps of one call (on the current ISA's kernels; bmx/conv.h states the contract):
//  1. cut the pixel vectors (L adjacent output pixels, see 2.) into tiles of max_vecs vectors (one kernel
//     call) and the output channels into word-aligned chunks of <= 64; a task is a few consecutive tiles x a
//     part of the chunks (all of them unless there are few tiles), runs the kernel on them in sub-chunks of
//     16 channels and writes the outputs of exactly those pixels and channels; tasks are numbered part by
//     part;
//  2. each thread reads its own copy of the "vector layout" xs of the -1 padded input (kernels.h), in one of
//     two forms:
//     - by rows, where a pixel vector is L adjacent output pixels of one output row: entry
//       (n, row, c0, word) holds, for lanes j < L, the padded input word at (row, c0 + j * stride_w), so one
//       entry serves every vector and tap that reads it;
//     - flat, where a pixel vector is L consecutive output pixels of one sample in row-major order (it may
//       span rows): vector v has its own kwords entries per group, entry (v, g, kh, kw, word) holding each
//       lane's input word for that tap. Used where it needs fewer vectors: a 28-wide row fills 3.5 vectors
//       of 8 lanes, 28 x 28 pixels fill 98 exactly.
//     A task builds the units (padded rows, or flat vectors) its vectors need that its thread has not built
//     yet in this call. They stay in the cache of the core that reads them: sharing one layout cost more in
//     cross-core traffic than the duplicated units (at most the kernel height per task boundary) cost.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "bmx/conv.h"
#include "bmx/threading.h"
#include "epilogue.h"
#include "kernels.h"
#include "scratch.h"
#include "thread_pool.h"

namespace bmx {
namespace detail {
namespace {

constexpr word_t kLowNibbles = 0x0f0f0f0f0f0f0f0fULL;
constexpr int kMaxTileVecs = 16;            // most pixel vectors per kernel call (any ISA)
constexpr int kMaxTileLanes = 128;          // most pixels per kernel call
constexpr std::int64_t kMaxGroupTiles = 4;  // tiles per task: each output plane gets runs of >= 4 tiles
constexpr std::int64_t kSubChunk = 16;      // output channels per kernel call: few concurrent output streams
static_assert(kSubChunk <= 32, "packed outputs collect a sub-chunk's bits in 32-bit lanes");
constexpr std::int64_t kTargetTasksPerThread = 4;

struct ChannelChunk {
  std::int64_t group, begin, end;  // output channels [begin, end) of one group, inside one output word
};

struct ConvPlan {
  const Conv2DParams& p;
  const IsaKernels& isa;
  std::int64_t lanes, planes, padded_h, padded_w, out_h, out_w, cwg, words_per_pixel, kwords, k;
  std::int64_t out_per_group, vecs_per_row, vecs_per_sample, num_vecs, num_tiles, group_tiles, num_groups, parts;
  bool flat;  // flat vector layout (vectors may span output rows), else by rows
  std::vector<ChannelChunk> chunks;

  ConvPlan(const Conv2DParams& params, const IsaKernels& kernels, int threads, bool packed)
      : p(params), isa(kernels), lanes(kernels.lanes), planes(kernels.planes) {
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
    const std::int64_t flat_vecs = (out_h * out_w + lanes - 1) / lanes;
    flat = flat_vecs < out_h * vecs_per_row;
    vecs_per_sample = flat ? flat_vecs : out_h * vecs_per_row;
    num_vecs = p.batch * vecs_per_sample;
    num_tiles = (num_vecs + isa.max_vecs - 1) / isa.max_vecs;
    for (std::int64_t g = 0; g < p.groups; ++g)
      for (std::int64_t o = g * out_per_group, end = o + out_per_group; o < end;) {
        std::int64_t stop = std::min(end, (o / 64 + 1) * 64);
        chunks.push_back({g, o, stop});
        o = stop;
      }
    const std::int64_t wanted = kTargetTasksPerThread * threads;
    group_tiles = std::max<std::int64_t>(1, std::min(kMaxGroupTiles, num_tiles / wanted));
    num_groups = (num_tiles + group_tiles - 1) / group_tiles;
    parts = std::max<std::int64_t>(1, std::min<std::int64_t>((wanted + num_groups - 1) / num_groups, chunks.size()));
    parts = std::min<std::int64_t>(parts, kMaxTasks / std::max<std::int64_t>(1, num_groups));
    if (packed && out_per_group % 64 != 0) parts = 1;  // chunks of two groups may share an output word
  }

  std::int64_t entry_words() const { return planes * lanes; }
  // Entries of one unit of the layout: a padded row (by rows) or a vector (flat).
  std::int64_t unit_entries() const { return flat ? p.groups * kwords : padded_w * words_per_pixel; }
  std::int64_t units() const { return flat ? num_vecs : p.batch * padded_h; }
  std::int64_t xs_words() const { return units() * unit_entries() * entry_words(); }
  // Scratch words build_vector_row() needs for one source row (none for flat vectors).
  std::int64_t row_scratch_words() const {
    return flat ? 0 : planes * (padded_w + lanes * p.stride_w) * words_per_pixel;
  }
  std::int64_t tasks() const { return num_groups * parts; }

  // For pixel vectors v0 ... v0 + count - 1: sample, first output pixel (oh * OW + ow0), valid lanes, and the
  // entry all taps are offsets from.
  void locate_tile(std::int64_t v0, int count, std::int64_t* n, std::int64_t* pixel, std::int64_t* valid,
                   std::int64_t* base) const {
    if (flat) {
      for (int v = 0; v < count; ++v) {
        const std::int64_t q0 = (v0 + v) % vecs_per_sample * lanes;
        n[v] = (v0 + v) / vecs_per_sample;
        pixel[v] = q0;
        valid[v] = std::min(lanes, out_h * out_w - q0);
        base[v] = (v0 + v) * unit_entries();
      }
      return;
    }
    std::int64_t sample = v0 / (out_h * vecs_per_row), rem = v0 % (out_h * vecs_per_row);
    std::int64_t oh = rem / vecs_per_row, ow0 = rem % vecs_per_row * lanes;
    for (int v = 0; v < count; ++v) {
      n[v] = sample;
      pixel[v] = oh * out_w + ow0;
      valid[v] = std::min(lanes, out_w - ow0);
      base[v] = ((sample * padded_h + oh * p.stride_h) * padded_w + ow0 * p.stride_w) * words_per_pixel;
      ow0 += lanes;
      if (ow0 >= out_w) {
        ow0 = 0;
        if (++oh == out_h) {
          oh = 0;
          ++sample;
        }
      }
    }
  }

  // Entry offsets of the kwords taps of group g, in weight order (kh, kw, word).
  void tap_offsets(std::int64_t g, std::int64_t* out) const {
    std::int64_t i = 0;
    if (flat) {
      for (; i < kwords; ++i) out[i] = g * kwords + i;
      return;
    }
    for (std::int64_t kh = 0; kh < p.kernel_h; ++kh)
      for (std::int64_t kw = 0; kw < p.kernel_w; ++kw)
        for (std::int64_t w = 0; w < cwg; ++w)
          out[i++] = ((kh * p.dilation_h) * padded_w + kw * p.dilation_w) * words_per_pixel + g * cwg + w;
  }
};

// The word of a padded pixel: every valid channel bit set (-1), tail bits clear.
word_t pad_word(std::int64_t channels_per_group, std::int64_t word) {
  const std::int64_t valid = std::min<std::int64_t>(64, channels_per_group - word * 64);
  return valid == 64 ? ~word_t(0) : (word_t(1) << valid) - 1;
}

// Fill padded row nr (sample nr / Hp) of the vector layout, at `out`, for S planes of L lanes. `row` is scratch for
// S x (Wp + L * stride_w) pixels: the padded source row (split into nibble planes if S == 2), then zeros
// (lanes beyond the padded width belong to pixels past the output's right edge and are never stored).
template <int S, int L>
void build_vector_row(const ConvPlan& plan, const word_t* input, const word_t* pad, std::int64_t nr, word_t* row,
                      word_t* out) {
  const Conv2DParams& p = plan.p;
  const std::int64_t wpp = plan.words_per_pixel, sw = p.stride_w;
  const std::int64_t n = nr / plan.padded_h, ih = nr % plan.padded_h - p.pad_h;
  const std::int64_t row_words = (plan.padded_w + L * sw) * wpp, padded_words = plan.padded_w * wpp;
  // 1. the padded source row in plane 0: left pad, input pixels (or pad if the row is padding), right pad, zeros
  const bool row_inside = ih >= 0 && ih < p.in_height;
  const std::int64_t left = row_inside ? p.pad_w * wpp : padded_words;
  const std::int64_t right = row_inside ? left + p.in_width * wpp : padded_words;
  for (std::int64_t i = 0; i < left; ++i) row[i] = pad[i % wpp];
  if (row_inside) std::memcpy(row + left, input + (n * p.in_height + ih) * p.in_width * wpp, (right - left) * sizeof(word_t));
  for (std::int64_t i = right; i < padded_words; ++i) row[i] = pad[i % wpp];
  for (std::int64_t i = padded_words; i < row_words; ++i) row[i] = 0;
  // 2. nibble planes
  if (S == 2)
    for (std::int64_t i = 0; i < row_words; ++i) {
      const word_t value = row[i];
      row[i] = value & kLowNibbles;
      row[row_words + i] = (value >> 4) & kLowNibbles;
    }
  // 3. entries: lane j of (c0, word w, plane s) is pixel c0 + j * stride_w; with one word per pixel, stride 1
  //    and one plane, the L lanes are L consecutive words (a block copy).
  const std::int64_t lane_step = sw * wpp;
  if (S == 1 && lane_step == 1) {
    for (std::int64_t c0 = 0; c0 < plan.padded_w; ++c0, out += L) std::memcpy(out, row + c0, L * sizeof(word_t));
    return;
  }
  for (std::int64_t c0 = 0; c0 < plan.padded_w; ++c0)
    for (std::int64_t w = 0; w < wpp; ++w)
      for (int s = 0; s < S; ++s, out += L) {
        const word_t* src = row + s * row_words + c0 * wpp + w;
        for (int j = 0; j < L; ++j) out[j] = src[j * lane_step];
      }
}

// Fill flat vector v (pixels q0 ... q0 + L - 1 of sample n = v / vecs_per_sample) of the vector layout at `out`:
// entry (g, kh, kw, word) lane j = the input word of output pixel q0 + j for that tap (the pad word outside
// the input; zero for lanes past the last pixel, which are never stored), in S planes. `row` is unused.
template <int S, int L>
void build_flat_vector(const ConvPlan& plan, const word_t* input, const word_t* pad, std::int64_t v, word_t*,
                       word_t* out) {
  const Conv2DParams& p = plan.p;
  const std::int64_t n = v / plan.vecs_per_sample, q0 = v % plan.vecs_per_sample * L;
  const std::int64_t pixels = plan.out_h * plan.out_w, wpp = plan.words_per_pixel, cwg = plan.cwg;
  const word_t* sample = input + n * p.in_height * p.in_width * wpp;
  std::int64_t row0[L], col0[L];  // input row and column of each lane's tap (0, 0)
  for (int j = 0; j < L; ++j) {
    row0[j] = (q0 + j) / plan.out_w * p.stride_h - p.pad_h;
    col0[j] = (q0 + j) % plan.out_w * p.stride_w - p.pad_w;
  }
  word_t* entry = out;
  for (std::int64_t g = 0; g < p.groups; ++g)
    for (std::int64_t kh = 0; kh < p.kernel_h; ++kh)
      for (std::int64_t kw = 0; kw < p.kernel_w; ++kw) {
        const word_t* src[L];  // each lane's words of group g for this tap: input, pad, or null (no pixel)
        for (int j = 0; j < L; ++j) {
          const std::int64_t ih = row0[j] + kh * p.dilation_h, iw = col0[j] + kw * p.dilation_w;
          const bool inside = ih >= 0 && ih < p.in_height && iw >= 0 && iw < p.in_width;
          src[j] = q0 + j >= pixels ? nullptr
                   : inside          ? sample + (ih * p.in_width + iw) * wpp + g * cwg
                                     : pad + g * cwg;
        }
        for (std::int64_t w = 0; w < cwg; ++w, entry += S * L)
          for (int j = 0; j < L; ++j) {
            const word_t value = src[j] != nullptr ? src[j][w] : 0;
            if (S == 1) {
              entry[j] = value;
            } else {
              entry[j] = value & kLowNibbles;
              entry[L + j] = (value >> 4) & kLowNibbles;
            }
          }
      }
}

// Builds one unit of the vector layout: (plan, input, pad words, unit, row scratch, unit's first word).
using BuildUnitFn = void (*)(const ConvPlan&, const word_t*, const word_t*, std::int64_t, word_t*, word_t*);

template <int S, int L>
BuildUnitFn unit_builder(bool flat) {
  return flat ? build_flat_vector<S, L> : build_vector_row<S, L>;
}

BuildUnitFn build_unit_for(int planes, int lanes, bool flat) {
  const int key = planes * 16 + lanes;
  switch (key) {
    case 16 + 1: return unit_builder<1, 1>(flat);
    case 16 + 2: return unit_builder<1, 2>(flat);
    case 16 + 4: return unit_builder<1, 4>(flat);
    case 16 + 8: return unit_builder<1, 8>(flat);
    case 32 + 4: return unit_builder<2, 4>(flat);
  }
  throw Error("binary_conv2d: unsupported vector layout with " + std::to_string(planes) + " planes of " +
              std::to_string(lanes) + " lanes");
}

// What a task needs to build units of the vector layout: the packed input, the pad words, the unit builder
// of the ISA's layout, and the id of this call (unique per run_conv).
struct LayoutSource {
  const word_t* input;
  const word_t* pad;
  BuildUnitFn build_unit;
  std::uint64_t call;
};

// The units of the vector layout this thread has built in call `call` (into its task scratch).
struct BuiltUnits {
  std::uint64_t call = 0;
  std::vector<char> built;
};

BuiltUnits& built_units() {
  thread_local BuiltUnits units;
  return units;
}

std::atomic<std::uint64_t> g_next_call{1};

// Complete this thread's copy xs of the vector layout with the units that the kernel taps of vectors
// v0 ... v0 + nvecs - 1 (entry offsets base[0 ... nvecs)) read and that this thread has not built in this call.
void build_missing_units(const ConvPlan& plan, const LayoutSource& src, std::int64_t v0, const std::int64_t* base,
                         int nvecs, word_t* xs, word_t* row) {
  BuiltUnits& built = built_units();
  if (built.call != src.call) {
    built.call = src.call;
    built.built.assign(static_cast<std::size_t>(plan.units()), 0);
  }
  const std::int64_t unit_words = plan.unit_entries() * plan.entry_words();
  const auto build = [&](std::int64_t unit) {
    if (built.built[unit]) return;
    src.build_unit(plan, src.input, src.pad, unit, row, xs + unit * unit_words);
    built.built[unit] = 1;
  };
  if (plan.flat) {
    for (int v = 0; v < nvecs; ++v) build(v0 + v);
    return;
  }
  std::int64_t last_first = -1;
  for (int v = 0; v < nvecs; ++v) {
    const std::int64_t first = base[v] / plan.unit_entries();  // padded row of kernel row 0
    if (first == last_first) continue;
    last_first = first;
    for (std::int64_t i = 0; i < plan.p.kernel_h; ++i) build(first + i * plan.p.dilation_h);
  }
}

// One task: tiles [tile_begin, tile_end) x channel chunks [chunk_begin, chunk_end), in sub-chunks of
// kSubChunk channels (outer) so that the int32 / float outputs are written as few sequential streams.
template <int L>
void run_tiles(const ConvPlan& plan, const OutputSink& sink, const LayoutSource& src, const std::int64_t* taps,
               const word_t* weights, std::int64_t tile_begin, std::int64_t tile_end, std::int64_t chunk_begin,
               std::int64_t chunk_end) {
  constexpr int kMaxVecs = kMaxTileVecs * kMaxGroupTiles;
  const Conv2DParams& p = plan.p;
  const int max_vecs = plan.isa.max_vecs;
  std::int64_t base[kMaxVecs], sample[kMaxVecs], pixel[kMaxVecs], valid[kMaxVecs];
  const std::int64_t v0 = tile_begin * max_vecs;
  const int nvecs = static_cast<int>(std::min<std::int64_t>((tile_end - tile_begin) * max_vecs, plan.num_vecs - v0));
  plan.locate_tile(v0, nvecs, sample, pixel, valid, base);
  const std::int64_t pixels = plan.out_h * plan.out_w, out_words = words_for(p.out_channels);
  const std::int32_t k = static_cast<std::int32_t>(plan.k);
  // Task scratch (the same sizes for every task of a call, so the layout rows built earlier stay valid).
  ScratchLayout layout;
  const std::size_t counts_at = layout.add<std::int32_t>(kSubChunk * max_vecs * L);
  const std::size_t row_at = layout.add<word_t>(plan.row_scratch_words());
  const std::size_t xs_at = layout.add<word_t>(plan.xs_words());
  layout.allocate(Scratch::task());
  std::int32_t* counts = layout.at<std::int32_t>(counts_at);
  word_t* xs = layout.at<word_t>(xs_at);
  build_missing_units(plan, src, v0, base, nvecs, xs, layout.at<word_t>(row_at));
  for (std::int64_t ci = chunk_begin; ci < chunk_end; ++ci) {
    const ChannelChunk& chunk = plan.chunks[ci];
    for (std::int64_t sub = chunk.begin; sub < chunk.end; sub += kSubChunk) {
      const std::int64_t nchan = std::min(kSubChunk, chunk.end - sub);
      for (int t0 = 0; t0 < nvecs; t0 += max_vecs) {
        const int nvec = std::min(max_vecs, nvecs - t0);
        const std::int64_t tile_lanes = nvec * L;
        // Per-vector targets (index of the vector's first pixel, channel 0, in the (N, O, OH, OW) output) in
        // locals: the output stores cannot alias them.
        std::int64_t target[kMaxTileVecs], lanes[kMaxTileVecs];
        for (int v = 0; v < nvec; ++v) {
          target[v] = sample[t0 + v] * p.out_channels * pixels + pixel[t0 + v];
          lanes[v] = valid[t0 + v];
        }
        if (sink.kind == OutputKind::float32 && plan.isa.conv_float) {
          const FloatTile tile{sink.scale + sub, sink.bias + sub,
                               sink.residual != nullptr ? sink.residual + sub * pixels : nullptr,
                               sink.f32 + sub * pixels, pixels, target, lanes, k};
          plan.isa.conv_float(xs, base + t0, nvec, taps + chunk.group * plan.kwords, plan.kwords,
                              weights + sub * plan.kwords, nchan, tile);
          continue;
        }
        plan.isa.conv_counts(xs, base + t0, nvec, taps + chunk.group * plan.kwords, plan.kwords,
                             weights + sub * plan.kwords, nchan, counts);
        if (sink.kind == OutputKind::packed) {
          std::uint32_t bits[kMaxTileLanes];
          (plan.isa.sign_bits ? plan.isa.sign_bits : sign_bits)(counts, tile_lanes, nchan, sink.count_lo + sub,
                                                                 sink.count_span + sub, bits);
          for (int v = t0; v < t0 + nvec; ++v) {
            word_t* word = sink.bits + (sample[v] * pixels + pixel[v]) * out_words + sub / 64;
            for (std::int64_t j = 0; j < valid[v]; ++j) word[j * out_words] |= word_t(bits[(v - t0) * L + j]) << (sub % 64);
          }
          continue;
        }
        for (std::int64_t c = 0; c < nchan; ++c) {
          const std::int64_t o = sub + c;
          const std::int32_t* cnt = counts + c * tile_lanes;
          if (sink.kind == OutputKind::int32) {
            std::int32_t* plane = sink.i32 + o * pixels;
            for (int v = 0; v < nvec; ++v) store_dots<L>(cnt + v * L, k, lanes[v], plane + target[v]);
          } else {
            float* plane = sink.f32 + o * pixels;
            const float* res = sink.residual != nullptr ? sink.residual + o * pixels : nullptr;
            const float scale = sink.scale[o], bias = sink.bias[o];
            for (int v = 0; v < nvec; ++v)
              store_affine<L>(cnt + v * L, k, scale, bias, lanes[v], res != nullptr ? res + target[v] : nullptr,
                              plane + target[v]);
          }
        }
      }
    }
  }
}

using RunTileFn = void (*)(const ConvPlan&, const OutputSink&, const LayoutSource&, const std::int64_t*,
                           const word_t*, std::int64_t, std::int64_t, std::int64_t, std::int64_t);

RunTileFn run_tile_for(int lanes) {
  switch (lanes) {
    case 1: return run_tiles<1>;
    case 2: return run_tiles<2>;
    case 4: return run_tiles<4>;
    case 8: return run_tiles<8>;
  }
  throw Error("binary_conv2d: unsupported lane count " + std::to_string(lanes));
}

void run_conv(const Conv2DParams& p, const word_t* input, const word_t* weights, OutputKind kind, void* out,
              const float* scale, const float* bias, const float* residual, const char* op) {
  p.validate(op);
  if (input == nullptr || weights == nullptr || out == nullptr)
    throw Error(std::string(op) + ": null input, weight or output pointer");
  const IsaKernels& isa = current_kernels();
  if (isa.max_vecs > kMaxTileVecs || isa.max_vecs * isa.lanes > kMaxTileLanes)
    throw Error(std::string(op) + ": kernel tile too large");
  const bool packed = kind == OutputKind::packed;
  const ConvPlan plan(p, isa, get_num_threads(), packed);
  const RunTileFn tile_fn = run_tile_for(plan.lanes);

  ScratchLayout layout;
  const std::size_t pad_at = layout.add<word_t>(plan.words_per_pixel);
  const std::size_t taps_at = layout.add<std::int64_t>(p.groups * plan.kwords);
  const std::size_t sink_at = layout.add<char>(sink_scratch_bytes(kind, p.out_channels));
  layout.allocate(Scratch::call());
  word_t* pad = layout.at<word_t>(pad_at);
  std::int64_t* taps = layout.at<std::int64_t>(taps_at);
  for (std::int64_t g = 0; g < p.groups; ++g) {
    for (std::int64_t w = 0; w < plan.cwg; ++w) pad[g * plan.cwg + w] = pad_word(p.channels_per_group(), w);
    plan.tap_offsets(g, taps + g * plan.kwords);
  }

  OutputSink sink = make_sink(op, kind, out, scale, bias, p.out_channels, plan.k, p.output_words(),
                              layout.at<char>(sink_at));
  sink.residual = residual;
  const LayoutSource src{input, pad, build_unit_for(plan.planes, plan.lanes, plan.flat), g_next_call.fetch_add(1)};

  const std::int64_t num_chunks = static_cast<std::int64_t>(plan.chunks.size());
  parallel_for(static_cast<int>(plan.tasks()), [&](int task) {
    // Part-major: with few tiles of unequal size (7 vectors = 4 + 3), each thread's share of the tasks
    // holds every tile for some channel parts, not the big tiles for one thread and the small for the other.
    const std::int64_t part = task / plan.num_groups, group = task % plan.num_groups;
    tile_fn(plan, sink, src, taps, weights, group * plan.group_tiles,
            std::min(plan.num_tiles, (group + 1) * plan.group_tiles), split_point(num_chunks, plan.parts, part),
            split_point(num_chunks, plan.parts, part + 1));
  });
}

}  // namespace
}  // namespace detail

void binary_conv2d_int32(const Conv2DParams& p, const word_t* input, const word_t* weights, std::int32_t* out) {
  detail::run_conv(p, input, weights, detail::OutputKind::int32, out, nullptr, nullptr, nullptr,
                   "binary_conv2d_int32");
}

void binary_conv2d_float(const Conv2DParams& p, const word_t* input, const word_t* weights, const float* scale,
                         const float* bias, float* out) {
  detail::run_conv(p, input, weights, detail::OutputKind::float32, out, scale, bias, nullptr, "binary_conv2d_float");
}

void binary_conv2d_float_add(const Conv2DParams& p, const word_t* input, const word_t* weights, const float* scale,
                             const float* bias, const float* residual, float* out) {
  if (residual == nullptr) throw Error("binary_conv2d_float_add: null residual pointer");
  detail::run_conv(p, input, weights, detail::OutputKind::float32, out, scale, bias, residual,
                   "binary_conv2d_float_add");
}

void binary_conv2d_packed(const Conv2DParams& p, const word_t* input, const word_t* weights, const float* scale,
                          const float* bias, word_t* out) {
  detail::run_conv(p, input, weights, detail::OutputKind::packed, out, scale, bias, nullptr, "binary_conv2d_packed");
}

}  // namespace bmx
