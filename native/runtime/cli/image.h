// Decode an image file into 8-bit RGB pixels (the runtime's bmx_model_set_input_image turns them into the
// model's input by its input convention).
//
// Formats: binary PPM (P6, always), JPEG and PNG when built with libjpeg / libpng (CMake finds them;
// BMX_WITH_JPEG / BMX_WITH_PNG).
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

// The formats this build decodes, e.g. "ppm, jpeg, png".
std::string image_formats();

}  // namespace cli
}  // namespace bmx

#endif  // BMX_CLI_IMAGE_H_
