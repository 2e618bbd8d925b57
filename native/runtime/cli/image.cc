#include "image.h"

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>

#ifdef BMX_WITH_JPEG
#include <jpeglib.h>
#endif
#ifdef BMX_WITH_PNG
#include <png.h>
#endif

namespace bmx {
namespace cli {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("'" + path + "': " + what);
}

constexpr int64_t kMaxPixels = int64_t{1} << 28;

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open");
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Binary PPM: "P6", width, height, maxval (<= 255), one whitespace, then RGB bytes; '#' comments allowed.
Image read_ppm(const std::string& path, const std::string& bytes) {
  size_t pos = 2;
  auto next_int = [&]() -> int64_t {
    for (;;) {
      while (pos < bytes.size() && std::isspace(static_cast<unsigned char>(bytes[pos]))) ++pos;
      if (pos < bytes.size() && bytes[pos] == '#') {
        while (pos < bytes.size() && bytes[pos] != '\n') ++pos;
        continue;
      }
      break;
    }
    int64_t v = 0;
    size_t digits = 0;
    for (; pos < bytes.size() && std::isdigit(static_cast<unsigned char>(bytes[pos])) && digits < 9; ++pos, ++digits)
      v = v * 10 + (bytes[pos] - '0');
    if (digits == 0) fail(path, "malformed PPM header");
    return v;
  };
  Image im;
  int64_t w = next_int(), h = next_int(), maxval = next_int();
  if (w < 1 || h < 1 || w * h > kMaxPixels) fail(path, "bad PPM size");
  if (maxval < 1 || maxval > 255) fail(path, "only 8-bit PPM (maxval <= 255) is supported");
  ++pos;  // the single whitespace after maxval
  if (pos > bytes.size() || bytes.size() - pos < static_cast<size_t>(w * h * 3)) fail(path, "truncated PPM data");
  im.width = static_cast<int>(w);
  im.height = static_cast<int>(h);
  im.rgb.assign(bytes.begin() + static_cast<long>(pos), bytes.begin() + static_cast<long>(pos + w * h * 3));
  if (maxval != 255)
    for (auto& v : im.rgb) v = static_cast<uint8_t>(std::min<int64_t>(255, v * 255 / maxval));
  return im;
}

#ifdef BMX_WITH_JPEG
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

Image read_jpeg(const std::string& path, const std::string& bytes) {
  jpeg_decompress_struct info;
  JpegError err;
  info.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = [](j_common_ptr c) {
    auto* e = reinterpret_cast<JpegError*>(c->err);
    (*c->err->format_message)(c, e->message);
    std::longjmp(e->jump, 1);
  };
  Image im;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&info);
    fail(path, std::string("JPEG decoding failed: ") + err.message);
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  info.out_color_space = JCS_RGB;
  jpeg_start_decompress(&info);
  if (static_cast<int64_t>(info.output_width) * info.output_height > kMaxPixels || info.output_components != 3) {
    jpeg_destroy_decompress(&info);
    fail(path, "unsupported JPEG size or colour layout");
  }
  im.width = static_cast<int>(info.output_width);
  im.height = static_cast<int>(info.output_height);
  im.rgb.resize(static_cast<size_t>(im.width) * im.height * 3);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = im.rgb.data() + static_cast<size_t>(info.output_scanline) * im.width * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return im;
}
#endif

#ifdef BMX_WITH_PNG
Image read_png(const std::string& path, const std::string& bytes) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size())) fail(path, std::string("PNG: ") + png.message);
  png.format = PNG_FORMAT_RGB;
  if (static_cast<int64_t>(png.width) * png.height > kMaxPixels) {
    png_image_free(&png);
    fail(path, "PNG too large");
  }
  Image im;
  im.width = static_cast<int>(png.width);
  im.height = static_cast<int>(png.height);
  im.rgb.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, im.rgb.data(), 0, nullptr)) fail(path, std::string("PNG: ") + png.message);
  return im;
}
#endif

}  // namespace

std::string image_formats() {
  std::string s = "ppm";
#ifdef BMX_WITH_JPEG
  s += ", jpeg";
#endif
#ifdef BMX_WITH_PNG
  s += ", png";
#endif
  return s;
}

Image read_image(const std::string& path) {
  const std::string bytes = read_all(path);
  if (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] == '6') return read_ppm(path, bytes);
#ifdef BMX_WITH_JPEG
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF && static_cast<unsigned char>(bytes[1]) == 0xD8)
    return read_jpeg(path, bytes);
#endif
#ifdef BMX_WITH_PNG
  if (bytes.size() >= 8 && bytes.compare(1, 3, "PNG") == 0) return read_png(path, bytes);
#endif
  fail(path, "unrecognised image format (this build reads " + image_formats() + ")");
}

}  // namespace cli
}  // namespace bmx
