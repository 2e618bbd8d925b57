// Operator attributes as MXNet passes them (strings), with typed, checked accessors.
//
// An Attrs views MXNet's key and value arrays without copying them (they are built for every operator call):
// it is valid only during the entry-point call it was made for.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace bmx_mxnet {

class Attrs {
 public:
  Attrs(const char* op, const char* const* keys, const char* const* vals, int num);

  const std::string& op() const { return op_; }
  bool has(const char* key) const { return find(key) != nullptr; }

  /// An integer attribute >= `min`; `fallback` when absent, OpError when absent and `required`.
  std::int64_t integer(const char* key, std::int64_t fallback, std::int64_t min, bool required = false) const;
  /// "True"/"False"/"1"/"0" (any case).
  bool boolean(const char* key, bool fallback) const;
  /// A pair "(a, b)" (or "[a, b]" or a single int meaning (a, a)), each >= `min`.
  std::pair<std::int64_t, std::int64_t> pair(const char* key, std::pair<std::int64_t, std::int64_t> fallback,
                                             std::int64_t min, bool required = false) const;
  /// The index in `choices` of the value; `fallback` (an index) when absent. No allocation: this runs for every
  /// operator call.
  int choice(const char* key, std::initializer_list<const char*> choices, int fallback) const;

 private:
  /// The value of `key`, or nullptr when absent.
  const char* find(const char* key) const;
  [[noreturn]] void fail(const char* key, const std::string& expected) const;
  std::string op_;
  const char* const* keys_;
  const char* const* vals_;
  int num_;
};

}  // namespace bmx_mxnet
