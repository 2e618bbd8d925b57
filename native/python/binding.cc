// pybind11 module bmxnet_ext._native: NumPy in, NumPy out, over the native core's public API (bmx/bmx.h).
//
// bmxnet_ext/native.py is the documented Python API; it documents and forwards. This layer checks what only it
// sees (dtype, rank, contiguity, the optional affine and `out` arrays), the core checks the geometry
// (bmx::conv2d_geometry, dense_geometry, packed_pixel_words), each once. bmx::Error (a std::invalid_argument)
// arrives in Python as ValueError, wrong dtypes as TypeError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bmx/bmx.h"

namespace py = pybind11;

namespace {

std::vector<std::int64_t> dims(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

std::string shape_of(const py::array& a) { return bmx::shape_string(dims(a)); }

// An array argument: a numpy.ndarray (TypeError naming `op` and `name` otherwise; lists are not converted).
py::array array_arg(const py::object& value, const char* op, const char* name) {
  if (!py::isinstance<py::array>(value))
    throw py::type_error(std::string(op) + ": expected `" + name + "` as a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(value).attr("__name__"))));
  return value.cast<py::array>();
}

void require_layout(const py::array& a, int ndim, const char* op, const char* name) {
  if (ndim >= 0 && a.ndim() != ndim)
    throw py::value_error(std::string(op) + ": expected `" + name + "` with " + std::to_string(ndim) +
                          " dimensions, got shape " + shape_of(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(op) + ": expected a C-contiguous `" + name + "`, got strides that are not");
}

const float* floats(const py::array& a, int ndim, const char* op, const char* name) {
  if (!a.dtype().is(py::dtype::of<float>()))
    throw py::type_error(std::string(op) + ": expected `" + name + "` of dtype float32, got " +
                         std::string(py::str(a.dtype())) + " with shape " + shape_of(a));
  require_layout(a, ndim, op, name);
  return static_cast<const float*>(a.data());
}

const bmx::word_t* words(const py::array& a, int ndim, const char* op, const char* name) {
  if (!a.dtype().is(py::dtype::of<std::uint64_t>()) && !a.dtype().is(py::dtype::of<std::int64_t>()))
    throw py::type_error(std::string(op) + ": expected packed `" + name + "` of dtype uint64 or int64, got " +
                         std::string(py::str(a.dtype())) + " with shape " + shape_of(a));
  require_layout(a, ndim, op, name);
  return static_cast<const bmx::word_t*>(a.data());
}

// Optional per-channel affine: both None or both float32 (size,).
std::pair<const float*, const float*> affine(const py::object& scale, const py::object& bias, std::int64_t size,
                                             const char* op, bool required) {
  if (scale.is_none() != bias.is_none())
    throw py::value_error(std::string(op) + ": give both `scale` and `bias` or neither");
  if (scale.is_none()) {
    if (required)
      throw py::value_error(std::string(op) + ": out_format 'float' and 'packed' need `scale` and `bias` of shape (" +
                            std::to_string(size) + ",)");
    return {nullptr, nullptr};
  }
  py::array s = array_arg(scale, op, "scale"), b = array_arg(bias, op, "bias");
  const float* sp = floats(s, 1, op, "scale");
  const float* bp = floats(b, 1, op, "bias");
  if (s.shape(0) != size || b.shape(0) != size)
    throw py::value_error(std::string(op) + ": expected `scale` and `bias` of shape (" + std::to_string(size) +
                          ",), got " + shape_of(s) + " and " + shape_of(b));
  return {sp, bp};
}

py::array_t<std::uint64_t> new_words(std::vector<py::ssize_t> shape) { return py::array_t<std::uint64_t>(shape); }

// Byte range [first, last) of an array's data.
std::pair<const char*, const char*> byte_range(const py::array& a) {
  const char* first = static_cast<const char*>(a.data());
  return {first, first + a.nbytes()};
}

bool overlaps(const py::array& a, const py::array& b) {
  const auto ra = byte_range(a), rb = byte_range(b);
  return ra.first < rb.second && rb.first < ra.second;
}

// The output array of a call: a new array of `shape` and dtype T if `out` is None, else `out` after checking
// that it is a writeable C-contiguous array of `shape` and dtype T (for T = uint64 also int64, read bit for bit)
// whose memory does not overlap any of `inputs` (None entries are skipped) except `same_ok`, which it may be
// exactly (an in-place update reads each element before writing it).
template <typename T>
py::array output(const py::object& out, const std::vector<py::ssize_t>& shape, const char* op,
                 std::initializer_list<py::object> inputs, const py::object& same_ok = py::none()) {
  if (out.is_none()) return py::array_t<T>(shape);
  if (!py::isinstance<py::array>(out))
    throw py::type_error(std::string(op) + ": expected `out` as a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(out).attr("__name__"))));
  py::array a = out.cast<py::array>();
  const bool words_alias = std::is_same<T, std::uint64_t>::value && a.dtype().is(py::dtype::of<std::int64_t>());
  if (!a.dtype().is(py::dtype::of<T>()) && !words_alias)
    throw py::type_error(std::string(op) + ": expected `out` of dtype " + std::string(py::str(py::dtype::of<T>())) +
                         ", got " + std::string(py::str(a.dtype())));
  require_layout(a, static_cast<int>(shape.size()), op, "out");
  if (!a.writeable()) throw py::value_error(std::string(op) + ": `out` is read-only");
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (a.shape(i) != shape[i])
      throw py::value_error(std::string(op) + ": expected `out` of shape " + bmx::shape_string({shape.begin(), shape.end()}) + ", got " +
                            shape_of(a));
  if (!same_ok.is_none()) {
    py::array same = same_ok.cast<py::array>();
    if (overlaps(a, same) && (a.data() != same.data() || a.nbytes() != same.nbytes()))
      throw py::value_error(std::string(op) + ": `out` partly overlaps `residual` (it may be the very same array)");
  }
  for (const py::object& input : inputs)
    if (!input.is_none() && overlaps(a, input.cast<py::array>()))
      throw py::value_error(std::string(op) + ": `out` overlaps an input array");
  return a;
}

py::array pack_activations(const py::object& x_arg, std::int64_t groups, const py::object& scale, const py::object& bias,
                           const py::object& out_arg) {
  const char* op = "pack_activations";
  const py::array x = array_arg(x_arg, op, "x");
  const float* xp = floats(x, -1, op, "x");
  if (x.ndim() != 2 && x.ndim() != 4)
    throw py::value_error(std::string(op) + ": expected `x` of shape (N, C, H, W) or (N, K), got " + shape_of(x));
  if (x.ndim() == 2 && groups != 1)
    throw py::value_error(std::string(op) + ": groups apply to (N, C, H, W) input only, got groups=" +
                          std::to_string(groups) + " for x " + shape_of(x));
  // (N, K) packs like (N, K, 1, 1) with one group
  const std::int64_t n = x.shape(0), c = x.shape(1), h = x.ndim() == 4 ? x.shape(2) : 1,
                     w = x.ndim() == 4 ? x.shape(3) : 1;
  const std::int64_t words = bmx::packed_pixel_words(op, n, c, h, w, groups);
  auto ab = affine(scale, bias, c, op, false);
  std::vector<py::ssize_t> shape = {n, static_cast<py::ssize_t>(words)};
  if (x.ndim() == 4) shape = {n, h, w, static_cast<py::ssize_t>(words)};
  py::array out = output<std::uint64_t>(out_arg, shape, op, {x, scale, bias});
  auto* op_out = static_cast<bmx::word_t*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    if (x.ndim() == 2)
      bmx::pack_rows(xp, n, c, ab.first, ab.second, op_out);
    else
      bmx::pack_activations_nchw(xp, n, c, h, w, groups, ab.first, ab.second, op_out);
  }
  return out;
}

py::array pack_conv_weights(const py::object& w_arg) {
  const py::array w = array_arg(w_arg, "pack_conv_weights", "weight");
  const float* wp = floats(w, 4, "pack_conv_weights", "weight");
  auto out = new_words({w.shape(0), w.shape(2), w.shape(3), static_cast<py::ssize_t>(bmx::words_for(w.shape(1)))});
  {
    py::gil_scoped_release release;  // inner scope: returning the py::array_t as py::array takes a reference
    bmx::pack_conv_weights(wp, w.shape(0), w.shape(1), w.shape(2), w.shape(3), out.mutable_data());
  }
  return out;
}

py::array pack_dense_weights(const py::object& w_arg) {
  const py::array w = array_arg(w_arg, "pack_dense_weights", "weight");
  const float* wp = floats(w, 2, "pack_dense_weights", "weight");
  auto out = new_words({w.shape(0), static_cast<py::ssize_t>(bmx::words_for(w.shape(1)))});
  {
    py::gil_scoped_release release;  // inner scope: returning the py::array_t as py::array takes a reference
    bmx::pack_dense_weights(wp, w.shape(0), w.shape(1), out.mutable_data());
  }
  return out;
}

enum class Format { int32, float32, packed };

Format parse_format(const std::string& f, const char* op) {
  if (f == "int32") return Format::int32;
  if (f == "float") return Format::float32;
  if (f == "packed") return Format::packed;
  throw py::value_error(std::string(op) + ": expected out_format 'int32', 'float' or 'packed', got '" + f + "'");
}

py::array binary_conv2d(const py::object& x_arg, const py::object& w_arg, std::int64_t in_channels,
                        std::pair<std::int64_t, std::int64_t> stride, std::pair<std::int64_t, std::int64_t> pad,
                        std::pair<std::int64_t, std::int64_t> dilation, std::int64_t groups,
                        const std::string& out_format, const py::object& scale, const py::object& bias,
                        const py::object& residual, const py::object& out_arg) {
  const char* op = "binary_conv2d";
  const py::array x = array_arg(x_arg, op, "data"), w = array_arg(w_arg, op, "weight");
  const bmx::word_t* xp = words(x, 4, op, "data");
  const bmx::word_t* wp = words(w, 4, op, "weight");
  bmx::Conv2DParams given;
  given.in_channels = in_channels;
  given.stride_h = stride.first, given.stride_w = stride.second;
  given.pad_h = pad.first, given.pad_w = pad.second;
  given.dilation_h = dilation.first, given.dilation_w = dilation.second;
  given.groups = groups;
  const bmx::Conv2DParams p = bmx::conv2d_geometry(op, given, dims(x), dims(w));
  Format format = parse_format(out_format, op);
  auto ab = affine(scale, bias, p.out_channels, op, format != Format::int32);
  const py::ssize_t n = p.batch, o = p.out_channels, oh = p.out_height(), ow = p.out_width();
  if (!residual.is_none() && format != Format::float32)
    throw py::value_error(std::string(op) + ": `residual` needs out_format 'float', got '" + out_format + "'");
  if (format == Format::packed) {
    py::array out = output<std::uint64_t>(out_arg, {n, oh, ow, static_cast<py::ssize_t>(bmx::words_for(o))}, op,
                                          {x, w, scale, bias});
    py::gil_scoped_release release;
    bmx::binary_conv2d_packed(p, xp, wp, ab.first, ab.second, static_cast<bmx::word_t*>(out.mutable_data()));
    return out;
  }
  if (format == Format::float32) {
    if (!residual.is_none()) {
      py::array r = array_arg(residual, op, "residual");
      const float* rp = floats(r, 4, op, "residual");
      if (r.shape(0) != n || r.shape(1) != o || r.shape(2) != oh || r.shape(3) != ow)
        throw py::value_error(std::string(op) + ": expected `residual` of the output's shape " +
                              bmx::shape_string({n, o, oh, ow}) + ", got " + shape_of(r));
      py::array out = output<float>(out_arg, {n, o, oh, ow}, op, {x, w, scale, bias}, residual);
      py::gil_scoped_release release;
      bmx::binary_conv2d_float_add(p, xp, wp, ab.first, ab.second, rp, static_cast<float*>(out.mutable_data()));
      return out;
    }
    py::array out = output<float>(out_arg, {n, o, oh, ow}, op, {x, w, scale, bias});
    py::gil_scoped_release release;
    bmx::binary_conv2d_float(p, xp, wp, ab.first, ab.second, static_cast<float*>(out.mutable_data()));
    return out;
  }
  py::array out = output<std::int32_t>(out_arg, {n, o, oh, ow}, op, {x, w});
  py::gil_scoped_release release;
  bmx::binary_conv2d_int32(p, xp, wp, static_cast<std::int32_t*>(out.mutable_data()));
  return out;
}

py::array binary_dense(const py::object& x_arg, const py::object& w_arg, std::int64_t in_units, const std::string& out_format,
                       const py::object& scale, const py::object& bias, const py::object& out_arg) {
  const char* op = "binary_dense";
  const py::array x = array_arg(x_arg, op, "data"), w = array_arg(w_arg, op, "weight");
  const bmx::word_t* xp = words(x, 2, op, "data");
  const bmx::word_t* wp = words(w, 2, op, "weight");
  const bmx::DenseParams p = bmx::dense_geometry(op, in_units, dims(x), dims(w));
  Format format = parse_format(out_format, op);
  auto ab = affine(scale, bias, p.out_units, op, format != Format::int32);
  const py::ssize_t n = p.batch, o = p.out_units;
  if (format == Format::packed) {
    py::array out = output<std::uint64_t>(out_arg, {n, static_cast<py::ssize_t>(bmx::words_for(o))}, op,
                                          {x, w, scale, bias});
    py::gil_scoped_release release;
    bmx::binary_dense_packed(p, xp, wp, ab.first, ab.second, static_cast<bmx::word_t*>(out.mutable_data()));
    return out;
  }
  if (format == Format::float32) {
    py::array out = output<float>(out_arg, {n, o}, op, {x, w, scale, bias});
    py::gil_scoped_release release;
    bmx::binary_dense_float(p, xp, wp, ab.first, ab.second, static_cast<float*>(out.mutable_data()));
    return out;
  }
  py::array out = output<std::int32_t>(out_arg, {n, o}, op, {x, w});
  py::gil_scoped_release release;
  bmx::binary_dense_int32(p, xp, wp, static_cast<std::int32_t*>(out.mutable_data()));
  return out;
}

py::array binary_gemm(const py::object& a_arg, const py::object& b_arg, std::int64_t k) {
  const char* op = "binary_gemm";
  const py::array a = array_arg(a_arg, op, "a"), b = array_arg(b_arg, op, "b");
  const bmx::word_t* ap = words(a, 2, op, "a");
  const bmx::word_t* bp = words(b, 2, op, "b");
  const bmx::DenseParams p = bmx::dense_geometry(op, k, dims(a), dims(b));
  py::array_t<std::int32_t> out({p.batch, p.out_units});
  {
    py::gil_scoped_release release;  // inner scope: returning the py::array_t as py::array takes a reference
    bmx::binary_gemm(p.batch, p.out_units, k, ap, bp, out.mutable_data());
  }
  return out;
}

py::tuple sign_intervals(const py::object& scale_arg, const py::object& bias_arg, std::int64_t k) {
  const char* op = "sign_intervals";
  const py::array scale = array_arg(scale_arg, op, "scale"), bias = array_arg(bias_arg, op, "bias");
  const float* s = floats(scale, 1, op, "scale");
  const float* b = floats(bias, 1, op, "bias");
  if (scale.shape(0) != bias.shape(0))
    throw py::value_error(std::string(op) + ": expected `scale` and `bias` of one shape, got " + shape_of(scale) +
                          " and " + shape_of(bias));
  std::vector<bmx::SignInterval> iv(scale.shape(0));
  bmx::sign_intervals(s, b, scale.shape(0), k, iv.data());
  py::array_t<std::int32_t> lo(scale.shape(0)), hi(scale.shape(0));
  for (std::size_t i = 0; i < iv.size(); ++i) {
    lo.mutable_data()[i] = iv[i].lo;
    hi.mutable_data()[i] = iv[i].hi;
  }
  return py::make_tuple(lo, hi);
}

std::vector<std::string> available_isas() {
  std::vector<std::string> names;
  for (bmx::Isa isa : bmx::available_isas()) names.push_back(bmx::isa_name(isa));
  return names;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "bmx native core: bit-packing and xnor/popcount kernels (see bmxnet_ext.native for the documented API)";
  m.attr("WORD_BITS") = bmx::kWordBits;
  m.def("available_isas", &available_isas);
  m.def("best_isa", [] { return std::string(bmx::isa_name(bmx::best_isa())); });
  m.def("current_isa", [] { return std::string(bmx::isa_name(bmx::current_isa())); });
  m.def("kernels_isa", [] { return std::string(bmx::isa_name(bmx::kernels_isa())); });
  m.def("force_isa", [](const std::string& name) { bmx::force_isa(bmx::parse_isa(name)); });
  m.def("reset_isa", &bmx::reset_isa);
  m.def("kernel_calls", [](const std::string& name) { return bmx::kernel_calls(bmx::parse_isa(name)); });
  m.def("set_num_threads", &bmx::set_num_threads);
  m.def("get_num_threads", &bmx::get_num_threads);
  m.def("pack_activations", &pack_activations, py::arg("x"), py::arg("groups") = 1, py::arg("scale") = py::none(),
        py::arg("bias") = py::none(), py::arg("out") = py::none());
  m.def("pack_conv_weights", &pack_conv_weights, py::arg("weight"));
  m.def("pack_dense_weights", &pack_dense_weights, py::arg("weight"));
  m.def("binary_conv2d", &binary_conv2d, py::arg("data"), py::arg("weight"), py::arg("in_channels"),
        py::arg("stride"), py::arg("pad"), py::arg("dilation"), py::arg("groups"), py::arg("out_format"),
        py::arg("scale") = py::none(), py::arg("bias") = py::none(), py::arg("residual") = py::none(),
        py::arg("out") = py::none());
  m.def("binary_dense", &binary_dense, py::arg("data"), py::arg("weight"), py::arg("in_units"),
        py::arg("out_format"), py::arg("scale") = py::none(), py::arg("bias") = py::none(),
        py::arg("out") = py::none());
  m.def("binary_gemm", &binary_gemm, py::arg("a"), py::arg("b"), py::arg("k"));
  m.def("sign_intervals", &sign_intervals, py::arg("scale"), py::arg("bias"), py::arg("k"));
  m.def("peak_binary_macs_per_second", [](const std::string& isa, int threads, double seconds) {
    py::gil_scoped_release release;
    return bmx::peak_binary_macs_per_second(bmx::parse_isa(isa), threads, seconds);
  }, py::arg("isa"), py::arg("threads"), py::arg("seconds") = 0.2);
}
