// Read and write NumPy .npy files (little-endian, C order); reading checks every header field.
#ifndef BMX_CLI_NPY_H_
#define BMX_CLI_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

namespace bmx {
namespace cli {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Throws std::runtime_error naming the file and the problem (not .npy, dtype other than <f4 (float64 is
// converted), Fortran order, size mismatch, truncation).
NpyArray read_npy(const std::string& path);

// Write an array as .npy (version 1.0, C order): descr '<f4', '<i4' or '<u8' with item size 4, 4 or 8.
// Written to a temporary file, then renamed, so a reader never sees a partial file. Throws on I/O errors.
void write_npy(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
               const void* data, size_t nbytes);

}  // namespace cli
}  // namespace bmx

#endif  // BMX_CLI_NPY_H_
