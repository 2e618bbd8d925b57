// The C API (bmx_runtime.h): status codes and a per-thread error message around the C++ runtime.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "bmx/isa.h"
#include "bmx_runtime.h"
#include "error.h"
#include "model.h"

struct bmx_model {
  explicit bmx_model(bmx::rt::AlignedBuffer image) : model(std::move(image)) {}
  bmx::rt::Model model;
};

namespace {

thread_local std::string last_error;

int fail(int status, const std::string& message) {
  last_error = message;
  return status;
}

// Run `fn`, turning every exception into a status code and message (nothing escapes into C).
template <typename Fn>
int guarded(const char* api, Fn&& fn) {
  try {
    fn();
    return BMX_OK;
  } catch (const bmx::rt::Error& e) {
    return fail(e.status(), bmx::rt::cat(api, ": ", e.what()));
  } catch (const std::bad_alloc&) {
    return fail(BMX_ERR_OUT_OF_MEMORY, bmx::rt::cat(api, ": out of memory"));
  } catch (const std::exception& e) {
    return fail(BMX_ERR_INTERNAL, bmx::rt::cat(api, ": ", e.what()));
  } catch (...) {
    return fail(BMX_ERR_INTERNAL, bmx::rt::cat(api, ": unknown error"));
  }
}

int null_argument(const char* api, const char* what) {
  return fail(BMX_ERR_INVALID_ARGUMENT, bmx::rt::cat(api, ": ", what, " is NULL"));
}

void fill_info(const bmx::rt::TensorInfo& info, const std::string& name, bmx_tensor_info* out) {
  std::memset(out, 0, sizeof(*out));
  out->name = name.c_str();
  out->dtype = static_cast<int32_t>(info.dtype);
  out->ndim = static_cast<int32_t>(info.shape.size());
  for (size_t i = 0; i < info.shape.size() && i < BMX_MAX_NDIM; ++i) out->dims[i] = info.shape[i];
  out->nbytes = info.bytes();
}

}  // namespace

extern "C" {

const char* bmx_last_error(void) { return last_error.c_str(); }

const char* bmx_status_string(int status) {
  switch (status) {
    case BMX_OK: return "ok";
    case BMX_ERR_INVALID_ARGUMENT: return "invalid argument";
    case BMX_ERR_IO: return "i/o error";
    case BMX_ERR_FORMAT: return "invalid model file";
    case BMX_ERR_UNSUPPORTED: return "unsupported model feature";
    case BMX_ERR_OUT_OF_MEMORY: return "out of memory";
    case BMX_ERR_INTERNAL: return "internal error";
    default: return "unknown status";
  }
}

const char* bmx_version(void) { return "0.2.0 (model format 1.1)"; }

const char* bmx_isa(void) {
  try {
    return bmx::isa_name(bmx::current_isa());
  } catch (const std::exception&) {
    return "";
  }
}

int bmx_model_load_memory(const void* data, size_t size, bmx_model** out_model) {
  if (!out_model) return null_argument("bmx_model_load_memory", "out_model");
  *out_model = nullptr;
  if (!data && size) return null_argument("bmx_model_load_memory", "data");
  return guarded("bmx_model_load_memory", [&] {
    bmx::rt::AlignedBuffer image(size);
    if (size) std::memcpy(image.data(), data, size);
    *out_model = new bmx_model(std::move(image));
  });
}

int bmx_model_load_file(const char* path, bmx_model** out_model) {
  if (!out_model) return null_argument("bmx_model_load_file", "out_model");
  *out_model = nullptr;
  if (!path) return null_argument("bmx_model_load_file", "path");
  return guarded("bmx_model_load_file", [&] {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) throw bmx::rt::Error(BMX_ERR_IO, bmx::rt::cat("cannot open '", path, "': ", std::strerror(errno)));
    struct stat info;
    if (fstat(fileno(f), &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG) {
      std::fclose(f);  // a folder opens on Linux and reports a size of LONG_MAX: refuse it by its kind
      throw bmx::rt::Error(BMX_ERR_IO, bmx::rt::cat("'", path, "' is ",
                                                    (info.st_mode & S_IFMT) == S_IFDIR ? "a folder" : "not a file",
                                                    ", not a .bmx file"));
    }
    long size = -1;
    if (std::fseek(f, 0, SEEK_END) == 0) size = std::ftell(f);
    if (size < 0 || std::fseek(f, 0, SEEK_SET) != 0) {
      std::fclose(f);
      throw bmx::rt::Error(BMX_ERR_IO, bmx::rt::cat("cannot determine the size of '", path, "'"));
    }
    bmx::rt::AlignedBuffer image;
    try {
      image = bmx::rt::AlignedBuffer(static_cast<size_t>(size));
    } catch (...) {
      std::fclose(f);
      throw;
    }
    size_t got = size ? std::fread(image.data(), 1, static_cast<size_t>(size), f) : 0;
    std::fclose(f);
    if (got != static_cast<size_t>(size)) {
      throw bmx::rt::Error(BMX_ERR_IO, bmx::rt::cat("read ", got, " of ", size, " bytes of '", path, "'"));
    }
    *out_model = new bmx_model(std::move(image));
  });
}

void bmx_model_free(bmx_model* model) { delete model; }

int bmx_model_set_threads(bmx_model* model, int threads) {
  if (!model) return null_argument("bmx_model_set_threads", "model");
  return guarded("bmx_model_set_threads", [&] { model->model.set_threads(threads); });
}

int bmx_model_num_inputs(const bmx_model* model, size_t* out_count) {
  if (!model || !out_count) return null_argument("bmx_model_num_inputs", !model ? "model" : "out_count");
  *out_count = model->model.num_inputs();
  return BMX_OK;
}

int bmx_model_num_outputs(const bmx_model* model, size_t* out_count) {
  if (!model || !out_count) return null_argument("bmx_model_num_outputs", !model ? "model" : "out_count");
  *out_count = model->model.num_outputs();
  return BMX_OK;
}

int bmx_model_input_info(const bmx_model* model, size_t index, bmx_tensor_info* out_info) {
  if (!model || !out_info) return null_argument("bmx_model_input_info", !model ? "model" : "out_info");
  if (index >= model->model.num_inputs()) {
    return fail(BMX_ERR_INVALID_ARGUMENT, bmx::rt::cat("bmx_model_input_info: index ", index, " >= ",
                                                       model->model.num_inputs(), " inputs"));
  }
  fill_info(model->model.input_info(index), model->model.input_name(index), out_info);
  return BMX_OK;
}

int bmx_model_output_info(const bmx_model* model, size_t index, bmx_tensor_info* out_info) {
  if (!model || !out_info) return null_argument("bmx_model_output_info", !model ? "model" : "out_info");
  if (index >= model->model.num_outputs()) {
    return fail(BMX_ERR_INVALID_ARGUMENT, bmx::rt::cat("bmx_model_output_info: index ", index, " >= ",
                                                       model->model.num_outputs(), " outputs"));
  }
  fill_info(model->model.output_info(index), model->model.output_name(index), out_info);
  return BMX_OK;
}

int bmx_model_set_input(bmx_model* model, size_t index, const void* data, size_t nbytes) {
  if (!model || (!data && nbytes)) return null_argument("bmx_model_set_input", !model ? "model" : "data");
  return guarded("bmx_model_set_input", [&] { model->model.set_input(index, data, nbytes); });
}

int bmx_model_run(bmx_model* model) {
  if (!model) return null_argument("bmx_model_run", "model");
  return guarded("bmx_model_run", [&] { model->model.run(); });
}

int bmx_model_get_output(const bmx_model* model, size_t index, void* data, size_t nbytes) {
  if (!model || (!data && nbytes)) return null_argument("bmx_model_get_output", !model ? "model" : "data");
  return guarded("bmx_model_get_output", [&] { model->model.get_output(index, data, nbytes); });
}

int bmx_model_set_batch_size(bmx_model* model, int64_t batch) {
  if (!model) return null_argument("bmx_model_set_batch_size", "model");
  return guarded("bmx_model_set_batch_size", [&] { model->model.set_batch_size(batch); });
}

int bmx_model_input_convention(const bmx_model* model, bmx_input_convention* out) {
  if (!model || !out) return null_argument("bmx_model_input_convention", !model ? "model" : "out");
  const bmx::rt::InputConvention& c = model->model.convention();
  std::memset(out, 0, sizeof(*out));
  out->color = c.color;
  out->resize = c.resize;
  out->scale = c.scale;
  out->crop_fraction = c.crop_fraction;
  out->num_values = c.channels();  // a single mean / std value is reported per channel
  for (int i = 0; i < c.channels(); ++i) {
    out->mean[i] = c.mean.size() == 1 ? c.mean[0] : c.mean[i];
    out->std[i] = c.std.size() == 1 ? c.std[0] : c.std[i];
  }
  out->recorded = c.recorded ? 1 : 0;
  return BMX_OK;
}

int bmx_model_set_input_convention(bmx_model* model, const bmx_input_convention* in) {
  if (!model || !in) return null_argument("bmx_model_set_input_convention", !model ? "model" : "convention");
  return guarded("bmx_model_set_input_convention", [&] {
    if (in->color < BMX_COLOR_RGB || in->color > BMX_COLOR_GRAY || in->resize < BMX_RESIZE_CROP ||
        in->resize > BMX_RESIZE_STRETCH || in->num_values < 1 || in->num_values > 3) {
      throw bmx::rt::Error(BMX_ERR_INVALID_ARGUMENT, bmx::rt::cat("color ", in->color, ", resize ", in->resize,
                                                                  " or num_values ", in->num_values, " out of range"));
    }
    bmx::rt::InputConvention c;
    c.color = static_cast<bmx::rt::InputConvention::Color>(in->color);
    c.resize = static_cast<bmx::rt::InputConvention::Resize>(in->resize);
    c.scale = in->scale;
    c.crop_fraction = in->crop_fraction;
    c.mean.assign(in->mean, in->mean + in->num_values);
    c.std.assign(in->std, in->std + in->num_values);
    c.recorded = in->recorded != 0;
    model->model.set_convention(c);
  });
}

int bmx_model_set_input_image(bmx_model* model, size_t index, int64_t batch_index, const uint8_t* pixels,
                              int height, int width, int channels) {
  if (!model || !pixels) return null_argument("bmx_model_set_input_image", !model ? "model" : "pixels");
  return guarded("bmx_model_set_input_image",
                 [&] { model->model.set_input_image(index, pixels, height, width, channels, batch_index); });
}

int bmx_model_num_labels(const bmx_model* model, size_t* out_count) {
  if (!model || !out_count) return null_argument("bmx_model_num_labels", !model ? "model" : "out_count");
  *out_count = model->model.labels().size();
  return BMX_OK;
}

int bmx_model_label(const bmx_model* model, size_t index, const char** out_name) {
  if (!model || !out_name) return null_argument("bmx_model_label", !model ? "model" : "out_name");
  if (index >= model->model.labels().size()) {
    return fail(BMX_ERR_INVALID_ARGUMENT, bmx::rt::cat("bmx_model_label: index ", index, " >= ",
                                                       model->model.labels().size(), " labels"));
  }
  *out_name = model->model.labels()[index].c_str();
  return BMX_OK;
}

int bmx_model_memory(const bmx_model* model, size_t* arena_bytes, size_t* scratch_bytes, size_t* weight_bytes) {
  if (!model) return null_argument("bmx_model_memory", "model");
  if (arena_bytes) *arena_bytes = model->model.arena_bytes();
  if (scratch_bytes) *scratch_bytes = model->model.scratch_bytes();
  if (weight_bytes) *weight_bytes = model->model.weight_bytes();
  return BMX_OK;
}

int bmx_model_set_profiling(bmx_model* model, int enabled) {
  if (!model) return null_argument("bmx_model_set_profiling", "model");
  model->model.set_profiling(enabled != 0);
  return BMX_OK;
}

int bmx_model_num_nodes(const bmx_model* model, size_t* out_count) {
  if (!model || !out_count) return null_argument("bmx_model_num_nodes", !model ? "model" : "out_count");
  *out_count = model->model.num_nodes();
  return BMX_OK;
}

int bmx_model_node_profile(const bmx_model* model, size_t index, bmx_node_profile* out_profile) {
  if (!model || !out_profile) return null_argument("bmx_model_node_profile", !model ? "model" : "out_profile");
  if (index >= model->model.num_nodes()) {
    return fail(BMX_ERR_INVALID_ARGUMENT, bmx::rt::cat("bmx_model_node_profile: index ", index, " >= ",
                                                       model->model.num_nodes(), " nodes"));
  }
  const auto& node = model->model.node(index);
  out_profile->name = node.name.c_str();
  out_profile->op = node.op.c_str();
  out_profile->runs = model->model.profiled_runs();
  out_profile->total_ms = out_profile->runs ? model->model.node_ms(index) : 0.0;
  return BMX_OK;
}

}  // extern "C"
