#include "model_file.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "crc32.h"
#include "error.h"

namespace bmx {
namespace rt {
namespace {

constexpr char kMagic[8] = {'B', 'M', 'X', 'M', 'O', 'D', 'E', 'L'};
constexpr uint32_t kMaxStringBytes = 1u << 16;
constexpr int64_t kMaxDim = int64_t{1} << 32;
constexpr int64_t kMaxElements = int64_t{1} << 36;

// Bounds-checked little-endian reads from [pos, end); every read names what it reads in its error.
class Reader {
 public:
  Reader(const uint8_t* begin, const uint8_t* end, size_t base) : begin_(begin), pos_(begin), end_(end), base_(base) {}

  size_t remaining() const { return static_cast<size_t>(end_ - pos_); }
  size_t file_offset() const { return base_ + static_cast<size_t>(pos_ - begin_); }

  template <typename T>
  T read(const char* what) {
    check_format(remaining() >= sizeof(T), "truncated graph block: reading ", what, " at byte ", file_offset(),
                 " needs ", sizeof(T), " bytes, ", remaining(), " left");
    T v;
    std::memcpy(&v, pos_, sizeof(T));  // the format is little-endian; big-endian hosts are rejected at build
    pos_ += sizeof(T);
    return v;
  }

  std::string string(const char* what) {
    uint32_t n = read<uint32_t>(what);
    check_format(n <= kMaxStringBytes, what, " at byte ", file_offset(), " has length ", n, " (max ",
                 kMaxStringBytes, ")");
    check_format(remaining() >= n, "truncated graph block: ", what, " of ", n, " bytes at byte ", file_offset(),
                 ", ", remaining(), " left");
    std::string s(reinterpret_cast<const char*>(pos_), n);
    pos_ += n;
    return s;
  }

  // A count of records of at least `min_record_bytes` each: bounded by the bytes left, so no huge allocation.
  uint32_t count(const char* what, size_t min_record_bytes) {
    uint32_t n = read<uint32_t>(what);
    check_format(static_cast<uint64_t>(n) * min_record_bytes <= remaining(), what, " = ", n,
                 " cannot fit in the ", remaining(), " bytes left at byte ", file_offset());
    return n;
  }

 private:
  const uint8_t* begin_;
  const uint8_t* pos_;
  const uint8_t* end_;
  size_t base_;
};

static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE-754 float and double required");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .bmx reader assumes a little-endian host"
#endif

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
uint64_t le64(const uint8_t* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }

Shape read_shape(Reader& r, int ndim, const std::string& tensor) {
  Shape shape(static_cast<size_t>(ndim));
  int64_t elements = 1;
  for (int i = 0; i < ndim; ++i) {
    uint64_t d = r.read<uint64_t>("a dimension");
    check_format(d <= static_cast<uint64_t>(kMaxDim), "tensor '", tensor, "' dimension ", i, " is ", d,
                 " (max ", kMaxDim, ")");
    shape[i] = static_cast<int64_t>(d);
    elements = d == 0 ? 0 : elements;
    check_format(elements == 0 || elements <= kMaxElements / static_cast<int64_t>(d), "tensor '", tensor,
                 "' has more than ", kMaxElements, " elements");
    elements *= static_cast<int64_t>(d);
  }
  return shape;
}

TensorDesc read_tensor(Reader& r, const uint8_t* file, size_t file_size) {
  TensorDesc t;
  t.name = r.string("a tensor name");
  uint8_t kind = r.read<uint8_t>("a tensor kind");
  uint8_t dtype = r.read<uint8_t>("a tensor dtype");
  uint8_t ndim = r.read<uint8_t>("a tensor ndim");
  uint8_t reserved = r.read<uint8_t>("a reserved byte");
  check_format(kind <= 2, "tensor '", t.name, "' has kind ", int(kind), " (expected 0 input, 1 constant, 2 intermediate)");
  check_format(dtype <= 2, "tensor '", t.name, "' has dtype ", int(dtype), " (expected 0 float32, 1 int32, 2 uint64)");
  check_format(ndim <= kMaxNdim, "tensor '", t.name, "' has ndim ", int(ndim), " (max ", kMaxNdim, ")");
  check_format(reserved == 0, "tensor '", t.name, "' has a non-zero reserved byte");
  t.kind = static_cast<TensorKind>(kind);
  t.dtype = static_cast<DType>(dtype);
  t.shape = read_shape(r, ndim, t.name);
  if (t.kind == TensorKind::kIntermediate) {
    check_format(ndim == 0, "intermediate tensor '", t.name, "' must not store a shape (ndim ", int(ndim), ")");
  } else {
    check_format(ndim > 0, "tensor '", t.name, "' needs a shape");
  }
  if (t.kind == TensorKind::kInput) {
    check_format(t.dtype == DType::kFloat32, "input '", t.name, "' must be float32, got ", dtype_name(t.dtype));
  }
  if (t.kind == TensorKind::kConstant) {
    uint64_t offset = r.read<uint64_t>("a data offset");
    uint64_t nbytes = r.read<uint64_t>("a data size");
    uint64_t expected = static_cast<uint64_t>(num_elements(t.shape)) * dtype_size(t.dtype);
    check_format(nbytes == expected, "constant '", t.name, "' has ", nbytes, " data bytes, its shape ",
                 shape_string(t.shape), " of ", dtype_name(t.dtype), " needs ", expected);
    check_format(offset % kDataAlignment == 0, "constant '", t.name, "' data offset ", offset,
                 " is not a multiple of ", kDataAlignment);
    check_format(offset >= kHeaderSize && offset <= file_size && nbytes <= file_size - offset, "constant '",
                 t.name, "' data [", offset, ", +", nbytes, ") lies outside the ", file_size, "-byte file");
    t.data = file + offset;
    t.nbytes = nbytes;
  }
  return t;
}

Attr read_attr(Reader& r, const std::string& node, const std::string& key) {
  Attr a;
  uint8_t kind = r.read<uint8_t>("an attribute kind");
  check_format(kind <= 2, "attribute '", key, "' of node '", node, "' has kind ", int(kind));
  a.kind = static_cast<Attr::Kind>(kind);
  if (a.kind == Attr::kInts) {
    uint32_t n = r.count("an integer-list length", 8);
    a.ints.resize(n);
    for (auto& v : a.ints) v = r.read<int64_t>("an integer attribute");
  } else if (a.kind == Attr::kFloat) {
    a.number = r.read<double>("a float attribute");
  } else {
    a.text = r.string("a string attribute");
  }
  return a;
}

NodeDesc read_node(Reader& r, size_t n_tensors) {
  NodeDesc n;
  n.op = r.string("an operator name");
  n.name = r.string("a node name");
  uint32_t n_attrs = r.count("an attribute count", 5);
  for (uint32_t i = 0; i < n_attrs; ++i) {
    std::string key = r.string("an attribute name");
    check_format(n.attrs.count(key) == 0, "node '", n.name, "' repeats attribute '", key, "'");
    n.attrs[key] = read_attr(r, n.name, key);
  }
  for (auto* list : {&n.inputs, &n.outputs}) {
    uint32_t count = r.count(list == &n.inputs ? "an input count" : "an output count", 4);
    list->resize(count);
    for (auto& id : *list) {
      id = r.read<uint32_t>("a tensor index");
      check_format(id < n_tensors, "node '", n.name, "' refers to tensor ", id, " of ", n_tensors);
    }
  }
  return n;
}

// The metadata section of format 1.1: typed entries; unknown keys are skipped (a newer minor version).
void read_metadata(Reader& r, ModelDesc& m) {
  enum Kind : uint8_t { kFloat = 1, kString = 2, kFloats = 3, kStrings = 4 };
  uint32_t n = r.count("the metadata entry count", 5);
  InputConvention& c = m.convention;
  for (uint32_t i = 0; i < n; ++i) {
    std::string key = r.string("a metadata key");
    uint8_t kind = r.read<uint8_t>("a metadata kind");
    check_format(kind >= kFloat && kind <= kStrings, "metadata entry '", key, "' has kind ", int(kind));
    double number = 0;
    std::string text;
    std::vector<double> numbers;
    std::vector<std::string> texts;
    if (kind == kFloat) {
      number = r.read<double>("a metadata number");
    } else if (kind == kString) {
      text = r.string("a metadata string");
    } else if (kind == kFloats) {
      numbers.resize(r.count("a metadata list length", 8));
      for (double& v : numbers) v = r.read<double>("a metadata number");
    } else {
      texts.resize(r.count("a metadata list length", 4));
      for (std::string& t : texts) t = r.string("a metadata string");
    }
    auto expect = [&](uint8_t want) {
      check_format(kind == want, "metadata entry '", key, "' has kind ", int(kind), ", expected ", int(want));
    };
    if (key == "layout") {
      expect(kString);
      check_format(text == "NCHW", "metadata layout is '", text, "', expected 'NCHW'");
    } else if (key == "color") {
      expect(kString);
      check_format(text == "RGB" || text == "BGR" || text == "GRAY", "metadata color is '", text,
                   "', expected RGB, BGR or GRAY");
      c.color = text == "RGB" ? InputConvention::kRGB : text == "BGR" ? InputConvention::kBGR : InputConvention::kGray;
    } else if (key == "resize") {
      expect(kString);
      check_format(text == "crop" || text == "stretch", "metadata resize is '", text, "', expected crop or stretch");
      c.resize = text == "crop" ? InputConvention::kCrop : InputConvention::kStretch;
    } else if (key == "scale") {
      expect(kFloat);
      c.scale = number;
    } else if (key == "crop_fraction") {
      expect(kFloat);
      c.crop_fraction = number;
    } else if (key == "mean" || key == "std") {
      expect(kFloats);
      (key == "mean" ? c.mean : c.std) = numbers;
    } else if (key == "labels") {
      expect(kStrings);
      m.labels = texts;
    }
    c.recorded = true;
  }
  validate_convention(c, BMX_ERR_FORMAT, "the file's metadata");
}

// Structure: tensors defined before use, each intermediate produced by exactly one node, inputs listed once.
void check_graph(const ModelDesc& m) {
  std::vector<char> defined(m.tensors.size(), 0);
  for (size_t i = 0; i < m.tensors.size(); ++i) defined[i] = m.tensors[i].kind == TensorKind::kConstant;
  std::vector<char> listed(m.tensors.size(), 0);
  for (uint32_t id : m.inputs) {
    check_format(m.tensors[id].kind == TensorKind::kInput, "graph input ", id, " ('", m.tensors[id].name,
                 "') is not an input tensor");
    check_format(!listed[id], "graph input '", m.tensors[id].name, "' is listed twice");
    listed[id] = defined[id] = 1;
  }
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    check_format(m.tensors[i].kind != TensorKind::kInput || listed[i], "input tensor '", m.tensors[i].name,
                 "' is not listed as a graph input");
  }
  for (const NodeDesc& n : m.nodes) {
    for (uint32_t id : n.inputs) {
      check_format(defined[id], "node '", n.name, "' uses tensor '", m.tensors[id].name,
                   "' before any node produces it");
    }
    for (uint32_t id : n.outputs) {
      check_format(m.tensors[id].kind == TensorKind::kIntermediate, "node '", n.name, "' writes tensor '",
                   m.tensors[id].name, "', which is not an intermediate");
      check_format(!defined[id], "tensor '", m.tensors[id].name, "' is produced twice");
      defined[id] = 1;
    }
  }
  check_format(!m.outputs.empty(), "the graph has no outputs");
  for (uint32_t id : m.outputs) {
    check_format(m.tensors[id].kind == TensorKind::kIntermediate && defined[id], "graph output '",
                 m.tensors[id].name, "' is not produced by any node");
  }
}

}  // namespace

void validate_convention(const InputConvention& c, int status, const char* what) {
  auto require = [&](bool ok, const std::string& message) {
    if (!ok) throw Error(status, cat(what, ": ", message));
  };
  const size_t channels = static_cast<size_t>(c.channels());
  for (const auto* values : {&c.mean, &c.std}) {
    const char* name = values == &c.mean ? "mean" : "std";
    require(values->size() == 1 || values->size() == channels,
            cat(name, " has ", values->size(), " values, expected 1 or ", channels));
    for (double v : *values) require(std::isfinite(v), cat(name, " has a non-finite value"));
  }
  for (double v : c.std) require(v != 0.0, "std has a zero value");
  require(std::isfinite(c.scale) && c.scale > 0, cat("scale is ", c.scale, ", expected a positive number"));
  require(c.crop_fraction > 0 && c.crop_fraction <= 1, cat("crop_fraction is ", c.crop_fraction,
                                                           ", expected a number in (0, 1]"));
}

ModelDesc parse_model(const uint8_t* data, size_t size) {
  check_format(data != nullptr && size >= kHeaderSize, "a .bmx file has a ", kHeaderSize,
               "-byte header, got ", size, " bytes");
  check_format(std::memcmp(data, kMagic, sizeof(kMagic)) == 0, "bad magic: not a .bmx model file");
  ModelDesc m;
  m.version_major = le16(data + 8);
  m.version_minor = le16(data + 10);
  check_supported(m.version_major == kFormatMajor, "model format version ", m.version_major, ".",
                  m.version_minor, " is not supported (this runtime reads ", kFormatMajor, ".x)");
  uint32_t header_size = le32(data + 12);
  uint64_t body_size = le64(data + 16);
  uint32_t crc = le32(data + 24);
  uint32_t flags = le32(data + 28);
  check_format(header_size == kHeaderSize, "header size field is ", header_size, ", expected ", kHeaderSize);
  check_format(body_size == size - kHeaderSize, "header says the body has ", body_size, " bytes, the file has ",
               size - kHeaderSize, " (truncated or extended file)");
  check_format(flags == 0, "header flags are ", flags, ", expected 0");
  uint32_t actual = crc32(data + kHeaderSize, size - kHeaderSize);
  check_format(actual == crc, "body checksum mismatch (CRC-32 ", actual, ", header says ", crc,
               "): the file is corrupt");

  Reader r(data + kHeaderSize, data + size, kHeaderSize);
  uint32_t n_tensors = r.read<uint32_t>("the tensor count");
  uint32_t n_nodes = r.read<uint32_t>("the node count");
  uint32_t n_inputs = r.read<uint32_t>("the input count");
  uint32_t n_outputs = r.read<uint32_t>("the output count");
  uint64_t min_bytes = uint64_t{n_tensors} * 8 + uint64_t{n_nodes} * 20 + (uint64_t{n_inputs} + n_outputs) * 4;
  check_format(min_bytes <= r.remaining(), "counts (", n_tensors, " tensors, ", n_nodes, " nodes, ", n_inputs,
               " inputs, ", n_outputs, " outputs) cannot fit in the ", r.remaining(), "-byte body");
  m.tensors.reserve(n_tensors);
  for (uint32_t i = 0; i < n_tensors; ++i) m.tensors.push_back(read_tensor(r, data, size));
  m.nodes.reserve(n_nodes);
  for (uint32_t i = 0; i < n_nodes; ++i) m.nodes.push_back(read_node(r, n_tensors));
  for (auto* list : {&m.inputs, &m.outputs}) {
    list->resize(list == &m.inputs ? n_inputs : n_outputs);
    for (auto& id : *list) {
      id = r.read<uint32_t>("a graph input/output index");
      check_format(id < n_tensors, "graph input/output refers to tensor ", id, " of ", n_tensors);
    }
  }
  if (m.version_minor >= kMetadataSinceMinor) read_metadata(r, m);
  size_t graph_end = r.file_offset();
  for (const TensorDesc& t : m.tensors) {
    check_format(t.kind != TensorKind::kConstant || static_cast<size_t>(t.data - data) >= graph_end,
                 "constant '", t.name, "' data overlaps the graph block (ends at byte ", graph_end, ")");
  }
  check_graph(m);
  return m;
}

}  // namespace rt
}  // namespace bmx
