"""MXNet operators of converted binary models: ``BmxPack``, ``BmxBinaryConv2D``, ``BmxBinaryDense``.

They live in the C++ extension library ``bmxnet_ext._mxnet_op`` (``native/mxnet_op``, built by ``setup.py``),
which ``import bmxnet_ext`` loads into MXNet once through ``mx.library.load``. After that they run inside
MXNet's engine like built-in operators (``mx.nd.BmxPack(...)``, ``mx.sym.BmxBinaryConv2D(...)``, and in symbol
JSON loaded by ``mx.sym.load`` / ``gluon.SymbolBlock.imports``). Their semantics are the table "Operators of a
converted model" in ``docs/conventions.md``.

The library links the process's one native core (``bmxnet_ext/libbmxcore.so``), so the operators follow
the instruction set and thread count set through :mod:`bmxnet_ext.native`; :func:`isa` and
:func:`get_num_threads` report what they use.

If the extension was not built, importing ``bmxnet_ext`` still works (training needs no native code);
:func:`load` then raises an ``ImportError`` that says how to build it.
"""
import ctypes
import importlib.util
import os
import threading
import warnings

__all__ = ["OPERATORS", "load", "available", "isa", "get_num_threads"]

OPERATORS = ("BmxPack", "BmxBinaryConv2D", "BmxBinaryDense")
"""Operator names the extension library registers."""

_EXTENSION = "bmxnet_ext._mxnet_op"
_lock = threading.Lock()
_loaded_path = None


def _library_path():
    """Absolute path of the built extension library, or None when it was not built."""
    spec = importlib.util.find_spec(_EXTENSION)
    if spec is None or not spec.origin or not os.path.exists(spec.origin):
        return None
    return os.path.abspath(spec.origin)


def available():
    """True if the operators are registered in MXNet (the extension was built and loaded)."""
    return _loaded_path is not None


def load():
    """Register the operators in MXNet (once per process); returns the library's path.

    Raises ``ImportError`` when the extension library was not built, naming the command that builds it.
    """
    global _loaded_path
    with _lock:
        if _loaded_path is not None:
            return _loaded_path
        path = _library_path()
        if path is None:
            raise ImportError(
                f"The MXNet operators {', '.join(OPERATORS)} need the compiled extension {_EXTENSION}, which "
                "was not found. Build it with `python setup.py build_ext --inplace` (or install the package "
                "with pip).")
        import mxnet as mx

        mx.library.load(path, verbose=False)
        _loaded_path = path
        return path


def _library():
    """ctypes handle of the loaded library (the same dlopen handle MXNet uses)."""
    lib = ctypes.CDLL(load())
    lib.bmx_mxnet_isa.restype = ctypes.c_char_p
    return lib


def isa():
    """The instruction set the operators' kernels run on: the process-wide choice of
    :func:`bmxnet_ext.native.use_isa` / ``BMX_ISA`` (the operators link the same native core)."""
    return _library().bmx_mxnet_isa().decode()


def get_num_threads():
    """Threads the operators' kernels use: the process-wide count of :func:`bmxnet_ext.set_num_threads`."""
    return _library().bmx_mxnet_num_threads()


def _load_if_built():
    """Load the operators at import time when the extension exists; stay silent when it was not built, and
    only warn when it cannot be loaded (training needs no operators; :func:`load` raises the error again)."""
    if _library_path() is None:
        return
    try:
        load()
    except Exception as err:  # e.g. built against another MXNet: keep `import bmxnet_ext` usable
        warnings.warn(f"bmxnet_ext: the MXNet operators could not be loaded ({err}); converted models will "
                      "not run. Rebuild with `python setup.py build_ext --inplace`.", RuntimeWarning)


_load_if_built()
