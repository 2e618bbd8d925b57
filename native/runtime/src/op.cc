#include "op.h"

namespace bmx {
namespace rt {

void Op::require_inputs(const std::vector<TensorArg>& inputs, size_t min_count, size_t max_count) const {
  require(inputs.size() >= min_count && inputs.size() <= max_count, "expected ", min_count,
          min_count == max_count ? "" : cat(" to ", max_count), " inputs, got ", inputs.size());
}

void Op::require_dtype(const TensorArg& t, DType dtype, const char* role) const {
  require(t.info.dtype == dtype, "expected ", role, " '", t.name, "' to be ", dtype_name(dtype), ", got ",
          dtype_name(t.info.dtype));
}

void Op::require_shape(const TensorArg& t, const Shape& shape, const char* role) const {
  require(t.info.shape == shape, "expected ", role, " '", t.name, "' to have shape ", shape_string(shape),
          ", got ", shape_string(t.info.shape));
}

void Op::require_constant(const TensorArg& t, const char* role) const {
  require(t.data != nullptr, "expected ", role, " '", t.name, "' to be a constant (a stored weight)");
}

const Attr& Attrs::get(const char* key, Attr::Kind kind) const {
  auto it = node_.attrs.find(key);
  check_format(it != node_.attrs.end(), node_.op, " node '", node_.name, "' lacks attribute '", key, "'");
  static const char* names[] = {"an integer list", "a number", "a string"};
  check_format(it->second.kind == kind, node_.op, " node '", node_.name, "': expected attribute '", key,
               "' to be ", names[kind], ", got ", names[it->second.kind]);
  return it->second;
}

std::vector<int64_t> Attrs::ints(const char* key) const {
  const std::vector<int64_t>& v = get(key, Attr::kInts).ints;
  for (int64_t x : v) {
    check_format(x >= -kMaxAttrInt && x <= kMaxAttrInt, node_.op, " node '", node_.name, "': attribute '", key,
                 "' value ", x, " is outside [-", kMaxAttrInt, ", ", kMaxAttrInt, "]");
  }
  return v;
}

std::vector<int64_t> Attrs::ints(const char* key, size_t n, int64_t empty_default) const {
  std::vector<int64_t> v = ints(key);
  if (v.empty()) v.assign(n, empty_default);
  check_format(v.size() == n, node_.op, " node '", node_.name, "': expected attribute '", key, "' to have ", n,
               " values, got ", v.size());
  return v;
}

int64_t Attrs::integer(const char* key) const { return ints(key, 1, 0)[0]; }

bool Attrs::flag(const char* key) const {
  int64_t v = integer(key);
  check_format(v == 0 || v == 1, node_.op, " node '", node_.name, "': expected attribute '", key,
               "' to be 0 or 1, got ", v);
  return v == 1;
}

double Attrs::number(const char* key) const { return get(key, Attr::kFloat).number; }

std::string Attrs::text(const char* key) const { return get(key, Attr::kString).text; }

}  // namespace rt
}  // namespace bmx
