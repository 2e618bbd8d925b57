"""Python binding (ctypes) of the standalone runtime's C API (``native/runtime/include/bmx_runtime.h``).

Meant for tests and scripting; deployments link the C API directly. The library is ``bmxnet_ext._runtime``
built by ``setup.py``, or any build of the runtime passed as ``library=`` (e.g. the CMake build's
``libbmx_runtime.so``)::

    from bmxnet_ext.runtime import Model
    model = Model("resnet18.bmx", threads=2)
    logits = model.run(x)                         # x: float32 array of the input's shape
    print(model.classify("photo.jpg", top=3))     # [(class, score, name), ...] by the model's input convention

Images are prepared by the runtime itself (``bmx_model_set_input_image``) following the convention the
model file records (:mod:`bmxnet_ext.model_metadata`); :meth:`Model.set_convention` overrides it.
"""
import ctypes
import glob
import os

import numpy as np

__all__ = ["Model", "BmxRuntimeError", "load_library", "read_image", "STATUS"]

STATUS = {0: "ok", 1: "invalid argument", 2: "i/o error", 3: "invalid model file", 4: "unsupported model feature",
          5: "out of memory", 6: "internal error"}
_DTYPES = {0: np.float32, 1: np.int32, 2: np.uint64}
_MAX_NDIM = 8
_COLORS = ("RGB", "BGR", "GRAY")
_RESIZES = ("crop", "stretch")


class BmxRuntimeError(RuntimeError):
    """A failed runtime call: ``status`` is the C status code, the message the runtime's explanation."""

    def __init__(self, status, message):
        super().__init__(f"[{STATUS.get(status, status)}] {message}")
        self.status = status


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int32), ("ndim", ctypes.c_int32),
                ("dims", ctypes.c_int64 * _MAX_NDIM), ("nbytes", ctypes.c_size_t)]


class _Convention(ctypes.Structure):
    _fields_ = [("color", ctypes.c_int32), ("resize", ctypes.c_int32), ("scale", ctypes.c_double),
                ("crop_fraction", ctypes.c_double), ("num_values", ctypes.c_int32), ("mean", ctypes.c_double * 3),
                ("std", ctypes.c_double * 3), ("recorded", ctypes.c_int32)]


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
            "bmx_model_set_batch_size": ([p, ctypes.c_int64], i32),
            "bmx_model_input_convention": ([p, ctypes.POINTER(_Convention)], i32),
            "bmx_model_set_input_convention": ([p, ctypes.POINTER(_Convention)], i32),
            "bmx_model_set_input_image": ([p, size, ctypes.c_int64, p, i32, i32, i32], i32),
            "bmx_model_num_labels": ([p, ctypes.POINTER(size)], i32),
            "bmx_model_label": ([p, size, ctypes.POINTER(ctypes.c_char_p)], i32),
        }
        for name, (args, res) in signatures.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, res
        _LIBRARIES[path] = lib
    return _LIBRARIES[path]


class Model:
    """A model loaded by the runtime from a ``.bmx`` file path or its bytes.

    ``inputs`` / ``outputs`` list ``(name, shape, dtype)``; :meth:`run` takes one array per input (positional,
    in order) and returns the list of outputs (or the single output). ``batch_size`` replaces the batch size
    the file was converted with. ``labels`` are the class names the file records (may be empty).
    """

    def __init__(self, source, threads=1, library=None, batch_size=None):
        self._lib = load_library(library)
        handle = ctypes.c_void_p()
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            self._call(self._lib.bmx_model_load_memory, data, len(data), ctypes.byref(handle))
        else:
            self._call(self._lib.bmx_model_load_file, os.fsencode(source), ctypes.byref(handle))
        self._handle = handle
        self._refresh_infos()
        self.set_threads(threads)
        if batch_size is not None:
            self.set_batch_size(batch_size)
        count = ctypes.c_size_t()
        self._call(self._lib.bmx_model_num_labels, self._handle, ctypes.byref(count))
        name = ctypes.c_char_p()
        labels = []
        for i in range(count.value):
            self._call(self._lib.bmx_model_label, self._handle, i, ctypes.byref(name))
            labels.append(name.value.decode("utf-8", "replace"))
        self.labels = tuple(labels)

    def _refresh_infos(self):
        self.inputs = self._infos(self._lib.bmx_model_num_inputs, self._lib.bmx_model_input_info)
        self.outputs = self._infos(self._lib.bmx_model_num_outputs, self._lib.bmx_model_output_info)

    def set_batch_size(self, batch):
        """Run ``batch`` samples at once from now on (inputs are zeroed; ``inputs`` / ``outputs`` change)."""
        self._call(self._lib.bmx_model_set_batch_size, self._handle, int(batch))
        self._refresh_infos()

    @property
    def convention(self):
        """The input convention in use: a dict with color, resize, scale, crop_fraction, mean, std and
        ``recorded`` (False when the file records none and ImageNet's default applies)."""
        c = _Convention()
        self._call(self._lib.bmx_model_input_convention, self._handle, ctypes.byref(c))
        n = c.num_values
        return {"color": _COLORS[c.color], "resize": _RESIZES[c.resize], "scale": c.scale,
                "crop_fraction": c.crop_fraction, "mean": tuple(c.mean[:n]), "std": tuple(c.std[:n]),
                "recorded": bool(c.recorded)}

    def set_convention(self, *, color=None, resize=None, scale=None, crop_fraction=None, mean=None, std=None):
        """Override fields of the input convention (``None`` keeps one); ``mean`` / ``std`` take 1 value or one
        per channel."""
        current = self.convention
        c = _Convention()
        c.color = _COLORS.index(color or current["color"])
        c.resize = _RESIZES.index(resize or current["resize"])
        c.scale = current["scale"] if scale is None else float(scale)
        c.crop_fraction = current["crop_fraction"] if crop_fraction is None else float(crop_fraction)
        mean = current["mean"] if mean is None else tuple(mean)
        std = current["std"] if std is None else tuple(std)
        if len(mean) != len(std):
            mean, std = (mean * len(std) if len(mean) == 1 else mean), (std * len(mean) if len(std) == 1 else std)
        if len(mean) != len(std) or not 1 <= len(mean) <= 3:
            raise ValueError(f"Expected mean and std of 1 or 3 values, got {mean} and {std}.")
        c.num_values = len(mean)
        c.mean[:len(mean)], c.std[:len(std)] = [float(v) for v in mean], [float(v) for v in std]
        c.recorded = int(current["recorded"])
        self._call(self._lib.bmx_model_set_input_convention, self._handle, ctypes.byref(c))

    def set_image(self, image, batch_index=0, input_index=0):
        """Fill one sample of an image input from 8-bit pixels ``(H, W)``, ``(H, W, 3)`` RGB or ``(H, W, 4)``
        RGBA, prepared by the input convention (resize, colour, scale, mean, std)."""
        pixels = np.ascontiguousarray(image, dtype=np.uint8)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if pixels.ndim != 3:
            raise ValueError(f"Expected an image of shape (H, W) or (H, W, C), got {np.shape(image)}.")
        h, w, c = pixels.shape
        self._call(self._lib.bmx_model_set_input_image, self._handle, input_index, batch_index,
                   pixels.ctypes.data, h, w, c)

    def classify(self, images, top=5):
        """Top classes of each image (a path or 8-bit pixels, or a list of them; the batch size becomes the
        number of images): ``[(class, score, name), ...]`` per image, name ``""`` without labels."""
        single = not isinstance(images, (list, tuple))
        images = [images] if single else list(images)
        if self.inputs[0][1][0] != len(images):
            self.set_batch_size(len(images))
        for i, image in enumerate(images):
            self.set_image(read_image(image) if isinstance(image, (str, os.PathLike)) else image, batch_index=i)
        self._call(self._lib.bmx_model_run, self._handle)
        scores = self._outputs()[0].reshape(len(images), -1)
        results = []
        for row in scores:
            best = np.argsort(-row, kind="stable")[:top]
            results.append([(int(k), float(row[k]), self.labels[k] if k < len(self.labels) else "") for k in best])
        return results[0] if single else results

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
        outs = self._outputs()
        return outs[0] if len(outs) == 1 else outs

    def _outputs(self):
        outs = []
        for i, (name, shape, dtype) in enumerate(self.outputs):
            out = np.empty(shape, dtype)
            self._call(self._lib.bmx_model_get_output, self._handle, i, out.ctypes.data, out.nbytes)
            outs.append(out)
        return outs

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


def read_image(path):
    """8-bit RGB pixels ``(H, W, 3)`` of an image file (any format OpenCV reads)."""
    import cv2

    pixels = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if pixels is None:
        raise ValueError(f"Cannot read image {os.fspath(path)!r} (missing, or not an image OpenCV decodes).")
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
