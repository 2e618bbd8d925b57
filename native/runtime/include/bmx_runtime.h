/* bmx_runtime.h - C API of the bmxnet-ext standalone runtime.
 *
 * Runs a converted binary model stored as one `.bmx` file (docs/bmx_format.md) without MXNet or Python.
 * Every function returns a status code (BMX_OK on success) and never aborts; after a failure,
 * bmx_last_error() returns a message naming what was wrong (per calling thread).
 *
 * Typical use:
 *   bmx_model* m;
 *   if (bmx_model_load_file("resnet18.bmx", &m) != BMX_OK) { fprintf(stderr, "%s\n", bmx_last_error()); }
 *   bmx_model_set_threads(m, 2);
 *   bmx_model_set_input_image(m, 0, 0, rgb_pixels, height, width, 3);   // or bmx_model_set_input(m, 0, ...)
 *   bmx_model_run(m);
 *   bmx_model_get_output(m, 0, logits, logits_bytes);
 *   bmx_model_label(m, best_class, &name);                              // the class name, if the file has them
 *   bmx_model_free(m);
 *
 * A model object is not thread-safe: use one per thread, or serialise calls.
 */
#ifndef BMX_RUNTIME_H_
#define BMX_RUNTIME_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define BMX_API __declspec(dllexport)
#else
#define BMX_API __attribute__((visibility("default")))
#endif

/* Status codes. */
#define BMX_OK 0
#define BMX_ERR_INVALID_ARGUMENT 1 /* a bad argument to an API call (null pointer, index, size) */
#define BMX_ERR_IO 2               /* the model file could not be opened or read */
#define BMX_ERR_FORMAT 3           /* the model bytes are not a valid .bmx file (truncated, corrupt, bad field) */
#define BMX_ERR_UNSUPPORTED 4      /* a valid file using an operator, attribute or version this build lacks */
#define BMX_ERR_OUT_OF_MEMORY 5
#define BMX_ERR_INTERNAL 6

/* Element types of tensors (the same codes as the file format). */
#define BMX_DTYPE_FLOAT32 0
#define BMX_DTYPE_INT32 1
#define BMX_DTYPE_UINT64 2 /* packed binary words: bit j of word w is element 64 w + j, set means -1 */

#define BMX_MAX_NDIM 8

typedef struct bmx_model bmx_model;

/* Description of a graph input or output. `name` stays valid while the model lives. */
typedef struct bmx_tensor_info {
  const char* name;
  int32_t dtype;
  int32_t ndim;
  int64_t dims[BMX_MAX_NDIM];
  size_t nbytes;
} bmx_tensor_info;

/* The message of the last failed call on this thread ("" if none). Valid until the next failing call. */
BMX_API const char* bmx_last_error(void);
/* A fixed English name of a status code. */
BMX_API const char* bmx_status_string(int status);
/* Runtime version as "major.minor.patch" and the newest model-format version it reads. */
BMX_API const char* bmx_version(void);
/* The instruction set the binary kernels run on ("portable", "avx2", "avx512", "neon"): the fastest the CPU
 * supports unless BMX_ISA says otherwise (inside a Python process also bmxnet_ext.native.use_isa, since all
 * front ends share one native core); "" if BMX_ISA names an unusable one (runs then fail with that message). */
BMX_API const char* bmx_isa(void);

/* Load a model from a file or from memory (the bytes are copied; the caller keeps ownership). */
BMX_API int bmx_model_load_file(const char* path, bmx_model** out_model);
BMX_API int bmx_model_load_memory(const void* data, size_t size, bmx_model** out_model);
/* Release a model (NULL is allowed). */
BMX_API void bmx_model_free(bmx_model* model);

/* Number of worker threads used by run (>= 1; default 1). */
BMX_API int bmx_model_set_threads(bmx_model* model, int threads);

BMX_API int bmx_model_num_inputs(const bmx_model* model, size_t* out_count);
BMX_API int bmx_model_num_outputs(const bmx_model* model, size_t* out_count);
BMX_API int bmx_model_input_info(const bmx_model* model, size_t index, bmx_tensor_info* out_info);
BMX_API int bmx_model_output_info(const bmx_model* model, size_t index, bmx_tensor_info* out_info);

/* Copy an input in (exactly info.nbytes bytes, C order, little-endian element type of the info). */
BMX_API int bmx_model_set_input(bmx_model* model, size_t index, const void* data, size_t nbytes);
/* Run the graph on the inputs set so far. */
BMX_API int bmx_model_run(bmx_model* model);
/* Copy an output of the last run out (exactly info.nbytes bytes). */
BMX_API int bmx_model_get_output(const bmx_model* model, size_t index, void* data, size_t nbytes);

/* Change the batch size (dimension 0 of every input; the file fixes the size it was converted with). The
 * operators and memory plan are rebuilt, inputs are zeroed, info of inputs and outputs changes. */
BMX_API int bmx_model_set_batch_size(bmx_model* model, int64_t batch);

/* How an 8-bit image becomes the input: the convention the model file records (format 1.1), or ImageNet's
 * (RGB, scale 1/255, ImageNet mean/std, crop 0.875) for files without one. Per channel c of the input:
 *   x[c] = (pixel[c] * scale - mean[c]) / std[c]
 * after the image is resized: BMX_RESIZE_CROP scales the shorter side to round(min(H, W) / crop_fraction)
 * and crops the centre H x W; BMX_RESIZE_STRETCH resizes to H x W (bilinear). The model reports one mean and
 * std per channel (num_values = 1 for GRAY, 3 otherwise); when setting, num_values 1 applies one value to
 * every channel. */
#define BMX_COLOR_RGB 0
#define BMX_COLOR_BGR 1
#define BMX_COLOR_GRAY 2
#define BMX_RESIZE_CROP 0
#define BMX_RESIZE_STRETCH 1
typedef struct bmx_input_convention {
  int32_t color;      /* BMX_COLOR_*: the input's channel order; GRAY for 1-channel models */
  int32_t resize;     /* BMX_RESIZE_* */
  double scale;       /* pixel multiplier, e.g. 1/255 for inputs in [0, 1], 1 for 0..255 */
  double crop_fraction;
  int32_t num_values; /* entries of mean and std in use: 1, or the channel count */
  double mean[3];
  double std[3];
  int32_t recorded;   /* 1 when the model file records the convention, 0 for the default */
} bmx_input_convention;

BMX_API int bmx_model_input_convention(const bmx_model* model, bmx_input_convention* out);
/* Override the convention (e.g. from command-line flags); later bmx_model_set_input_image calls use it. */
BMX_API int bmx_model_set_input_convention(bmx_model* model, const bmx_input_convention* convention);
/* Fill sample `batch_index` of 4-D input `index` from 8-bit pixels (height x width x channels, row-major;
 * channels 1 grey, 3 RGB, 4 RGBA) by the convention: a 1-channel input takes the luma of colour images, a
 * 3-channel input takes a grey image as three equal channels. */
BMX_API int bmx_model_set_input_image(bmx_model* model, size_t index, int64_t batch_index, const uint8_t* pixels,
                                      int height, int width, int channels);

/* Class names the model file records (format 1.1), by output index; 0 when it records none. The name stays
 * valid while the model lives. */
BMX_API int bmx_model_num_labels(const bmx_model* model, size_t* out_count);
BMX_API int bmx_model_label(const bmx_model* model, size_t index, const char** out_name);

/* Memory the model holds: the activation arena of the memory plan, per-run scratch, and weights
 * (the file image plus weights repacked at load). */
BMX_API int bmx_model_memory(const bmx_model* model, size_t* arena_bytes, size_t* scratch_bytes,
                             size_t* weight_bytes);

/* Per-node timing: after bmx_model_set_profiling(model, 1), every run adds each node's wall time. */
typedef struct bmx_node_profile {
  const char* name; /* node name, valid while the model lives */
  const char* op;   /* operator name */
  double total_ms;  /* summed over the profiled runs */
  int64_t runs;
} bmx_node_profile;

BMX_API int bmx_model_set_profiling(bmx_model* model, int enabled); /* enabling resets the totals */
BMX_API int bmx_model_num_nodes(const bmx_model* model, size_t* out_count);
BMX_API int bmx_model_node_profile(const bmx_model* model, size_t index, bmx_node_profile* out_profile);

#ifdef __cplusplus
}
#endif

#endif /* BMX_RUNTIME_H_ */
