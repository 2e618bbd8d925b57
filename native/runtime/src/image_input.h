// Turn an 8-bit image into one sample of a model's NCHW float input, by the model's input convention
// (model_file.h; the meaning of each field is in bmxnet_ext/model_metadata.py).
#ifndef BMX_RUNTIME_IMAGE_INPUT_H_
#define BMX_RUNTIME_IMAGE_INPUT_H_

#include <cstdint>

#include "model_file.h"

namespace bmx {
namespace rt {

// `pixels`: height x width x channels bytes, row-major, channels 1 (grey), 3 (RGB) or 4 (RGBA, alpha
// ignored). `out`: out_channels x out_height x out_width floats. out_channels 1 takes the luma
// 0.299 R + 0.587 G + 0.114 B of a colour image; out_channels 3 takes a grey image as three equal channels,
// and reverses the channels for a BGR convention. Sizes and channel counts are checked (BMX_ERR_INVALID_ARGUMENT).
void image_to_input(const uint8_t* pixels, int height, int width, int channels, const InputConvention& c,
                    int out_channels, int out_height, int out_width, float* out);

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_IMAGE_INPUT_H_
