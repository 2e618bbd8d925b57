#include "npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace bmx {
namespace cli {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("'" + path + "': " + what);
}

// The value text of `key` in the header dict ("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }").
std::string header_value(const std::string& header, const std::string& key, const std::string& path) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) fail(path, "the .npy header has no '" + key + "' entry");
  size_t colon = header.find(':', k);
  if (colon == std::string::npos) fail(path, "malformed .npy header");
  size_t begin = header.find_first_not_of(' ', colon + 1);
  if (begin == std::string::npos) fail(path, "malformed .npy header");
  size_t end = header[begin] == '(' ? header.find(')', begin) + 1 : header.find_first_of(",}", begin);
  if (end == std::string::npos || end == 0 || end <= begin) fail(path, "malformed .npy header");
  return header.substr(begin, end - begin);
}

std::vector<int64_t> parse_shape(const std::string& text, const std::string& path) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') fail(path, "bad shape " + text);
  std::vector<int64_t> shape;
  size_t i = 1;
  while (i < text.size() - 1) {
    while (i < text.size() - 1 && (text[i] == ' ' || text[i] == ',')) ++i;
    if (i >= text.size() - 1) break;
    int64_t v = 0;
    size_t digits = 0;
    for (; i < text.size() - 1 && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
      if (v > (int64_t{1} << 40)) fail(path, "shape entry too large in " + text);
      v = v * 10 + (text[i] - '0');
    }
    if (digits == 0) fail(path, "bad shape " + text);
    shape.push_back(v);
    if (shape.size() > 8) fail(path, "more than 8 dimensions in " + text);
  }
  return shape;
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) fail(path, "not a .npy file");
  const auto major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(path, "truncated .npy header");
    header_len = 0;
    for (int i = 3; i >= 0; --i) header_len = header_len << 8 | static_cast<unsigned char>(bytes[8 + i]);
    header_start = 12;
  } else {
    fail(path, ".npy format version " + std::to_string(major) + " is not supported");
  }
  if (header_len > bytes.size() - header_start) fail(path, "truncated .npy header");
  const std::string header = bytes.substr(header_start, header_len);
  const std::string descr = header_value(header, "descr", path);
  const bool f8 = descr == "'<f8'";
  if (descr != "'<f4'" && !f8) fail(path, "expected dtype '<f4' (float32) or '<f8', got " + descr);
  if (header_value(header, "fortran_order", path) != "False") fail(path, "Fortran-order arrays are not supported");
  NpyArray a;
  a.shape = parse_shape(header_value(header, "shape", path), path);
  uint64_t count = 1;
  for (int64_t d : a.shape) {
    if (d != 0 && count > (uint64_t{1} << 34) / static_cast<uint64_t>(d)) fail(path, "array too large");
    count *= static_cast<uint64_t>(d);
  }
  const size_t item = f8 ? 8 : 4, offset = header_start + header_len;
  if (bytes.size() - offset != count * item) {
    fail(path, "expected " + std::to_string(count * item) + " data bytes for the shape, got " +
                   std::to_string(bytes.size() - offset));
  }
  a.data.resize(count);
  for (size_t i = 0; i < count; ++i) {
    if (f8) {
      double v;
      std::memcpy(&v, bytes.data() + offset + 8 * i, 8);
      a.data[i] = static_cast<float>(v);
    } else {
      std::memcpy(&a.data[i], bytes.data() + offset + 4 * i, 4);
    }
  }
  return a;
}

void write_npy(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
               const void* data, size_t nbytes) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');  // pad so the data starts at a multiple of 64
  header += '\n';
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail(tmp, "cannot create");
    const char preamble[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
    const uint16_t len = static_cast<uint16_t>(header.size());
    const char len_bytes[2] = {static_cast<char>(len & 0xFF), static_cast<char>(len >> 8)};
    f.write(preamble, 8).write(len_bytes, 2).write(header.data(), static_cast<std::streamsize>(header.size()));
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(nbytes));
    if (!f.flush()) fail(tmp, "write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, "cannot rename the temporary file into place");
}

}  // namespace cli
}  // namespace bmx
