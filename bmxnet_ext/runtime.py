"""Python binding (ctypes) of the standalone runtime's C API (``native/runtime/include/bmx_runtime.h``).

Meant for tests and scripting; deployments link the C API directly. The library is ``bmxnet_ext._runtime``
built by ``setup.py``, or any build of the runtime passed as ``library=`` (e.g. the CMake build's
``libbmx_runtime.so``)::

    from bmxnet_ext.runtime import Model
    model = Model("resnet18.bmx", threads=2)
    logits = model.run(image)            # image: float32 array of the input's shape
"""
import ctypes
import glob
import os

import numpy as np

__all__ = ["Model", "BmxRuntimeError", "load_library", "STATUS"]

STATUS = {0: "ok", 1: "invalid argument", 2: "i/o error", 3: "invalid model file", 4: "unsupported model feature",
          5: "out of memory", 6: "internal error"}
_DTYPES = {0: np.float32, 1: np.int32, 2: np.uint64}
_MAX_NDIM = 8


class BmxRuntimeError(RuntimeError):
    """A failed runtime call: ``status`` is the C status code, the message the runtime's explanation."""

    def __init__(self, status, message):
        super().__init__(f"[{STATUS.get(status, status)}] {message}")
        self.status = status


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int32), ("ndim", ctypes.c_int32),
                ("dims", ctypes.c_int64 * _MAX_NDIM), ("nbytes", ctypes.c_size_t)]


_LIBRARIES = {}


def load_library(path=None):
    """The runtime's shared library (cached per path): ``path`` or the in-place built ``bmxnet_ext._runtime``."""
    if path is None:
        here = os.path.dirname(os.path.abspath(__file__))
        candidates = sorted(glob.glob(os.path.join(here, "_runtime*.so")) + glob.glob(os.path.join(here, "_runtime*.pyd")))
        if not candidates:
            raise ImportError("bmxnet_ext._runtime is not built; run `python setup.py build_ext --inplace`")
        path = candidates[0]
    if path not in _LIBRARIES:
        lib = ctypes.CDLL(path)
        p, size, i32 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
        signatures = {
            "bmx_last_error": ([], ctypes.c_char_p),
            "bmx_version": ([], ctypes.c_char_p),
            "bmx_isa": ([], ctypes.c_char_p),
            "bmx_model_load_file": ([ctypes.c_char_p, ctypes.POINTER(p)], i32),
            "bmx_model_load_memory": ([p, size, ctypes.POINTER(p)], i32),
            "bmx_model_free": ([p], None),
            "bmx_model_set_threads": ([p, i32], i32),
            "bmx_model_num_inputs": ([p, ctypes.POINTER(size)], i32),
            "bmx_model_num_outputs": ([p, ctypes.POINTER(size)], i32),
            "bmx_model_input_info": ([p, size, ctypes.POINTER(_TensorInfo)], i32),
            "bmx_model_output_info": ([p, size, ctypes.POINTER(_TensorInfo)], i32),
            "bmx_model_set_input": ([p, size, p, size], i32),
            "bmx_model_run": ([p], i32),
            "bmx_model_get_output": ([p, size, p, size], i32),
            "bmx_model_memory": ([p, ctypes.POINTER(size), ctypes.POINTER(size), ctypes.POINTER(size)], i32),
        }
        for name, (args, res) in signatures.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, res
        _LIBRARIES[path] = lib
    return _LIBRARIES[path]


class Model:
    """A model loaded by the runtime from a ``.bmx`` file path or its bytes.

    ``inputs`` / ``outputs`` list ``(name, shape, dtype)``; :meth:`run` takes one array per input (positional,
    in order) and returns the list of outputs (or the single output).
    """

    def __init__(self, source, threads=1, library=None):
        self._lib = load_library(library)
        handle = ctypes.c_void_p()
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            self._call(self._lib.bmx_model_load_memory, data, len(data), ctypes.byref(handle))
        else:
            self._call(self._lib.bmx_model_load_file, os.fsencode(source), ctypes.byref(handle))
        self._handle = handle
        self.inputs = self._infos(self._lib.bmx_model_num_inputs, self._lib.bmx_model_input_info)
        self.outputs = self._infos(self._lib.bmx_model_num_outputs, self._lib.bmx_model_output_info)
        self.set_threads(threads)

    def _call(self, fn, *args):
        status = fn(*args)
        if status != 0:
            raise BmxRuntimeError(status, self._lib.bmx_last_error().decode("utf-8", "replace"))

    def _infos(self, count_fn, info_fn):
        n = ctypes.c_size_t()
        self._call(count_fn, self._handle, ctypes.byref(n))
        infos = []
        for i in range(n.value):
            info = _TensorInfo()
            self._call(info_fn, self._handle, i, ctypes.byref(info))
            infos.append((info.name.decode("utf-8", "replace"), tuple(info.dims[:info.ndim]), np.dtype(_DTYPES[info.dtype])))
        return infos

    def set_threads(self, threads):
        self._call(self._lib.bmx_model_set_threads, self._handle, int(threads))

    def memory(self):
        """``dict(arena=..., scratch=..., weights=...)`` in bytes."""
        sizes = [ctypes.c_size_t() for _ in range(3)]
        self._call(self._lib.bmx_model_memory, self._handle, *[ctypes.byref(s) for s in sizes])
        return dict(zip(("arena", "scratch", "weights"), (s.value for s in sizes)))

    def run(self, *arrays):
        if len(arrays) != len(self.inputs):
            raise ValueError(f"Expected {len(self.inputs)} input arrays, got {len(arrays)}")
        for i, (array, (name, shape, dtype)) in enumerate(zip(arrays, self.inputs)):
            array = np.ascontiguousarray(array, dtype=dtype)
            if array.shape != shape:
                raise ValueError(f"Expected input {name!r} to have shape {shape}, got {array.shape}")
            self._call(self._lib.bmx_model_set_input, self._handle, i, array.ctypes.data, array.nbytes)
        self._call(self._lib.bmx_model_run, self._handle)
        outs = []
        for i, (name, shape, dtype) in enumerate(self.outputs):
            out = np.empty(shape, dtype)
            self._call(self._lib.bmx_model_get_output, self._handle, i, out.ctypes.data, out.nbytes)
            outs.append(out)
        return outs[0] if len(outs) == 1 else outs

    def close(self):
        if getattr(self, "_handle", None):
            self._lib.bmx_model_free(self._handle)
            self._handle = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
