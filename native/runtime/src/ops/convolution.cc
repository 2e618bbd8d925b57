// Full-precision 2-D convolution (MXNet `Convolution`, NCHW, zero padding, groups, dilation).
//
// Per image and group: out (O/G x OH*OW) = W (O/G x K) * col (K x OH*OW) + bias, K = C/G * KH * KW, with
// col the im2col matrix. The weights are packed once for the GEMM micro-kernel; col is never materialised:
// each task packs the im2col panel of one tile of output pixels straight from the image into per-thread
// scratch and multiplies it with every block of output channels (tiles are spread over the threads).
// A BatchNorm and a ReLU that only this convolution feeds are fused into the GEMM's epilogue at load time.
#include <cstring>

#include "ops/gemm.h"
#include "ops/ops.h"

namespace bmx {
namespace rt {
namespace {

constexpr int64_t kPanelFloats = 1 << 14;  // target panel size (64 KiB): K x tile columns stays in L2
constexpr int64_t kMaxInteriorKernelW = 32;  // wider kernels take the bounds-checked im2col path

class Convolution : public Op {
 public:
  explicit Convolution(const NodeDesc& node) : Op(node), kernel_(select_gemm_kernel()) {
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
    require_supported(kernel_.nr <= 64, "GEMM kernel ", kernel_.isa, " has nr ", kernel_.nr, " > 64");
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
    return TensorInfo{DType::kFloat32, Shape{n_, o_, oh_, ow_}};
  }

  // A following BatchNorm: (acc * s + t) * s2 + t2 = acc * (s * s2) + (t * s2 + t2).
  bool absorb_affine(const std::vector<float>& scale, const std::vector<float>& shift) override {
    if (relu_ || static_cast<int64_t>(scale.size()) != o_ || static_cast<int64_t>(shift.size()) != o_) return false;
    for (int64_t c = 0; c < o_; ++c) {
      scale_[c] *= scale[c];
      shift_[c] = shift_[c] * scale[c] + shift[c];
    }
    return true;
  }

  bool absorb_relu() override { return relu_ = true; }

  size_t owned_weight_bytes() const override {
    size_t total = (scale_.size() + shift_.size()) * sizeof(float);
    for (const auto& p : packed_) total += p.size() * sizeof(float);
    return total;
  }

  size_t scratch_bytes(int threads) const override {
    return static_cast<size_t>(threads) * panel_bytes() + phase_bytes();
  }

  void run(const RunContext& ctx, const std::vector<const void*>& inputs, void* output) override {
    const float* x = fin(inputs, 0);
    float* y = static_cast<float*>(output);
    const int64_t pixels = oh_ * ow_, tiles = (pixels + tile_ - 1) / tile_;
    const size_t panel_stride = panel_bytes() / sizeof(float);
    float* phases = sw_ > 1 ? static_cast<float*>(ctx.scratch) + ctx.pool->size() * panel_stride : nullptr;
    if (phases) {
      ctx.pool->parallel_for(n_ * c_, [&](int64_t plane, int) {
        split_phases(x + plane * h_ * w_, phases + plane * h_ * phase_row());
      });
    }
    ctx.pool->parallel_for(n_ * g_ * tiles, [&](int64_t task, int thread) {
      const int64_t t = task % tiles, ng = task / tiles, g = ng % g_, n = ng / g_;
      const int64_t col0 = t * tile_, cols = std::min(tile_, pixels - col0);
      float* panel = static_cast<float*>(ctx.scratch) + thread * panel_stride;
      const int64_t first_plane = n * c_ + g * (c_ / g_);
      pack_panel(x + first_plane * h_ * w_, phases ? phases + first_plane * h_ * phase_row() : nullptr, col0, cols,
                 panel);
      multiply(panel, cols, g, y + (n * o_ + g * (o_ / g_)) * pixels + col0, pixels);
    });
  }

 private:
  size_t panel_bytes() const { return align64(static_cast<size_t>(k_ * tile_) * sizeof(float)); }

  // With stride_w > 1 the image is also kept split by column phase: row r of a plane holds, for phase
  // p < stride_w, the columns p, p + sw, p + 2 sw, ... at [p * phase_width, ...). The stride_w-spaced inputs
  // of a block's columns are then contiguous.
  int64_t phase_width() const { return (w_ + sw_ - 1) / sw_; }
  int64_t phase_row() const { return sw_ * phase_width(); }
  size_t phase_bytes() const {
    return sw_ > 1 ? align64(static_cast<size_t>(n_ * c_ * h_ * phase_row()) * sizeof(float)) : 0;
  }

  void split_phases(const float* plane, float* out) const {
    const int64_t pw = phase_width();
    for (int64_t r = 0; r < h_; ++r, plane += w_, out += phase_row())
      for (int64_t p = 0; p < sw_; ++p)
        for (int64_t i = 0; p + i * sw_ < w_; ++i) out[p * pw + i] = plane[p + i * sw_];
  }

  // im2col of output pixels [col0, col0 + cols) of one image and group, in nr-column blocks [K][nr]; columns
  // past `cols` are zero. Blocks whose pixels share one output row and whose windows lie inside the image are
  // copied without bounds checks (most of them for large images), from the column phases when stride_w > 1.
  void pack_panel(const float* x, const float* phases, int64_t col0, int64_t cols, float* panel) const {
    const int64_t nr = kernel_.nr, blocks = (cols + nr - 1) / nr, cg = c_ / g_;
    int64_t ih0[64], iw0[64];  // per column of a block: top-left input position of its window
    for (int64_t b = 0; b < blocks; ++b) {
      float* dst = panel + b * k_ * nr;
      const int64_t first = col0 + b * nr, valid = std::min(nr, cols - b * nr);
      for (int64_t j = 0; j < valid; ++j) {
        ih0[j] = ((first + j) / ow_) * sh_ - ph_;
        iw0[j] = ((first + j) % ow_) * sw_ - pw_;
      }
      const bool interior = valid == nr && kw_ <= kMaxInteriorKernelW && ih0[0] == ih0[nr - 1] && ih0[0] >= 0 &&
                            ih0[0] + (kh_ - 1) * dh_ < h_ && iw0[0] >= 0 && iw0[nr - 1] + (kw_ - 1) * dw_ < w_;
      if (interior) {
        pack_interior_block(x, phases, ih0[0], iw0[0], dst);
        continue;
      }
      int64_t p = 0;
      for (int64_t c = 0; c < cg; ++c) {
        const float* xc = x + c * h_ * w_;
        for (int64_t i = 0; i < kh_; ++i) {
          for (int64_t q = 0; q < kw_; ++q, ++p) {
            float* d = dst + p * nr;
            for (int64_t j = 0; j < valid; ++j) {
              const int64_t ih = ih0[j] + i * dh_, iw = iw0[j] + q * dw_;
              d[j] = ih >= 0 && ih < h_ && iw >= 0 && iw < w_ ? xc[ih * w_ + iw] : 0.f;
            }
            for (int64_t j = valid; j < nr; ++j) d[j] = 0.f;
          }
        }
      }
    }
  }

  // A block of nr columns of one output row whose windows lie inside the image (top-left input (ih0, iw0)):
  // every panel row is a contiguous run of nr values, of the image (stride_w 1) or of its column phases.
  void pack_interior_block(const float* x, const float* phases, int64_t ih0, int64_t iw0, float* dst) const {
    const int64_t nr = kernel_.nr, cg = c_ / g_, row_len = phases ? phase_row() : w_;
    const float* image = phases ? phases : x;
    int64_t column[kMaxInteriorKernelW];  // offset of kernel column q's run inside an image row
    for (int64_t q = 0; q < kw_; ++q) {
      const int64_t iw = iw0 + q * dw_;
      column[q] = phases ? iw % sw_ * phase_width() + iw / sw_ : iw;
    }
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t i = 0; i < kh_; ++i) {
        const float* row = image + (c * h_ + ih0 + i * dh_) * row_len;
        for (int64_t q = 0; q < kw_; ++q, dst += nr) {
          if (nr == 16) {  // the AVX2 kernel's width: a fixed-size copy the compiler inlines
            std::memcpy(dst, row + column[q], 16 * sizeof(float));
          } else {
            std::copy(row + column[q], row + column[q] + nr, dst);
          }
        }
      }
  }


  void multiply(const float* panel, int64_t cols, int64_t g, float* out, int64_t ldc) const {
    const int mr = kernel_.mr, nr = kernel_.nr;
    const int64_t og = o_ / g_, mblocks = (og + mr - 1) / mr, nblocks = (cols + nr - 1) / nr;
    const float* a = packed_[g].data();
    for (int64_t mb = 0; mb < mblocks; ++mb) {
      const int rows = static_cast<int>(std::min<int64_t>(mr, og - mb * mr));
      for (int64_t nb = 0; nb < nblocks; ++nb) {
        const int ncols = static_cast<int>(std::min<int64_t>(nr, cols - nb * nr));
        const int64_t row = g * og + mb * mr;
        kernel_.block(k_, a + mb * k_ * mr, panel + nb * k_ * nr, out + mb * mr * ldc + nb * nr, ldc, rows, ncols,
                      scale_.data() + row, shift_.data() + row, relu_);
      }
    }
  }

  const GemmKernel& kernel_;
  int64_t kh_, kw_, sh_, sw_, dh_, dw_, ph_, pw_, o_, g_;
  bool no_bias_;
  int64_t n_ = 0, c_ = 0, h_ = 0, w_ = 0, oh_ = 0, ow_ = 0, k_ = 0, tile_ = 0;
  std::vector<std::vector<float>> packed_;
  std::vector<float> scale_, shift_;
  bool relu_ = false;
};

}  // namespace

std::unique_ptr<Op> make_convolution(const NodeDesc& node) { return std::make_unique<Convolution>(node); }

}  // namespace rt
}  // namespace bmx
