// Instructions the MXNet extension library spends per operator call, without MXNet: calls the library's
// `_opCallFCompute` entry point for BmxPack + BmxBinaryConv2D (1x8x4x4 input, 8 filters 3x3, float output)
// `calls` times, with attributes, shapes and dtypes as MXNet 1.9 passes them (native/mxnet_op/extension_abi.h).
// Instruction counts are deterministic, so this works on a busy machine where timings do not:
//
//   g++ -O2 -std=c++17 tools/benchmark/mxnet_op_calls.cc -o /tmp/mxnet_op_calls -ldl
//   BMX_NUM_THREADS=1 valgrind --tool=callgrind --toggle-collect='_opCallFCompute' /tmp/mxnet_op_calls
//       bmxnet_ext/_mxnet_op.cpython-311-x86_64-linux-gnu.so 1000 [fused]
//
// ("Collected" / calls = instructions per pack + convolution pair, kernels included; with `fused`, per single
// BmxBinaryConv2D call with in_format=float that packs its float input itself.)
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using Fn = void*;
using RegGetFn = void (*)(int, const char**, int*, const char***, Fn**, int*, const char***, Fn**, int*,
                          const char***, void***, int*, Fn*, Fn*, void**, Fn*, void**);
using FComputeFn = int (*)(Fn, const char* const*, const char* const*, int, const int64_t**, int*, void**, int*,
                           size_t*, const char**, int*, int, const int64_t**, int*, void**, int*, size_t*,
                           const char**, int*, int, void*, void*, void*, void*, void*, void*, void*, int*, int*,
                           void**, void**, void**, void**, int64_t*, int64_t*, int64_t*, int64_t*, void*, void*);

struct Call {
  Fn forward;
  std::vector<const char*> keys, vals;
  std::vector<const int64_t*> in_shapes, out_shapes;
  std::vector<int> in_dims, out_dims, in_types, out_types;
  std::vector<void*> in_data, out_data;
};

int run(FComputeFn fcompute, const Call& c) {
  static const char* cpu[] = {"cpu", "cpu", "cpu", "cpu"};
  static int zeros[] = {0, 0, 0, 0};
  static size_t sizes[] = {0, 0, 0, 0};
  return fcompute(c.forward, c.keys.data(), c.vals.data(), static_cast<int>(c.keys.size()),
                  const_cast<const int64_t**>(c.in_shapes.data()), const_cast<int*>(c.in_dims.data()),
                  const_cast<void**>(c.in_data.data()), const_cast<int*>(c.in_types.data()), sizes, cpu, zeros,
                  static_cast<int>(c.in_data.size()), const_cast<const int64_t**>(c.out_shapes.data()),
                  const_cast<int*>(c.out_dims.data()), const_cast<void**>(c.out_data.data()),
                  const_cast<int*>(c.out_types.data()), sizes, cpu, zeros, static_cast<int>(c.out_data.size()),
                  nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, zeros, zeros, nullptr, nullptr,
                  nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  const bool fused = argc == 4 && std::strcmp(argv[3], "fused") == 0;
  if (argc != 3 && !fused) {
    std::fprintf(stderr, "usage: %s LIBRARY CALLS [fused]\n", argv[0]);
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW);
  if (lib == nullptr) {
    std::fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  auto reg_size = reinterpret_cast<int (*)()>(dlsym(lib, "_opRegSize"));
  auto reg_get = reinterpret_cast<RegGetFn>(dlsym(lib, "_opRegGet"));
  auto fcompute = reinterpret_cast<FComputeFn>(dlsym(lib, "_opCallFCompute"));
  Fn pack = nullptr, conv = nullptr;
  for (int i = 0; i < reg_size(); ++i) {
    const char* name;
    int subgraph, forward_count, backward_count, create_count;
    const char **forward_ctx, **backward_ctx, **create_ctx;
    Fn *forward, *backward, parse, infer_type, infer_shape;
    void **create, *stype, *mutate;
    reg_get(i, &name, &subgraph, &forward_ctx, &forward, &forward_count, &backward_ctx, &backward,
            &backward_count, &create_ctx, &create, &create_count, &parse, &infer_type, &stype, &infer_shape, &mutate);
    if (std::strcmp(name, "BmxPack") == 0) pack = forward[0];
    if (std::strcmp(name, "BmxBinaryConv2D") == 0) conv = forward[0];
  }
  std::vector<float> x(8 * 4 * 4, 0.5f), scale(8, 1.0f), bias(8, 0.0f), y(8 * 4 * 4);
  std::vector<uint64_t> packed(4 * 4), weight(8 * 3 * 3);
  static const int64_t x_shape[] = {1, 8, 4, 4}, packed_shape[] = {1, 4, 4, 1}, w_shape[] = {8, 3, 3, 1},
                       affine_shape[] = {8}, y_shape[] = {1, 8, 4, 4};
  const Call pack_call{pack, {"num_group"}, {"1"}, {x_shape}, {packed_shape}, {4}, {4}, {0}, {6},
                       {x.data()}, {packed.data()}};
  const Call conv_call{conv,
                       {"kernel", "pad", "stride", "dilate", "num_filter", "num_group", "in_channels", "out_format"},
                       {"(3, 3)", "(1, 1)", "(1, 1)", "(1, 1)", "8", "1", "8", "float"},
                       {packed_shape, w_shape, affine_shape, affine_shape}, {y_shape}, {4, 4, 1, 1}, {4},
                       {6, 6, 0, 0}, {0}, {packed.data(), weight.data(), scale.data(), bias.data()}, {y.data()}};
  Call fused_call = conv_call;
  fused_call.keys.push_back("in_format");
  fused_call.vals.push_back("float");
  fused_call.in_shapes[0] = x_shape;
  fused_call.in_types[0] = 0;
  fused_call.in_data[0] = x.data();
  const int calls = std::atoi(argv[2]);
  for (int i = 0; i < calls; ++i) {
    if (fused ? !run(fcompute, fused_call) : !run(fcompute, pack_call) || !run(fcompute, conv_call)) {
      std::fprintf(stderr, "an operator call failed\n");
      return 1;
    }
  }
  std::printf("%d %s, y[0] = %g\n", calls, fused ? "fused pack + convolution calls" : "pack + convolution pairs",
              y[0]);
  return 0;
}
