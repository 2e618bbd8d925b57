// Operator attributes as MXNet passes them (strings), with typed, checked accessors.
//
// An Attrs views MXNet's key and value arrays without copying them (they are built for every operator call):
// it is valid only during the entry-point call it was made for.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bmx_mxnet {

class Attrs {
 public:
  Attrs(const char* op, const char* const* keys, const char* const* vals, int num);

  const std::string& op() const { return op_; }
  bool has(const std::string& key) const { return find(key) != nullptr; }

  /// An integer attribute >= `min`; `fallback` when absent, OpError when absent and `required`.
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min, bool required = false) const;
  /// "True"/"False"/"1"/"0" (any case).
  bool boolean(const std::string& key, bool fallback) const;
  /// A pair "(a, b)" (or "[a, b]" or a single int meaning (a, a)), each >= `min`.
  std::pair<std::int64_t, std::int64_t> pair(const std::string& key, std::pair<std::int64_t, std::int64_t> fallback,
                                             std::int64_t min, bool required = false) const;
  /// One of `choices`; `fallback` when absent.
  std::string choice(const std::string& key, const std::vector<std::string>& choices, const std::string& fallback) const;

 private:
  /// The value of `key`, or nullptr when absent.
  const char* find(const std::string& key) const;
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;
  std::string op_;
  const char* const* keys_;
  const char* const* vals_;
  int num_;
};

}  // namespace bmx_mxnet
