// Errors of the runtime: C++ exceptions inside, status codes at the C API boundary (c_api.cc).
#ifndef BMX_RUNTIME_ERROR_H_
#define BMX_RUNTIME_ERROR_H_

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "bmx_runtime.h"

namespace bmx {
namespace rt {

// An error with the C API status it maps to.
class Error : public std::runtime_error {
 public:
  Error(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Concatenate streamable values into one message.
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream s;
  (s << ... << std::forward<Args>(args));
  return s.str();
}

// Throw a BMX_ERR_FORMAT error unless `condition` holds (for file validation).
template <typename... Args>
void check_format(bool condition, Args&&... args) {
  if (!condition) throw Error(BMX_ERR_FORMAT, cat(std::forward<Args>(args)...));
}

// Throw a BMX_ERR_UNSUPPORTED error unless `condition` holds (valid file, feature this runtime lacks).
template <typename... Args>
void check_supported(bool condition, Args&&... args) {
  if (!condition) throw Error(BMX_ERR_UNSUPPORTED, cat(std::forward<Args>(args)...));
}

}  // namespace rt
}  // namespace bmx

#endif  // BMX_RUNTIME_ERROR_H_
