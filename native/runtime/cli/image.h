// Decode an image file and turn it into a network input.
//
// Formats: binary PPM (P6, always), JPEG and PNG when built with libjpeg / libpng (CMake finds them;
// BMX_WITH_JPEG / BMX_WITH_PNG). Preprocessing (the ImageNet evaluation convention of gluoncv):
//   1. resize so the shorter side is round(S / 0.875) for a target S x S' (bilinear, pixel centres aligned),
//   2. centre crop to the model's input height x width,
//   3. x = (pixel / 255 - mean[c]) / std[c] per RGB channel, stored (1, 3, H, W) float32.
#ifndef BMX_CLI_IMAGE_H_
#define BMX_CLI_IMAGE_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace bmx {
namespace cli {

struct Image {
  int height = 0, width = 0;
  std::vector<uint8_t> rgb;  // height * width * 3, row-major
};

// Throws std::runtime_error naming the file and the problem.
Image read_image(const std::string& path);

std::vector<float> preprocess(const Image& image, int height, int width, const std::array<float, 3>& mean,
                              const std::array<float, 3>& std);

// The formats this build decodes, e.g. "ppm, jpeg, png".
std::string image_formats();

}  // namespace cli
}  // namespace bmx

#endif  // BMX_CLI_IMAGE_H_
