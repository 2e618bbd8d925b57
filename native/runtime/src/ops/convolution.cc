// Full-precision 2-D convolution (MXNet `Convolution`, NCHW, zero padding, groups, dilation).
//
// Per image and group: out (O/G x OH*OW) = W (O/G x K) * col (K x OH*OW) + bias, K = C/G * KH * KW, with
// col the im2col matrix. The weights are packed once for the GEMM micro-kernel; col is never materialised.
// The input is first staged: zero-padded and split by column phase (stage_plane), so that for a block of nr
// output pixels of one row every row of B is nr contiguous floats. A task takes a tile of output pixels, in
// blocks of nr. When an output row holds at least nr pixels, tiles are whole rows and every block lies in one
// row: the micro-kernel reads it in place through K precomputed offsets, and a row's last block ends at the
// row's end (overlapping the block before it, whose outputs it recomputes to the same bits). Narrower rows
// are packed (im2col) block by block into per-thread scratch. Each block is multiplied with every block of
// output channels.
// A BatchNorm and a ReLU that only this convolution feeds are fused into the GEMM's epilogue at load time.
// A max pooling that only this convolution feeds is fused too, when output rows are computed in place
// (OW >= nr): a task then takes a band of pooled rows of one image and group, computes the convolution rows
// their windows need, in ascending order and each once, into a per-thread ring of KH_pool rows (all channels
// of the group), and pools every pooled row as soon as its window's rows are there (ops/pool2d.h, as the
// Pooling operator). The full-resolution output is never written out; a row under the windows of two bands is
// computed by both (see run_pooled()).
#include "bmx/float_kernels.h"
#include "ops/ops.h"
#include "ops/pool2d.h"

namespace bmx {
namespace rt {
namespace {

constexpr int64_t kPanelFloats = 1 << 14;  // work per task: about K x tile = 16K multiply-adds per channel

class Convolution : public Op {
 public:
  explicit Convolution(const NodeDesc& node) : Op(node), kernel_(current_float_kernels()) {
    Attrs a(node);
    std::vector<int64_t> k = a.ints("kernel");
    require_supported(k.size() == 2, "only 2-D convolution is supported, kernel has ", k.size(), " values");
    kh_ = k[0], kw_ = k[1];
    auto s = a.ints("stride", 2, 1), d = a.ints("dilate", 2, 1), p = a.ints("pad", 2, 0);
    sh_ = s[0], sw_ = s[1], dh_ = d[0], dw_ = d[1], ph_ = p[0], pw_ = p[1];
    o_ = a.integer("num_filter");
    g_ = a.integer("num_group");
    no_bias_ = a.flag("no_bias");
    require_supported(a.text("layout") == "NCHW", "only layout NCHW is supported, got '", a.text("layout"), "'");
  }

  TensorInfo prepare(const std::vector<TensorArg>& in) override {
    require_inputs(in, no_bias_ ? 2 : 3, no_bias_ ? 2 : 3);
    require_dtype(in[0], DType::kFloat32, "data");
    const Shape& s = in[0].info.shape;
    require(s.size() == 4, "expected (N, C, H, W) data, got ", shape_string(s));
    n_ = s[0], c_ = s[1], h_ = s[2], w_ = s[3];
    require(kh_ >= 1 && kw_ >= 1 && sh_ >= 1 && sw_ >= 1 && dh_ >= 1 && dw_ >= 1 && ph_ >= 0 && pw_ >= 0,
            "expected positive kernel, stride, dilate and non-negative pad");
    require(g_ >= 1 && o_ >= 1 && c_ % g_ == 0 && o_ % g_ == 0, "channels ", c_, " and num_filter ", o_,
            " must be positive multiples of num_group ", g_);
    oh_ = (h_ + 2 * ph_ - dh_ * (kh_ - 1) - 1) / sh_ + 1;
    ow_ = (w_ + 2 * pw_ - dw_ * (kw_ - 1) - 1) / sw_ + 1;
    require(h_ + 2 * ph_ >= dh_ * (kh_ - 1) + 1 && w_ + 2 * pw_ >= dw_ * (kw_ - 1) + 1 && oh_ >= 1 && ow_ >= 1,
            "kernel ", kh_, "x", kw_, " does not fit the padded input ", h_ + 2 * ph_, "x", w_ + 2 * pw_);
    k_ = c_ / g_ * kh_ * kw_;
    require_supported(kernel_.nr <= 64, "GEMM kernel ", isa_name(kernel_.isa), " has nr ", kernel_.nr, " > 64");
    require_dtype(in[1], DType::kFloat32, "weight");
    require_shape(in[1], Shape{o_, c_ / g_, kh_, kw_}, "weight");
    require_constant(in[1], "weight");
    // Epilogue per output channel: y = acc * scale + shift (padded by mr so a block never reads past it).
    scale_.assign(static_cast<size_t>(o_ + kernel_.mr), 1.f);
    shift_.assign(static_cast<size_t>(o_ + kernel_.mr), 0.f);
    if (!no_bias_) {
      require_dtype(in[2], DType::kFloat32, "bias");
      require_shape(in[2], Shape{o_}, "bias");
      require_constant(in[2], "bias");
      const float* b = static_cast<const float*>(in[2].data);
      std::copy(b, b + o_, shift_.begin());
    }
    const int64_t og = o_ / g_;
    const float* w = static_cast<const float*>(in[1].data);
    for (int64_t g = 0; g < g_; ++g) packed_.push_back(pack_gemm_a(kernel_, w + g * og * k_, og, k_, k_));
    const int64_t nr = kernel_.nr;
    tile_ = std::max<int64_t>(nr, kPanelFloats / std::max<int64_t>(1, k_) / nr * nr);
    tile_ = std::min(tile_, (oh_ * ow_ + nr - 1) / nr * nr);
    if (ow_ >= nr) tile_ = std::max<int64_t>(1, tile_ / ow_) * ow_;  // whole output rows
    compute_block_offsets();
    return TensorInfo{DType::kFloat32, Shape{n_, o_, oh_, ow_}};
  }

  // A following BatchNorm: (acc * s + t) * s2 + t2 = acc * (s * s2) + (t * s2 + t2).
  bool absorb_affine(const std::vector<float>& scale, const std::vector<float>& shift) override {
    if (relu_ || pooled_ || static_cast<int64_t>(scale.size()) != o_ || static_cast<int64_t>(shift.size()) != o_) {
      return false;
    }
    for (int64_t c = 0; c < o_; ++c) {
      scale_[c] *= scale[c];
      shift_[c] = shift_[c] * scale[c] + shift[c];
    }
    return true;
  }

  bool absorb_relu() override {
    if (pooled_) return false;
    return relu_ = true;
  }

  // A max pooling of this output (pool.in == {OH, OW}): only on the in-place whole-row path, and with a
  // pooling window of at most OH rows (a thread's ring of KH_pool rows then holds at most one image's output).
  bool absorb_max_pool(const Pool2d& pool) override {
    if (pooled_ || ow_ < kernel_.nr || pool.in[0] != oh_ || pool.in[1] != ow_ || pool.kernel[0] > oh_) return false;
    pool_ = pool;
    return pooled_ = true;
  }

  size_t owned_weight_bytes() const override {
    size_t total = (scale_.size() + shift_.size()) * sizeof(float);
    for (const auto& p : packed_) total += p.size() * sizeof(float);
    return total;
  }

  // Per thread: the im2col block, or with a fused pooling the ring of rows; then the staged input.
  size_t scratch_bytes(int threads) const override {
    return static_cast<size_t>(threads) * thread_bytes() + staged_bytes();
  }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    float* y = static_cast<float*>(output);
    const int64_t pixels = oh_ * ow_, tiles = (pixels + tile_ - 1) / tile_;
    const size_t thread_stride = thread_bytes() / sizeof(float);
    float* staged = static_cast<float*>(ctx.scratch) + ctx.pool->size() * thread_stride;
    ctx.pool->parallel_for(n_ * c_, [&](int64_t plane, int) {
      stage_plane(x + plane * h_ * w_, staged + plane * staged_plane());
    });
    if (pooled_) return run_pooled(ctx, staged, y);
    ctx.pool->parallel_for(n_ * g_ * tiles, [&](int64_t task, int thread) {
      const int64_t t = task % tiles, ng = task / tiles, g = ng % g_, n = ng / g_;
      const int64_t first_plane = n * c_ + g * (c_ / g_);
      const float* image = x + first_plane * h_ * w_;
      const float* image_staged = staged + first_plane * staged_plane();
      float* packed = static_cast<float*>(ctx.scratch) + thread * thread_stride;
      float* out = y + (n * o_ + g * (o_ / g_)) * pixels;
      const int64_t end = std::min(pixels, (t + 1) * tile_);
      if (ow_ >= kernel_.nr) {  // tiles of whole rows
        for (int64_t row = t * tile_ / ow_; row < end / ow_; ++row) {
          output_row(image_staged, row, g, out + row * ow_, pixels);
        }
        return;
      }
      for (int64_t col = t * tile_; col < end; col += kernel_.nr) {
        const int cols = static_cast<int>(std::min<int64_t>(kernel_.nr, end - col));
        pack_block(image, col, cols, packed);
        multiply(packed, nullptr, cols, g, out + col, pixels);
      }
    });
  }

 private:
  size_t block_bytes() const { return align64(static_cast<size_t>(k_ * kernel_.nr) * sizeof(float)); }
  // With a fused pooling: KH_pool rows of all O/G channels of a group ([channel][KH_pool][OW]), then the
  // pooling's row buffer (OW floats).
  int64_t ring_floats() const { return o_ / g_ * pool_.kernel[0] * ow_; }
  size_t thread_bytes() const {
    return pooled_ ? align64(static_cast<size_t>(ring_floats() + ow_) * sizeof(float)) : block_bytes();
  }

  // Output row `row` (OW >= nr) of one image and group, read in place from its staged image, for every output
  // channel (channel c's row at out + c * ldc): blocks of nr pixels, the last one ending at the row's end.
  void output_row(const float* image_staged, int64_t row, int64_t g, float* out, int64_t ldc) const {
    const int64_t nr = kernel_.nr;
    for (int64_t col = 0; col < ow_; col += nr) {
      const int64_t c = std::min(col, ow_ - nr);
      multiply(image_staged + row * sh_ * phase_row() + c, block_offsets_.data(), static_cast<int>(nr), g, out + c,
               ldc);
    }
  }

  // The fused convolution + max pooling (the staged input is ready). A task is a band of pooled rows of one
  // image and group; bands per image and group = ceil(threads / (N * G)), at most PH, so that every thread
  // has a task. A pooled-row window of KH_pool rows with stride SH_pool shares KH_pool - SH_pool rows with the
  // next window, so each band boundary recomputes up to that many convolution rows (ResNet's stem, 2 threads,
  // batch 1: 1 of 112 rows).
  void run_pooled(const RunContext& ctx, const float* staged, float* y) const {
    const int64_t og = o_ / g_, ph = pool_.out[0], pw = pool_.out[1], slots = pool_.kernel[0];
    const int64_t per_image = std::min(ph, std::max<int64_t>(1, (ctx.pool->size() + n_ * g_ - 1) / (n_ * g_)));
    const int64_t band = (ph + per_image - 1) / per_image, bands = (ph + band - 1) / band;
    const size_t thread_stride = thread_bytes() / sizeof(float);
    ctx.pool->parallel_for(n_ * g_ * bands, [&](int64_t task, int thread) {
      const int64_t b = task % bands, ng = task / bands, g = ng % g_, n = ng / g_;
      const float* image_staged = staged + (n * c_ + g * (c_ / g_)) * staged_plane();
      float* ring = static_cast<float*>(ctx.scratch) + thread * thread_stride;  // row h at slot h % slots
      float* rows = ring + ring_floats();
      float* out = y + (n * o_ + g * og) * ph * pw;
      int64_t next = 0;  // convolution rows below `next` are computed (or not needed any more)
      for (int64_t r = b * band; r < std::min(ph, (b + 1) * band); ++r) {
        const Pool2d::Window w = pool_.window(r, 0);
        for (int64_t h = std::max(next, w.valid_begin); h < w.valid_end; ++h) {
          output_row(image_staged, h, g, ring + h % slots * ow_, slots * ow_);
        }
        next = std::max(next, w.valid_end);
        for (int64_t c = 0; c < og; ++c) {
          const float* channel = ring + c * slots * ow_;
          pool_.output_row(r, [&](int64_t h) { return channel + h % slots * ow_; }, out + (c * ph + r) * pw, rows);
        }
      }
    });
  }

  // The staged image: each plane zero-padded to (H + 2 pad_h) x (W + 2 pad_w) and every padded row split by
  // column phase: for phase p < stride_w, padded columns p, p + sw, p + 2 sw, ... at [p * phase_width, ...).
  // The inputs of nr adjacent output pixels of one row are then nr contiguous floats, for every tap.
  int64_t phase_width() const { return (w_ + 2 * pw_ + sw_ - 1) / sw_; }
  int64_t phase_row() const { return sw_ * phase_width(); }
  int64_t staged_plane() const { return (h_ + 2 * ph_) * phase_row(); }
  size_t staged_bytes() const { return align64(static_cast<size_t>(n_ * c_ * staged_plane()) * sizeof(float)); }

  // Every staged float is written once: the padding rows as zeros, then each row's phases as zeros, image
  // columns, zeros.
  void stage_plane(const float* plane, float* out) const {
    const int64_t width = phase_width();
    std::fill(out, out + ph_ * phase_row(), 0.f);
    std::fill(out + (ph_ + h_) * phase_row(), out + staged_plane(), 0.f);
    for (int64_t r = 0; r < h_; ++r, plane += w_) {
      float* row = out + (r + ph_) * phase_row();
      for (int64_t p = 0; p < sw_; ++p) {  // padded column p + i * sw is image column p + i * sw - pad_w
        float* phase = row + p * width;
        const int64_t first = std::min(width, p >= pw_ ? 0 : (pw_ - p + sw_ - 1) / sw_);
        int64_t i = first;
        std::fill(phase, phase + first, 0.f);
        for (int64_t c = p + first * sw_ - pw_; i < width && c < w_; ++i, c += sw_) phase[i] = plane[c];
        std::fill(phase + i, phase + width, 0.f);
      }
    }
  }

  // Offsets of the K = (c, i, q) inputs of output pixel (oh, ow) from staged row oh * sh, index ow: padded
  // column ow * sw + q * dw lies in phase (q * dw) mod sw at index ow + (q * dw) / sw.
  void compute_block_offsets() {
    block_offsets_.clear();
    for (int64_t c = 0; c < c_ / g_; ++c)
      for (int64_t i = 0; i < kh_; ++i)
        for (int64_t q = 0; q < kw_; ++q)
          block_offsets_.push_back(c * staged_plane() + i * dh_ * phase_row() + (q * dw_) % sw_ * phase_width() +
                                   (q * dw_) / sw_);
  }

  // im2col of output pixels [col, col + cols) of one image and group into one block [K][nr]; the input
  // outside the image is zero, columns past `cols` are zero.
  void pack_block(const float* x, int64_t col, int cols, float* dst) const {
    const int64_t nr = kernel_.nr, cg = c_ / g_;
    int64_t ih0[64], iw0[64];  // per column: top-left input position of its window (nr <= 64, see prepare)
    for (int j = 0; j < cols; ++j) {
      ih0[j] = ((col + j) / ow_) * sh_ - ph_;
      iw0[j] = ((col + j) % ow_) * sw_ - pw_;
    }
    int64_t p = 0;
    for (int64_t c = 0; c < cg; ++c) {
      const float* xc = x + c * h_ * w_;
      for (int64_t i = 0; i < kh_; ++i)
        for (int64_t q = 0; q < kw_; ++q, ++p) {
          float* d = dst + p * nr;
          for (int64_t j = 0; j < cols; ++j) {
            const int64_t ih = ih0[j] + i * dh_, iw = iw0[j] + q * dw_;
            d[j] = ih >= 0 && ih < h_ && iw >= 0 && iw < w_ ? xc[ih * w_ + iw] : 0.f;
          }
          for (int64_t j = cols; j < nr; ++j) d[j] = 0.f;
        }
    }
  }

  // Output columns [0, cols) of one block for every block of output channels of group g.
  void multiply(const float* b, const int64_t* offsets, int cols, int64_t g, float* out, int64_t ldc) const {
    const int mr = kernel_.mr;
    const int64_t og = o_ / g_, mblocks = (og + mr - 1) / mr;
    const float* a = packed_[g].data();
    for (int64_t mb = 0; mb < mblocks; ++mb) {
      const int rows = static_cast<int>(std::min<int64_t>(mr, og - mb * mr));
      const int64_t row = g * og + mb * mr;
      kernel_.block(k_, a + mb * k_ * mr, b, offsets, out + mb * mr * ldc, ldc, rows, cols, scale_.data() + row,
                    shift_.data() + row, relu_);
    }
  }

  const FloatKernels& kernel_;
  int64_t kh_, kw_, sh_, sw_, dh_, dw_, ph_, pw_, o_, g_;
  bool no_bias_;
  int64_t n_ = 0, c_ = 0, h_ = 0, w_ = 0, oh_ = 0, ow_ = 0, k_ = 0, tile_ = 0;
  std::vector<std::vector<float>> packed_;
  std::vector<float> scale_, shift_;
  std::vector<int64_t> block_offsets_;  // K offsets of a one-row block's B rows in the staged image
  bool relu_ = false;
  bool pooled_ = false;  // a fused max pooling `pool_`: run() writes the pooled tensor
  Pool2d pool_;
};

}  // namespace

std::unique_ptr<Op> make_convolution(const NodeDesc& node) { return std::make_unique<Convolution>(node); }

}  // namespace rt
}  // namespace bmx
