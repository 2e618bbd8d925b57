// The extern "C" entry points MXNet's MXLoadLib looks up (see extension_abi.h for the contract).
//
// Only operators are provided: the partitioner and graph-pass entry points report zero registrations and
// are never called with work. Every `_opCall*` catches all exceptions: a bad attribute, shape or dtype
// becomes a failed call whose message MXNet raises as an MXNetError in Python; nothing crashes the process.
#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "bmx/types.h"
#include "extension_abi.h"
#include "op_registry.h"

using namespace bmx_mxnet;

#define BMX_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

/// Messages of the last failed call on this thread, read back by MXNet through _msgSize / _msgGet.
thread_local std::vector<std::string> t_messages;

/// The operator that owns `fn` (MXNet hands back only the function pointer).
template <typename Fn>
const char* op_name_of(Fn fn, Fn OpDef::*member) {
  for (const auto& op : registered_ops()) {
    if (op.*member == fn) return op.name;
  }
  return "bmxnet_ext operator";
}


/// Run `body`; 1 on success, 0 with a recorded message on any exception.
template <typename Body>
int guarded(const char* op, Body body) {
  t_messages.clear();
  try {
    body();
    return kSuccess;
  } catch (const std::exception& err) {
    std::string what = err.what();
    t_messages.push_back(what.rfind(op, 0) == 0 ? what : std::string(op) + ": " + what);
  } catch (...) {
    t_messages.push_back(std::string(op) + ": unknown error");
  }
  return kFail;
}

bool dim_known(unsigned int d) { return d != 0 && d != UINT_MAX; }

Shape to_shape(const unsigned int* dims, int ndim) {
  Shape s;
  s.known = ndim > 0;
  for (int i = 0; i < ndim; ++i) {
    s.known = s.known && dim_known(dims[i]);
    s.dims.push_back(dims[i]);
  }
  return s;
}

/// Copy shapes into malloc'ed arrays MXNet releases with _opCallFree.
void export_shapes(const std::vector<Shape>& shapes, unsigned int*** out_dims, int** out_ndims) {
  auto** dims = static_cast<unsigned int**>(std::malloc(shapes.size() * sizeof(unsigned int*)));
  auto* ndims = static_cast<int*>(std::malloc(shapes.size() * sizeof(int)));
  for (size_t i = 0; i < shapes.size(); ++i) {
    ndims[i] = static_cast<int>(shapes[i].dims.size());
    dims[i] = static_cast<unsigned int*>(std::malloc((shapes[i].dims.size() + 1) * sizeof(unsigned int)));
    for (size_t j = 0; j < shapes[i].dims.size(); ++j) dims[i][j] = static_cast<unsigned int>(shapes[i].dims[j]);
  }
  *out_dims = dims;
  *out_ndims = ndims;
}

std::vector<Array> to_arrays(const int64_t** shapes, const int* ndims, void** data, const int* types,
                             const char** dev_type, const int* stypes, int count, const char* op) {
  std::vector<Array> arrays(count);
  for (int i = 0; i < count; ++i) {
    if (std::strcmp(dev_type[i], "cpu") != 0 || stypes[i] != 0) {
      throw OpError(std::string(op) + ": only dense CPU arrays are supported, got a " + dev_type[i] +
                    " array with storage type " + std::to_string(stypes[i]) + ".");
    }
    arrays[i].data = data[i];
    arrays[i].dims.assign(shapes[i], shapes[i] + ndims[i]);
    arrays[i].dtype = types[i];
  }
  return arrays;
}

/// Backward of every operator: they are inference operators. Registering it lets MXNet build the gradient
/// graphs Gluon's CachedOp asks for (SymbolBlock.imports) while any actual backward pass fails clearly.
void no_gradient(const Attrs& attrs, const std::vector<Array>&, const std::vector<Array>&) {
  throw OpError(attrs.op() + ": converted binary models are inference-only; this operator has no gradient.");
}

struct RegistrationTables {
  const char* ctx[1] = {"cpu"};
  ForwardFn forward[1] = {nullptr};
  ForwardFn backward[1] = {no_gradient};
};

}  // namespace

BMX_EXPORT int initialize(int version) {
  // MXNET_VERSION = major * 10000 + minor * 100 + patch; the ABI below is that of MXNet 1.9.
  return version >= 10900 && version < 20000 ? kSuccess : kFail;
}

BMX_EXPORT int _opVersion() { return kLibraryVersion; }

BMX_EXPORT int _opRegSize() { return static_cast<int>(registered_ops().size()); }

BMX_EXPORT void _opRegGet(int idx, const char** name, int* is_subgraph_op, const char*** forward_ctx,
                          ForwardFn** forward_fp, int* forward_count, const char*** backward_ctx,
                          ForwardFn** backward_fp, int* backward_count, const char*** create_op_ctx,
                          void*** create_op_fp, int* create_op_count, ParseFn* parse, InferTypeFn* type,
                          void** stype, InferShapeFn* shape, void** mutate) {
  static std::vector<RegistrationTables> tables(registered_ops().size());
  const OpDef& op = registered_ops().at(idx);
  tables[idx].forward[0] = op.forward;
  *name = op.name;
  *is_subgraph_op = 0;
  *forward_ctx = tables[idx].ctx;
  *forward_fp = tables[idx].forward;
  *forward_count = 1;
  *backward_ctx = tables[idx].ctx;
  *backward_fp = tables[idx].backward;
  *backward_count = 1;
  *create_op_ctx = nullptr;
  *create_op_fp = nullptr;
  *create_op_count = 0;
  *parse = op.parse;
  *type = op.infer_type;
  *stype = nullptr;
  *shape = op.infer_shape;
  *mutate = nullptr;
}

BMX_EXPORT void _opCallFree(void* ptr) { std::free(ptr); }

BMX_EXPORT int _opCallParseAttrs(ParseFn parse, const char* const* keys, const char* const* vals, int num,
                                 int* num_in, int* num_out) {
  const char* op = op_name_of(parse, &OpDef::parse);
  return guarded(op, [&] { parse(Attrs(op, keys, vals, num), num_in, num_out); });
}

BMX_EXPORT int _opCallInferShape(InferShapeFn infer, const char* const* keys, const char* const* vals, int num,
                                 unsigned int** inshapes, int* indims, int num_in, unsigned int*** mod_inshapes,
                                 int** mod_indims, unsigned int*** outshapes, int** outdims, int num_out) {
  const char* op = op_name_of(infer, &OpDef::infer_shape);
  return guarded(op, [&] {
    std::vector<Shape> in, out(num_out);
    for (int i = 0; i < num_in; ++i) in.push_back(to_shape(inshapes[i], indims[i]));
    infer(Attrs(op, keys, vals, num), &in, &out);
    export_shapes(in, mod_inshapes, mod_indims);
    export_shapes(out, outshapes, outdims);
  });
}

BMX_EXPORT int _opCallInferType(InferTypeFn infer, const char* const* keys, const char* const* vals, int num,
                                int* intypes, int num_in, int* outtypes, int num_out) {
  const char* op = op_name_of(infer, &OpDef::infer_type);
  return guarded(op, [&] {
    std::vector<int> in(intypes, intypes + num_in), out(num_out, -1);
    infer(Attrs(op, keys, vals, num), &in, &out);
    std::copy(in.begin(), in.end(), intypes);
    std::copy(out.begin(), out.end(), outtypes);
  });
}

BMX_EXPORT int _opCallInferSType(void*, const char* const*, const char* const*, int, int*, int, int*, int) {
  return kFail;  // never called: no storage-type function is registered (MXNet then assumes dense)
}

BMX_EXPORT int _opCallFCompute(ForwardFn forward, const char* const* keys, const char* const* vals, int num,
                               const int64_t** inshapes, int* indims, void** indata, int* intypes, size_t*,
                               const char** indev_type, int*, int num_in, const int64_t** outshapes,
                               int* outdims, void** outdata, int* outtypes, size_t*, const char** outdev_type,
                               int*, int num_out, xpu_malloc_t, void*, xpu_malloc_t, void*, void*, void*, void*,
                               int* instypes, int* outstypes, void**, void**, void**, void**, int64_t*, int64_t*,
                               int64_t*, int64_t*, void*, void*) {
  const char* op = op_name_of(forward, &OpDef::forward);
  return guarded(op, [&] {
    auto in = to_arrays(inshapes, indims, indata, intypes, indev_type, instypes, num_in, op);
    auto out = to_arrays(outshapes, outdims, outdata, outtypes, outdev_type, outstypes, num_out, op);
    forward(Attrs(op, keys, vals, num), in, out);
  });
}

BMX_EXPORT int _opCallMutateInputs(void*, const char* const*, const char* const*, int, int**, int*) {
  return kFail;  // never called: no operator mutates its inputs
}

BMX_EXPORT int _opCallCreateOpState(void*, const char* const*, const char* const*, int, const char*, int,
                                    unsigned int**, int*, int, const int*, void**) {
  return kFail;  // never called: the operators are stateless (the core caches scratch memory per thread)
}

BMX_EXPORT void _opCallDestroyOpState(void*) {}

BMX_EXPORT int _opCallFStatefulCompute(int, void*, const int64_t**, int*, void**, int*, size_t*, const char**,
                                       int*, int, const int64_t**, int*, void**, int*, size_t*, const char**,
                                       int*, int, xpu_malloc_t, void*, xpu_malloc_t, void*, void*, void*, void*,
                                       int*, int*, void**, void**, void**, void**, int64_t*, int64_t*, int64_t*,
                                       int64_t*, void*, void*) {
  return kFail;  // never called: no stateful operator is registered
}

// No partitioners and no graph passes.
BMX_EXPORT int _partRegSize() { return 0; }
BMX_EXPORT int _partRegGetCount(int, const char**) { return 0; }
BMX_EXPORT void _partRegGet(int, int, const char**, void**, void**, void**, const char**) {}
BMX_EXPORT int _partCallSupportedOps(void*, const char*, int, int*, const char* const*, const char* const*, int) {
  return kFail;
}
BMX_EXPORT int _partCallCreateSelector(void*, const char*, void**, const char* const*, const char* const*, int) {
  return kFail;
}
BMX_EXPORT void _partCallSelect(void*, int, int* selected) { *selected = 0; }
BMX_EXPORT void _partCallSelectInput(void*, int, int, int* selected) { *selected = 0; }
BMX_EXPORT void _partCallSelectOutput(void*, int, int, int* selected) { *selected = 0; }
BMX_EXPORT void _partCallFilter(void*, int*, int, int**, int* num_keep) { *num_keep = 0; }
BMX_EXPORT void _partCallReset(void*) {}
BMX_EXPORT int _partCallReviewSubgraph(void*, const char*, int, int* accept, const char* const*,
                                       const char* const*, int, char***, char***, int*, const char* const*, int,
                                       void* const*, const int64_t* const*, const int*, const int*, const size_t*,
                                       const char* const*, const int*, const char* const*, int, void* const*,
                                       const int64_t* const*, const int*, const int*, const size_t*,
                                       const char* const*, const int*) {
  *accept = 0;
  return kFail;
}
BMX_EXPORT int _passRegSize() { return 0; }
BMX_EXPORT void _passRegGet(int, void**, const char**) {}
BMX_EXPORT int _passCallGraphPass(void*, const char*, char**, const char* const*, const char* const*, int,
                                  const char*, const char* const*, int, void* const*, const int64_t* const*,
                                  const int*, const int*, const size_t*, const char* const*, const int*,
                                  const char* const*, int, void* const*, const int64_t* const*, const int*,
                                  const int*, const size_t*, const char* const*, const int*, void*,
                                  const void*) {
  return kFail;
}

BMX_EXPORT int _msgSize() { return static_cast<int>(t_messages.size()); }

BMX_EXPORT void _msgGet(int idx, const char** msg) {
  *msg = idx >= 0 && idx < static_cast<int>(t_messages.size()) ? t_messages[idx].c_str() : "";
}
