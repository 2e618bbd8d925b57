// bmx-run: run a .bmx model on an image, an array or random input; report the top classes and the latency.
//
//   bmx-run MODEL (--input FILE | --benchmark) [--batch N] [--threads N] [--repeat K] [--warmup W]
//           [--labels FILE] [--mean V[,V,V]] [--std V[,V,V]] [--scale S] [--top K] [--json] [--profile]
//           [--save-outputs DIR]
//
// FILE is a .npy float32 array of the model input's shape (a missing leading batch axis of 1 is allowed; another
// leading batch size becomes the run's batch size; NaN and infinities are run, with a warning) or an image, turned into the
// input by the model's input convention (recorded in the file; --mean/--std/--scale override it) and repeated
// over the batch. With --benchmark the input is random numbers of the model's shape. After W warm-up runs
// (default 2), K timed runs (default 10) give the median, min and max latency. Class names come from --labels
// or the model file.
// --json prints one JSON object instead of text; --save-outputs writes every graph output as
// DIR/output_<i>.npy (dtype kept).
//
// Errors are one line "bmx-run: error: ..." with exit code 2 for a bad flag or flag value (UsageError) and 1
// for everything else (a missing or corrupt file, a failed run), as every tool of the project
// (bmxnet_ext/cli.py). Files and folders named by flags are checked before the model is loaded.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/stat.h>

#if defined(__APPLE__)
#include <sys/resource.h>
#endif

#include "bmx_runtime.h"
#include "image.h"
#include "npy.h"

namespace {

// A bad flag or flag value: exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string model, input, labels, save_dir;
  int threads = 1, repeat = 10, warmup = 2, batch = 0, top = 5;
  std::vector<double> mean, std;  // empty: the model's convention
  double scale = 0;               // 0: the model's convention
  bool json = false, profile = false, benchmark = false;
};

const char kUsage[] =
    "usage: bmx-run MODEL (--input FILE | --benchmark) [--batch N] [--threads N] [--repeat K] [--warmup W]\n"
    "               [--labels FILE] [--mean V[,V,V]] [--std V[,V,V]] [--scale S] [--top K] [--json] [--profile]\n"
    "               [--save-outputs DIR]\n"
    "  MODEL          a .bmx model file\n"
    "  --input FILE   .npy float32 array of the input's shape, or an image (prepared by the model's convention)\n"
    "  --benchmark    time random input of the model's shape (no --input)\n"
    "  --batch N      batch size (default: the .npy's, else the model file's)\n"
    "  --threads N    worker threads (default 1)\n"
    "  --repeat K     timed runs (default 10)\n"
    "  --warmup W     untimed runs first (default 2)\n"
    "  --labels FILE  class names, one per line (default: the model file's)\n"
    "  --mean, --std  per-channel (or one) values replacing the model's: x = (pixel * scale - mean) / std\n"
    "  --scale S      pixel multiplier replacing the model's (1/255 for [0, 1] inputs, 1 for 0..255)\n"
    "  --top K        classes to show (default 5)\n"
    "  --json         print one JSON object\n"
    "  --profile      print each node's mean time over the timed runs (to stderr)\n"
    "  --save-outputs DIR  write every output as DIR/output_<i>.npy\n";

int parse_int(const std::string& flag, const char* text, int lo, int hi) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (!*text || *end || v < lo || v > hi) {
    throw UsageError("expected " + flag + " to be an integer in [" + std::to_string(lo) + ", " +
                             std::to_string(hi) + "], got '" + text + "'");
  }
  return static_cast<int>(v);
}

double parse_number(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end || !std::isfinite(v)) {
    throw UsageError("expected " + flag + " to be a number, got '" + text + "'");
  }
  return v;
}

// One or three comma-separated numbers.
std::vector<double> parse_values(const std::string& flag, const std::string& text) {
  std::vector<double> v;
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    v.push_back(parse_number(flag, text.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (v.size() != 1 && v.size() != 3) {
    throw UsageError("expected " + flag + " to be one or three comma-separated numbers, got '" + text + "'");
  }
  return v;
}

// Throw unless `path`, given to `flag`, exists and is a folder (`folder`) or not one: checked before the
// model loads and runs, so that a wrong path costs nothing.
void check_path(const std::string& flag, const std::string& path, bool folder) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw std::runtime_error(flag + " '" + path + "' does not exist" + (folder ? " (create the folder first)" : ""));
  }
  if (folder && !S_ISDIR(st.st_mode)) throw std::runtime_error(flag + " '" + path + "' is a file, expected a folder");
  if (!folder && S_ISDIR(st.st_mode)) throw std::runtime_error(flag + " '" + path + "' is a folder, expected a file");
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      return argv[++i];
    };
    if (a == "--input") o.input = value();
    else if (a == "--benchmark") o.benchmark = true;
    else if (a == "--batch") o.batch = parse_int(a, value(), 1, 1 << 20);
    else if (a == "--threads") o.threads = parse_int(a, value(), 1, 256);
    else if (a == "--repeat") o.repeat = parse_int(a, value(), 1, 1000000);
    else if (a == "--warmup") o.warmup = parse_int(a, value(), 0, 1000000);
    else if (a == "--top") o.top = parse_int(a, value(), 1, 1000000);
    else if (a == "--labels") o.labels = value();
    else if (a == "--mean") o.mean = parse_values(a, value());
    else if (a == "--std") o.std = parse_values(a, value());
    else if (a == "--scale") {
      o.scale = parse_number(a, value());
      if (o.scale <= 0) throw UsageError("--scale must be positive");
    }
    else if (a == "--json") o.json = true;
    else if (a == "--profile") o.profile = true;
    else if (a == "--save-outputs") o.save_dir = value();
    else if (a == "-h" || a == "--help") {
      std::printf("%simage formats of this build: %s\n", kUsage, bmx::cli::image_formats().c_str());
      std::exit(0);
    }
    else if (!a.empty() && a[0] == '-') throw UsageError("unknown option " + a);
    else if (o.model.empty()) o.model = a;
    else throw UsageError("unexpected argument '" + a + "'");
  }
  if (o.model.empty()) throw UsageError("MODEL is required");
  if (o.input.empty() == !o.benchmark) throw UsageError("give exactly one of --input FILE and --benchmark");
  for (double s : o.std)
    if (s == 0) throw UsageError("--std values must be non-zero");
  if (!o.input.empty()) check_path("--input", o.input, false);
  if (!o.labels.empty()) check_path("--labels", o.labels, false);
  if (!o.save_dir.empty()) check_path("--save-outputs", o.save_dir, true);
  return o;
}

void check(int status) {
  if (status != BMX_OK) throw std::runtime_error(bmx_last_error());
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_text(const bmx_tensor_info& info) {
  std::string t = "(";
  for (int i = 0; i < info.ndim; ++i) t += (i ? ", " : "") + std::to_string(info.dims[i]);
  return t + ")";
}

// Apply --mean/--std/--scale over the model's input convention.
void override_convention(bmx_model* model, const Options& o) {
  if (o.mean.empty() && o.std.empty() && o.scale == 0) return;
  bmx_input_convention c{};
  check(bmx_model_input_convention(model, &c));
  auto apply = [&](const std::vector<double>& values, double* target) {
    if (values.empty()) return;
    if (values.size() != 1 && static_cast<int32_t>(values.size()) != c.num_values) {
      throw UsageError("--mean/--std need " + (c.num_values == 1 ? std::string("1 value") :
                       "1 or " + std::to_string(c.num_values) + " values") + " for this model");
    }
    for (int i = 0; i < c.num_values; ++i) target[i] = values.size() == 1 ? values[0] : values[i];
  };
  apply(o.mean, c.mean);
  apply(o.std, c.std);
  if (o.scale) c.scale = o.scale;
  check(bmx_model_set_input_convention(model, &c));
}

// Warn (one line on stderr) about an array holding NaN or infinities (float64 values beyond float32's range
// included): they run as MXNet runs them, and the scores may come out NaN, so the run says why. The line names
// the file, the count and the first one's index in the array's own shape.
void warn_non_finite(const std::string& path, const bmx::cli::NpyArray& a) {
  size_t count = 0, first = 0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    if (!std::isfinite(a.data[i]) && count++ == 0) first = i;
  }
  if (count == 0) return;
  std::vector<int64_t> index(a.shape.size());
  for (size_t d = a.shape.size(); d-- > 0;) {
    index[d] = static_cast<int64_t>(first % static_cast<size_t>(a.shape[d]));
    first /= static_cast<size_t>(a.shape[d]);
  }
  std::string at = "(";
  for (size_t d = 0; d < index.size(); ++d) at += (d ? ", " : "") + std::to_string(index[d]);
  at += index.size() == 1 ? ",)" : ")";
  std::fprintf(stderr, "bmx-run: warning: --input '%s' holds %zu NaN or infinite value%s (the first at index %s): "
               "they propagate as in MXNet, so scores may be NaN\n", path.c_str(), count, count == 1 ? "" : "s",
               at.c_str());
}

// Set input 0 from the .npy file, the image (every sample of the batch) or random numbers.
void set_input(bmx_model* model, const Options& o) {
  bmx_tensor_info info{};
  check(bmx_model_input_info(model, 0, &info));
  if (o.benchmark) {
    std::vector<float> x(info.nbytes / sizeof(float));
    std::mt19937 rng(0);
    std::uniform_real_distribution<float> uniform(-1.f, 1.f);
    for (float& v : x) v = uniform(rng);
    check(bmx_model_set_input(model, 0, x.data(), info.nbytes));
    return;
  }
  if (ends_with(o.input, ".npy")) {
    bmx::cli::NpyArray a = bmx::cli::read_npy(o.input);
    std::vector<int64_t> shape = a.shape;
    if (shape.size() + 1 == static_cast<size_t>(info.ndim)) shape.insert(shape.begin(), 1);
    if (o.batch == 0 && shape.size() == static_cast<size_t>(info.ndim) && shape[0] != info.dims[0]) {
      check(bmx_model_set_batch_size(model, shape[0]));  // the array's batch size
      check(bmx_model_input_info(model, 0, &info));
    }
    if (shape != std::vector<int64_t>(info.dims, info.dims + info.ndim)) {
      std::string got = "(";
      for (size_t i = 0; i < a.shape.size(); ++i) got += (i ? ", " : "") + std::to_string(a.shape[i]);
      throw std::runtime_error("'" + o.input + "' has shape " + got + "), the model's input '" + info.name +
                               "' needs " + shape_text(info));
    }
    warn_non_finite(o.input, a);
    check(bmx_model_set_input(model, 0, a.data.data(), a.data.size() * sizeof(float)));
    return;
  }
  if (info.ndim != 4 || (info.dims[1] != 1 && info.dims[1] != 3)) {
    throw std::runtime_error("images need a model input of shape (N, 1 or 3, H, W), '" + std::string(info.name) +
                             "' is " + shape_text(info));
  }
  bmx::cli::Image im = bmx::cli::read_image(o.input);
  for (int64_t n = 0; n < info.dims[0]; ++n) {
    check(bmx_model_set_input_image(model, 0, n, im.rgb.data(), im.height, im.width, 3));
  }
}

std::string convention_text(const bmx_model* model) {
  bmx_input_convention c{};
  check(bmx_model_input_convention(model, &c));
  static const char* colors[] = {"RGB", "BGR", "GRAY"};
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s, %s, x = (pixel * %.6g - mean) / std, mean", colors[c.color],
                c.resize == BMX_RESIZE_CROP ? "resize + centre crop" : "stretched", c.scale);
  std::string t = buf;
  for (int i = 0; i < c.num_values; ++i) t += (i ? "," : " ") + std::to_string(c.mean[i]).substr(0, 6);
  t += " std";
  for (int i = 0; i < c.num_values; ++i) t += (i ? "," : " ") + std::to_string(c.std[i]).substr(0, 6);
  return t + (c.recorded ? " (from the model file)" : " (default: the file records none)");
}

// Class names from --labels, else those the model file records.
std::vector<std::string> read_labels(const std::string& path, const bmx_model* model) {
  std::vector<std::string> labels;
  if (path.empty()) {
    size_t n = 0;
    check(bmx_model_num_labels(model, &n));
    for (size_t i = 0; i < n; ++i) {
      const char* name = nullptr;
      check(bmx_model_label(model, i, &name));
      labels.emplace_back(name);
    }
    return labels;
  }
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
  size_t inputs = 0;
  check(bmx_model_num_inputs(model, &inputs));
  if (inputs != 1) throw std::runtime_error("bmx-run needs a model with one input, this one has " + std::to_string(inputs));
  if (o.batch) check(bmx_model_set_batch_size(model, o.batch));
  check(bmx_model_set_threads(model, o.threads));
  override_convention(model, o);
  set_input(model, o);
  bmx_tensor_info in{}, out{};
  check(bmx_model_input_info(model, 0, &in));
  check(bmx_model_output_info(model, 0, &out));
  if (out.dtype != BMX_DTYPE_FLOAT32) throw std::runtime_error("output 0 is not float32; cannot rank classes");
  const size_t classes = out.ndim >= 2 ? out.nbytes / sizeof(float) / static_cast<size_t>(out.dims[0])
                                       : out.nbytes / sizeof(float);
  const std::vector<std::string> labels = read_labels(o.labels, model);
  if (!o.labels.empty() && out.ndim == 2 && labels.size() != classes) {
    throw std::runtime_error("--labels '" + o.labels + "' holds " + std::to_string(labels.size()) +
                             " class names, the model has " + std::to_string(classes) + " classes: give one per line");
  }

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

  // Ranks sample 0 of the batch.
  std::vector<size_t> order(classes);
  std::iota(order.begin(), order.end(), 0);
  const size_t top = std::min<size_t>(static_cast<size_t>(o.top), classes);
  std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](size_t a, size_t b) { return y[a] > y[b]; });
  std::sort(ms.begin(), ms.end());
  const double median = ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  auto label = [&](size_t c) { return c < labels.size() ? labels[c] : std::string(); };
  const std::string source = o.benchmark ? std::string("random") : o.input;

  if (o.json) {
    std::printf("{\"model\": \"%s\", \"input\": \"%s\", \"batch\": %lld, \"threads\": %d, \"repeat\": %d, "
                "\"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, \"peak_rss_mb\": %.2f, \"top\": [",
                json_escape(o.model).c_str(), json_escape(source).c_str(), static_cast<long long>(in.dims[0]),
                o.threads, o.repeat, median, ms.front(), ms.back(), peak_rss_mb());
    for (size_t i = 0; i < top; ++i) {
      std::printf("%s{\"class\": %zu, \"score\": %.6g, \"label\": \"%s\"}", i ? ", " : "", order[i], y[order[i]],
                  json_escape(label(order[i])).c_str());
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("model %s, input %s, batch %lld, %d thread(s)\n", o.model.c_str(), source.c_str(),
              static_cast<long long>(in.dims[0]), o.threads);
  if (!o.benchmark && !ends_with(o.input, ".npy")) std::printf("image input: %s\n", convention_text(model).c_str());
  if (!o.benchmark) {
    std::printf("top-%zu%s:\n", top, in.dims[0] > 1 ? " of sample 0" : "");
    for (size_t i = 0; i < top; ++i) {
      std::printf("  %2zu. class %5zu  score %.6f  %s\n", i + 1, order[i], y[order[i]], label(order[i]).c_str());
    }
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
  } catch (const UsageError& e) {
    std::fprintf(stderr, "bmx-run: error: %s (see bmx-run --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bmx-run: error: %s\n", e.what());
    return 1;
  }
}
