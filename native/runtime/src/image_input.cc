#include "image_input.h"

#include <algorithm>
#include <cmath>

#include "error.h"

namespace bmx {
namespace rt {

void image_to_input(const uint8_t* pixels, int height, int width, int channels, const InputConvention& c,
                    int out_channels, int out_height, int out_width, float* out) {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw Error(BMX_ERR_INVALID_ARGUMENT, message);
  };
  require(pixels != nullptr, "the image pixels are NULL");
  require(height > 0 && width > 0 && int64_t{height} * width <= (int64_t{1} << 28),
          cat("expected an image of 1 to 2^28 pixels, got ", height, " x ", width));
  require(channels == 1 || channels == 3 || channels == 4,
          cat("expected an image with 1, 3 or 4 channels, got ", channels));
  require(out_channels == 1 || out_channels == 3,
          cat("images feed inputs with 1 or 3 channels, the model's input has ", out_channels));
  require(c.color != InputConvention::kGray || out_channels == 1,
          cat("the model's convention is greyscale but its input has ", out_channels, " channels"));
  // Source size of the sampled region: the whole image stretched, or the centre of the scaled image.
  double rh = out_height, rw = out_width, top = 0, left = 0;
  if (c.resize == InputConvention::kCrop) {
    const double target = std::round(std::min(out_height, out_width) / c.crop_fraction);
    const double scale = target / std::min(height, width);
    rh = std::max<double>(out_height, std::round(height * scale));
    rw = std::max<double>(out_width, std::round(width * scale));
    top = std::floor((rh - out_height) / 2);
    left = std::floor((rw - out_width) / 2);
  }
  auto value = [&](int y, int x, int oc) -> double {
    const uint8_t* p = pixels + (static_cast<size_t>(y) * width + x) * channels;
    if (channels == 1) return p[0];
    if (out_channels == 1) return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    return p[c.color == InputConvention::kBGR ? 2 - oc : oc];
  };
  for (int oc = 0; oc < out_channels; ++oc) {
    const double mean = c.mean.size() == 1 ? c.mean[0] : c.mean[oc];
    const double stdev = c.std.size() == 1 ? c.std[0] : c.std[oc];
    for (int y = 0; y < out_height; ++y) {
      const double sy = std::clamp((y + top + 0.5) * height / rh - 0.5, 0.0, height - 1.0);
      const int y0 = static_cast<int>(sy), y1 = std::min(y0 + 1, height - 1);
      const double fy = sy - y0;
      for (int x = 0; x < out_width; ++x) {
        const double sx = std::clamp((x + left + 0.5) * width / rw - 0.5, 0.0, width - 1.0);
        const int x0 = static_cast<int>(sx), x1 = std::min(x0 + 1, width - 1);
        const double fx = sx - x0;
        const double v = (1 - fy) * ((1 - fx) * value(y0, x0, oc) + fx * value(y0, x1, oc)) +
                         fy * ((1 - fx) * value(y1, x0, oc) + fx * value(y1, x1, oc));
        out[(static_cast<size_t>(oc) * out_height + y) * out_width + x] =
            static_cast<float>((v * c.scale - mean) / stdev);
      }
    }
  }
}

}  // namespace rt
}  // namespace bmx
