#include "attrs.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "op_registry.h"

namespace bmx_mxnet {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// Parse a whole string as an integer; false if it is not one.
bool parse_int(const std::string& text, std::int64_t* value) {
  std::istringstream in(text);
  in >> *value;
  if (in.fail()) return false;
  in >> std::ws;
  return in.eof();
}

}  // namespace

Attrs::Attrs(const char* op, const char* const* keys, const char* const* vals, int num) : op_(op) {
  for (int i = 0; i < num; ++i) values_[keys[i]] = vals[i];
}

void Attrs::fail(const std::string& key, const std::string& expected) const {
  auto it = values_.find(key);
  std::string got = it == values_.end() ? "nothing" : "'" + it->second + "'";
  throw OpError(op_ + ": expected attribute `" + key + "` to be " + expected + ", got " + got + ".");
}

std::int64_t Attrs::integer(const std::string& key, std::int64_t fallback, std::int64_t min, bool required) const {
  auto it = values_.find(key);
  std::string expected = "an integer >= " + std::to_string(min);
  if (it == values_.end()) {
    if (required) fail(key, expected);
    return fallback;
  }
  std::int64_t value = 0;
  if (!parse_int(it->second, &value) || value < min) fail(key, expected);
  return value;
}

bool Attrs::boolean(const std::string& key, bool fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  std::string v = lower(it->second);
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  fail(key, "True or False");
}

std::pair<std::int64_t, std::int64_t> Attrs::pair(const std::string& key,
                                                  std::pair<std::int64_t, std::int64_t> fallback,
                                                  std::int64_t min, bool required) const {
  auto it = values_.find(key);
  std::string expected = "a pair (a, b) of integers >= " + std::to_string(min);
  if (it == values_.end()) {
    if (required) fail(key, expected);
    return fallback;
  }
  std::string text = it->second;
  for (char& c : text) {
    if (c == '(' || c == ')' || c == '[' || c == ']' || c == ',') c = ' ';
  }
  std::istringstream in(text);
  std::vector<std::int64_t> values;
  std::int64_t v = 0;
  while (in >> v) values.push_back(v);
  in >> std::ws;
  if (!in.eof() || values.empty() || values.size() > 2) fail(key, expected);
  if (values.size() == 1) values.push_back(values[0]);
  if (values[0] < min || values[1] < min) fail(key, expected);
  return {values[0], values[1]};
}

std::string Attrs::choice(const std::string& key, const std::vector<std::string>& choices,
                          const std::string& fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  for (const auto& c : choices) {
    if (it->second == c) return c;
  }
  std::string expected = "one of";
  for (const auto& c : choices) expected += " '" + c + "'";
  fail(key, expected);
}

}  // namespace bmx_mxnet
