// bmx-run: run a .bmx model on one input and report the top-5 classes and the latency.
//
//   bmx-run MODEL --input FILE [--threads N] [--repeat K] [--warmup W] [--labels FILE]
//           [--mean R,G,B] [--std R,G,B] [--json] [--profile] [--save-outputs DIR]
//
// FILE is a .npy float32 array of the model input's shape (a missing leading batch axis of 1 is allowed) or an
// image (see image.h for decoding and preprocessing). After W warm-up runs (default 2), K timed runs
// (default 10) give the median, min and max latency. --json prints one JSON object instead of text;
// --save-outputs writes every graph output as DIR/output_<i>.npy (dtype kept).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__APPLE__)
#include <sys/resource.h>
#endif

#include "bmx_runtime.h"
#include "image.h"
#include "npy.h"

namespace {

struct Options {
  std::string model, input, labels, save_dir;
  int threads = 1, repeat = 10, warmup = 2;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f}, std{0.229f, 0.224f, 0.225f};
  bool json = false, profile = false;
};

const char kUsage[] =
    "usage: bmx-run MODEL --input FILE [--threads N] [--repeat K] [--warmup W] [--labels FILE]\n"
    "               [--mean R,G,B] [--std R,G,B] [--json] [--profile] [--save-outputs DIR]\n"
    "  MODEL          a .bmx model file\n"
    "  --input FILE   .npy float32 array of the input's shape, or an image (resized, centre-cropped, normalised)\n"
    "  --threads N    worker threads (default 1)\n"
    "  --repeat K     timed runs (default 10)\n"
    "  --warmup W     untimed runs first (default 2)\n"
    "  --labels FILE  class names, one per line\n"
    "  --mean, --std  per-channel normalisation of images scaled to [0, 1] (default ImageNet's)\n"
    "  --json         print one JSON object\n"
    "  --profile      print each node's mean time over the timed runs (to stderr)\n"
    "  --save-outputs DIR  write every output as DIR/output_<i>.npy\n";

int parse_int(const std::string& flag, const char* text, int lo, int hi) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (!*text || *end || v < lo || v > hi) {
    throw std::runtime_error("expected " + flag + " to be an integer in [" + std::to_string(lo) + ", " +
                             std::to_string(hi) + "], got '" + text + "'");
  }
  return static_cast<int>(v);
}

std::array<float, 3> parse_triple(const std::string& flag, const std::string& text) {
  std::array<float, 3> v{};
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    size_t used = 0;
    try {
      v[i] = std::stof(text.substr(pos), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    pos += used;
    if (used == 0 || (i < 2 && (pos >= text.size() || text[pos++] != ','))) {
      throw std::runtime_error("expected " + flag + " to be three comma-separated numbers, got '" + text + "'");
    }
  }
  if (pos != text.size()) throw std::runtime_error("expected " + flag + " to be three numbers, got '" + text + "'");
  return v;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--input") o.input = value();
    else if (a == "--threads") o.threads = parse_int(a, value(), 1, 256);
    else if (a == "--repeat") o.repeat = parse_int(a, value(), 1, 1000000);
    else if (a == "--warmup") o.warmup = parse_int(a, value(), 0, 1000000);
    else if (a == "--labels") o.labels = value();
    else if (a == "--mean") o.mean = parse_triple(a, value());
    else if (a == "--std") o.std = parse_triple(a, value());
    else if (a == "--json") o.json = true;
    else if (a == "--profile") o.profile = true;
    else if (a == "--save-outputs") o.save_dir = value();
    else if (a == "-h" || a == "--help") {
      std::printf("%simage formats of this build: %s\n", kUsage, bmx::cli::image_formats().c_str());
      std::exit(0);
    }
    else if (!a.empty() && a[0] == '-') throw std::runtime_error("unknown option " + a);
    else if (o.model.empty()) o.model = a;
    else throw std::runtime_error("unexpected argument '" + a + "'");
  }
  if (o.model.empty() || o.input.empty()) throw std::runtime_error("MODEL and --input FILE are required");
  for (float s : o.std)
    if (s == 0.f) throw std::runtime_error("--std values must be non-zero");
  return o;
}

void check(int status) {
  if (status != BMX_OK) throw std::runtime_error(bmx_last_error());
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The input tensor's float32 values from a .npy file or an image.
std::vector<float> load_input(const Options& o, const bmx_tensor_info& info) {
  std::vector<int64_t> shape(info.dims, info.dims + info.ndim);
  auto shape_text = [](const std::vector<int64_t>& s) {
    std::string t = "(";
    for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
    return t + ")";
  };
  if (ends_with(o.input, ".npy")) {
    bmx::cli::NpyArray a = bmx::cli::read_npy(o.input);
    std::vector<int64_t> batched = a.shape;
    if (batched.size() + 1 == shape.size()) batched.insert(batched.begin(), 1);
    if (batched != shape) {
      throw std::runtime_error("'" + o.input + "' has shape " + shape_text(a.shape) + ", the model's input '" +
                               info.name + "' needs " + shape_text(shape));
    }
    return a.data;
  }
  if (info.ndim != 4 || info.dims[0] != 1 || info.dims[1] != 3) {
    throw std::runtime_error("images need a model input of shape (1, 3, H, W), '" + std::string(info.name) +
                             "' is " + shape_text(shape));
  }
  bmx::cli::Image im = bmx::cli::read_image(o.input);
  return bmx::cli::preprocess(im, static_cast<int>(info.dims[2]), static_cast<int>(info.dims[3]), o.mean, o.std);
}

std::vector<std::string> read_labels(const std::string& path) {
  std::vector<std::string> labels;
  if (path.empty()) return labels;
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open labels file '" + path + "'");
  for (std::string line; std::getline(f, line);) labels.push_back(line);
  return labels;
}

// Peak resident memory of this process in MB: VmHWM on Linux (getrusage's ru_maxrss would include the
// parent's memory before exec), ru_maxrss elsewhere; -1 if unknown.
double peak_rss_mb() {
#if defined(__linux__)
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;  // kB
  }
  return -1.0;
#elif defined(__APPLE__)
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return r.ru_maxrss / (1024.0 * 1024.0);  // bytes on macOS
#else
  return -1.0;
#endif
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out;
}

// Per-node mean times, slowest first, and the share of each operator type.
void print_profile(bmx_model* model) {
  size_t n = 0;
  check(bmx_model_num_nodes(model, &n));
  std::vector<bmx_node_profile> p(n);
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    check(bmx_model_node_profile(model, i, &p[i]));
    total += p[i].total_ms;
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a].total_ms > p[b].total_ms; });
  const double runs = n && p[0].runs ? double(p[0].runs) : 1.0;
  std::fprintf(stderr, "profile (mean ms per run over %.0f runs, total %.3f ms):\n", runs, total / runs);
  for (size_t i : order) {
    std::fprintf(stderr, "  %8.3f ms %5.1f%%  %-16s %s\n", p[i].total_ms / runs, total ? 100 * p[i].total_ms / total : 0.0,
                 p[i].op, p[i].name);
  }
}

void save_outputs(const bmx_model* model, const std::string& dir) {
  size_t n = 0;
  check(bmx_model_num_outputs(model, &n));
  static const char* descr[] = {"<f4", "<i4", "<u8"};
  for (size_t i = 0; i < n; ++i) {
    bmx_tensor_info info{};
    check(bmx_model_output_info(model, i, &info));
    std::vector<uint8_t> bytes(info.nbytes);
    check(bmx_model_get_output(model, i, bytes.data(), bytes.size()));
    bmx::cli::write_npy(dir + "/output_" + std::to_string(i) + ".npy", descr[info.dtype],
                        std::vector<int64_t>(info.dims, info.dims + info.ndim), bytes.data(), bytes.size());
  }
}

int run(const Options& o) {
  bmx_model* model = nullptr;
  check(bmx_model_load_file(o.model.c_str(), &model));
  std::unique_ptr<bmx_model, void (*)(bmx_model*)> owner(model, bmx_model_free);
  check(bmx_model_set_threads(model, o.threads));
  size_t inputs = 0;
  check(bmx_model_num_inputs(model, &inputs));
  if (inputs != 1) throw std::runtime_error("bmx-run needs a model with one input, this one has " + std::to_string(inputs));
  bmx_tensor_info in{}, out{};
  check(bmx_model_input_info(model, 0, &in));
  check(bmx_model_output_info(model, 0, &out));
  if (out.dtype != BMX_DTYPE_FLOAT32) throw std::runtime_error("output 0 is not float32; cannot rank classes");
  std::vector<float> x = load_input(o, in);
  check(bmx_model_set_input(model, 0, x.data(), x.size() * sizeof(float)));

  std::vector<double> ms;
  for (int i = 0; i < o.warmup + o.repeat; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    check(bmx_model_run(model));
    auto t1 = std::chrono::steady_clock::now();
    if (i >= o.warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (o.profile && i + 1 == o.warmup) check(bmx_model_set_profiling(model, 1));
  }
  if (o.profile) print_profile(model);
  std::vector<float> y(out.nbytes / sizeof(float));
  check(bmx_model_get_output(model, 0, y.data(), out.nbytes));

  if (!o.save_dir.empty()) save_outputs(model, o.save_dir);

  const size_t classes = out.ndim >= 2 ? y.size() / static_cast<size_t>(out.dims[0]) : y.size();
  std::vector<size_t> order(classes);
  std::iota(order.begin(), order.end(), 0);
  const size_t top = std::min<size_t>(5, classes);
  std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](size_t a, size_t b) { return y[a] > y[b]; });
  std::sort(ms.begin(), ms.end());
  const double median = ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  const std::vector<std::string> labels = read_labels(o.labels);
  auto label = [&](size_t c) { return c < labels.size() ? labels[c] : std::string(); };

  if (o.json) {
    std::printf("{\"model\": \"%s\", \"threads\": %d, \"repeat\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, "
                "\"max_ms\": %.4f, \"peak_rss_mb\": %.2f, \"top5\": [",
                json_escape(o.model).c_str(), o.threads, o.repeat, median, ms.front(), ms.back(), peak_rss_mb());
    for (size_t i = 0; i < top; ++i) {
      std::printf("%s{\"class\": %zu, \"score\": %.6g, \"label\": \"%s\"}", i ? ", " : "", order[i], y[order[i]],
                  json_escape(label(order[i])).c_str());
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("model %s, input %s, %d thread(s)\ntop-%zu:\n", o.model.c_str(), o.input.c_str(), o.threads, top);
  for (size_t i = 0; i < top; ++i) {
    std::printf("  %2zu. class %5zu  score %.6f  %s\n", i + 1, order[i], y[order[i]], label(order[i]).c_str());
  }
  std::printf("latency over %d runs after %d warm-up: median %.3f ms, min %.3f ms, max %.3f ms\n", o.repeat,
              o.warmup, median, ms.front(), ms.back());
  std::printf("peak RSS %.1f MB\n", peak_rss_mb());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bmx-run: error: %s\n", e.what());
    if (argc < 2) std::fputs(kUsage, stderr);
    return 1;
  }
}
