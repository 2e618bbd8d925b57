"""Native binary kernels: bit-packing and xnor/popcount convolution, dense layer and GEMM.

NumPy in, NumPy out, over the C++ core in ``native/core`` (public API: ``native/core/include/bmx/``). The bit
conventions are those of ``docs/conventions.md``:

- a packed word is ``uint64``; element ``j`` of a length-``K`` vector is bit ``j % 64`` of word ``j // 64``;
  a set bit means -1 (``x < 0``; zero and ``-0.0`` are +1); tail bits past ``K`` are zero;
- the binary dot product of packed ``a`` and ``b`` is ``y = K - 2 * popcount(a XOR b)``, exactly the dot
  product of the +/-1 vectors;
- convolutions pad with -1, so every output has ``K = C/groups * KH * KW`` binary inputs.

Packed arrays are returned as ``uint64``; ``int64`` arrays (MXNet's dtype for packed tensors) are accepted
as well and read bit for bit. The functions that compute activations take ``out=``: a preallocated,
writeable, C-contiguous array of the result's shape and dtype, which they fill and return instead of
allocating one per call (a graph executor reuses its buffers the same way); it must not overlap an input.
Every function checks its arguments and raises ``TypeError`` (dtype) or ``ValueError`` (shape, layout,
parameter) naming the operation and the offending shapes; the checks are the binding's (arrays) and the
core's (geometry), so this module only documents and forwards.

Instruction sets: ``available_isas()`` lists what this CPU and build support; the kernels use the fastest
unless ``BMX_ISA`` or :func:`use_isa` says otherwise. Threads: :func:`set_num_threads`; results are
bit-identical for every thread count. Both switches are process-wide: the Python binding, the MXNet
operators (:mod:`bmxnet_ext.ops`) and the runtime (:mod:`bmxnet_ext.runtime`) link one core library
(``bmxnet_ext/libbmxcore.so``), and :func:`kernel_calls` counts the kernel calls each ISA ran for all of them.
"""
import contextlib
import numbers
import threading

from .words import WORD_BITS, words_for

try:
    from . import _native
except ImportError as err:  # pragma: no cover - depends on the build
    raise ImportError("bmxnet_ext._native is not built; run `python setup.py build_ext --inplace` in the "
                      "repository root (needs a C++17 compiler and pybind11)") from err

__all__ = ["WORD_BITS", "words_for", "available_isas", "current_isa", "use_isa", "kernel_calls", "set_num_threads",
           "get_num_threads", "pack_activations", "pack_conv_weights", "pack_dense_weights", "binary_conv2d",
           "binary_dense", "binary_gemm", "sign_intervals", "peak_macs_per_second", "OUT_FORMATS"]

if _native.WORD_BITS != WORD_BITS:  # pragma: no cover - the two homes of the constant (C++ and Python) agree
    raise ImportError(f"bmxnet_ext._native packs {_native.WORD_BITS}-bit words, bmxnet_ext.words says {WORD_BITS}")

OUT_FORMATS = ("int32", "float", "packed")
_ISA_LOCK = threading.RLock()
_FORCED = []  # instruction sets forced by the active use_isa blocks, innermost last


def available_isas():
    """Instruction sets this CPU and build support, most portable first (e.g. ``['portable', 'avx2']``)."""
    return list(_native.available_isas())


def current_isa():
    """The instruction set the next kernel call uses."""
    return _native.current_isa()


@contextlib.contextmanager
def use_isa(name):
    """Run the kernels of the ``with`` block on instruction set ``name`` (process-wide while active).

    Raises ``ValueError`` if ``name`` is unknown or not supported here (see :func:`available_isas`).
    """
    with _ISA_LOCK:
        _native.force_isa(name)
        _FORCED.append(name)
        try:
            yield name
        finally:
            _FORCED.pop()
            if _FORCED:
                _native.force_isa(_FORCED[-1])
            else:
                _native.reset_isa()


def _on_isa(isa, fn, *args):
    """``fn(*args)`` on instruction set ``isa`` (None: the current one, without entering a context)."""
    if isa is None:
        return fn(*args)
    with use_isa(isa):
        return fn(*args)


def kernel_calls(isa):
    """Kernel calls (packing, convolution, dense, GEMM) that ran on instruction set ``isa`` in this process so
    far, from any front end: the Python binding, the MXNet operators and the runtime share the one core."""
    return _native.kernel_calls(isa)


def set_num_threads(n):
    """Use ``n >= 1`` threads (the caller included) in the kernels of every front end."""
    _native.set_num_threads(n)


def get_num_threads():
    """Threads the kernels use."""
    return _native.get_num_threads()


def _pair(value):
    """``(value, value)`` for one int, else the value's two entries (the core checks their ranges)."""
    return (value, value) if isinstance(value, numbers.Integral) else tuple(value)


def pack_activations(x, groups=1, scale=None, bias=None, *, out=None, isa=None):
    """Pack float activations by sign along the channels.

    ``x`` float32 ``(N, C, H, W)`` -> uint64 ``(N, H, W, groups * ceil(C/groups / 64))``, each channel group
    packed on its own; ``x`` ``(N, K)`` -> ``(N, ceil(K / 64))``. With ``scale`` and ``bias`` (float32, one
    per channel / feature) the bit is set iff ``scale[c] * x + bias[c] < 0`` in float32 (multiply, round,
    add: a folded BatchNorm before the sign), else iff ``x < 0``.
    """
    return _on_isa(isa, _native.pack_activations, x, groups, scale, bias, out)


def pack_conv_weights(weight, *, isa=None):
    """Pack convolution weights float32 ``(O, C/groups, KH, KW)`` -> uint64 ``(O, KH, KW, ceil(C/groups/64))``."""
    return _on_isa(isa, _native.pack_conv_weights, weight)


def pack_dense_weights(weight, *, isa=None):
    """Pack dense weights float32 ``(O, K)`` -> uint64 ``(O, ceil(K / 64))``."""
    return _on_isa(isa, _native.pack_dense_weights, weight)


def binary_conv2d(data, weight, *, in_channels, stride=1, pad=0, dilate=1, groups=1, out_format="int32",
                  scale=None, bias=None, residual=None, out=None, isa=None):
    """Binary 2-D convolution (xnor + popcount) of packed activations with packed weights, padding with -1.

    Parameters
    ----------
    data : uint64 or int64 ``(N, H, W, groups * Cwg)``, ``Cwg = ceil(in_channels/groups / 64)``
    weight : uint64 or int64 ``(O, KH, KW, Cwg)``
    in_channels : C, the number of float input channels (the packed shape only gives ``ceil(C/G/64)``)
    stride, pad, dilate : int or (h, w)
    out_format : ``'int32'`` -> ``y`` int32 ``(N, O, OH, OW)`` with ``y = K - 2 * popcount``,
        ``K = C/groups * KH * KW``; ``'float'`` -> float32 ``scale[o] * y + bias[o]`` ``(N, O, OH, OW)``;
        ``'packed'`` -> uint64 ``(N, OH, OW, ceil(O / 64))``, bit ``o`` set iff ``scale[o] * y + bias[o] < 0``
        in float32.
    scale, bias : float32 ``(O,)``, required for 'float' and 'packed'.
    residual : float32 ``(N, O, OH, OW)`` or None; with 'float', added to the output in the same pass
        (``(scale[o] * y + bias[o]) + residual``, each operation rounded to float32, as an add after the
        convolution would).
    out : None, or the output array to fill (see the module's docstring); with ``residual`` it may be the
        ``residual`` array itself (an in-place residual addition).
    """
    return _on_isa(isa, _native.binary_conv2d, data, weight, in_channels, _pair(stride), _pair(pad), _pair(dilate),
                   groups, out_format, scale, bias, residual, out)


def binary_dense(data, weight, *, in_units, out_format="int32", scale=None, bias=None, out=None, isa=None):
    """Binary dense layer: ``y[n, o] = K - 2 * popcount(data[n] ^ weight[o])`` with ``K = in_units``.

    ``data`` uint64/int64 ``(N, ceil(K/64))``, ``weight`` ``(O, ceil(K/64))``; output forms as in
    :func:`binary_conv2d` with shapes ``(N, O)`` (int32 / float) or ``(N, ceil(O/64))`` (packed); ``out`` as
    there.
    """
    return _on_isa(isa, _native.binary_dense, data, weight, in_units, out_format, scale, bias, out)


def binary_gemm(a, b, k, *, isa=None):
    """Raw binary GEMM: int32 ``c[m, n] = k - 2 * popcount(a[m] ^ b[n])`` for packed rows ``a`` ``(M, ceil(k/64))``
    and ``b`` ``(N, ceil(k/64))`` (tail bits past ``k`` must be zero)."""
    return _on_isa(isa, _native.binary_gemm, a, b, k)


def sign_intervals(scale, bias, k):
    """Per-channel integer thresholds of the packed output: ``(lo, hi)`` int32 arrays such that
    ``scale[o] * y + bias[o] < 0`` (float32) iff ``lo[o] <= y <= hi[o]`` for every integer ``y`` in
    ``[-k, k]`` (``lo > hi``: never)."""
    return _native.sign_intervals(scale, bias, k)


def peak_macs_per_second(isa=None, threads=None, seconds=0.2):
    """The machine's xnor/popcount peak in binary MACs per second: the ISA's best xor + popcount + add loop
    on L1-resident data, on ``threads`` threads (default: :func:`get_num_threads`)."""
    isa = current_isa() if isa is None else isa
    threads = get_num_threads() if threads is None else threads
    return _native.peak_binary_macs_per_second(isa, threads, seconds)
