#include "attrs.h"

#include <cctype>
#include <charconv>
#include <cstring>
#include <strings.h>
#include <system_error>

#include "op_registry.h"

namespace bmx_mxnet {

namespace {

/// Parse `[first, last)` (blanks around it allowed) as an integer; false if it is not one. No streams: this
/// runs for every attribute of every operator call.
bool parse_int(const char* first, const char* last, std::int64_t* value) {
  while (first < last && std::isspace(static_cast<unsigned char>(*first))) ++first;
  while (last > first && std::isspace(static_cast<unsigned char>(last[-1]))) --last;
  if (last - first > 1 && *first == '+' && std::isdigit(static_cast<unsigned char>(first[1]))) ++first;
  const auto result = std::from_chars(first, last, *value);
  return first < last && result.ec == std::errc() && result.ptr == last;
}

}  // namespace

Attrs::Attrs(const char* op, const char* const* keys, const char* const* vals, int num)
    : op_(op), keys_(keys), vals_(vals), num_(num) {}

const char* Attrs::find(const char* key) const {
  for (int i = num_ - 1; i >= 0; --i)  // the last of repeated keys wins
    if (std::strcmp(keys_[i], key) == 0) return vals_[i];
  return nullptr;
}

void Attrs::fail(const char* key, const std::string& expected) const {
  const char* value = find(key);
  std::string got = value == nullptr ? "nothing" : "'" + std::string(value) + "'";
  throw OpError(op_ + ": expected attribute `" + key + "` to be " + expected + ", got " + got + ".");
}

std::int64_t Attrs::integer(const char* key, std::int64_t fallback, std::int64_t min, bool required) const {
  const char* text = find(key);
  auto bad = [&] { fail(key, "an integer >= " + std::to_string(min)); };  // the message only when needed
  if (text == nullptr) {
    if (required) bad();
    return fallback;
  }
  std::int64_t value = 0;
  if (!parse_int(text, text + std::strlen(text), &value) || value < min) bad();
  return value;
}

bool Attrs::boolean(const char* key, bool fallback) const {
  const char* text = find(key);
  if (text == nullptr) return fallback;
  if (strcasecmp(text, "true") == 0 || std::strcmp(text, "1") == 0) return true;
  if (strcasecmp(text, "false") == 0 || std::strcmp(text, "0") == 0) return false;
  fail(key, "True or False");
}

std::pair<std::int64_t, std::int64_t> Attrs::pair(const char* key,
                                                  std::pair<std::int64_t, std::int64_t> fallback,
                                                  std::int64_t min, bool required) const {
  const char* text = find(key);
  auto bad = [&] { fail(key, "a pair (a, b) of integers >= " + std::to_string(min)); };
  if (text == nullptr) {
    if (required) bad();
    return fallback;
  }
  // "(a, b)", "[a, b]", "(a,)" or "a": integers separated by brackets, commas and blanks
  std::int64_t values[2] = {0, 0};
  int count = 0;
  const char* end = text + std::strlen(text);
  for (const char* p = text; p < end;) {
    if (*p == '(' || *p == ')' || *p == '[' || *p == ']' || *p == ',' || std::isspace(static_cast<unsigned char>(*p))) {
      ++p;
      continue;
    }
    const char* token = p;
    while (p < end && *p != ')' && *p != ']' && *p != ',' && !std::isspace(static_cast<unsigned char>(*p))) ++p;
    if (count == 2 || !parse_int(token, p, &values[count++])) bad();
  }
  if (count == 0) bad();
  if (count == 1) values[1] = values[0];
  if (values[0] < min || values[1] < min) bad();
  return {values[0], values[1]};
}

int Attrs::choice(const char* key, std::initializer_list<const char*> choices, int fallback) const {
  const char* text = find(key);
  if (text == nullptr) return fallback;
  int index = 0;
  for (const char* c : choices) {
    if (std::strcmp(c, text) == 0) return index;
    ++index;
  }
  std::string expected = "one of";
  for (const char* c : choices) expected += " '" + std::string(c) + "'";
  fail(key, expected);
}

}  // namespace bmx_mxnet
