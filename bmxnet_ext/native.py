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
parameter) naming the operation and the offending shapes.

Instruction sets: ``available_isas()`` lists what this CPU and build support; the kernels use the fastest
unless ``BMX_ISA`` or :func:`use_isa` says otherwise. Threads: :func:`set_num_threads`; results are
bit-identical for every thread count.
"""
import contextlib
import threading

import numpy as np

try:
    from . import _native
except ImportError as err:  # pragma: no cover - depends on the build
    raise ImportError("bmxnet_ext._native is not built; run `python setup.py build_ext --inplace` in the "
                      "repository root (needs a C++17 compiler and pybind11)") from err

__all__ = ["WORD_BITS", "words_for", "available_isas", "current_isa", "use_isa", "set_num_threads",
           "get_num_threads", "pack_activations", "pack_conv_weights", "pack_dense_weights", "binary_conv2d",
           "binary_dense", "binary_gemm", "sign_intervals", "peak_macs_per_second", "OUT_FORMATS"]

WORD_BITS = 64
OUT_FORMATS = ("int32", "float", "packed")
_ISA_LOCK = threading.RLock()
_FORCED = []  # instruction sets forced by the active use_isa blocks, innermost last


def words_for(bits):
    """Number of 64-bit words that hold ``bits`` bits: ``ceil(bits / 64)``."""
    return -(-int(bits) // WORD_BITS)


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
    if name not in available_isas():
        raise ValueError(f"Expected an instruction set from {available_isas()}, got {name!r}")
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


def set_num_threads(n):
    """Use ``n >= 1`` threads (the caller included) in the kernels."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"Expected a thread count >= 1, got {n!r}")
    _native.set_num_threads(int(n))


def get_num_threads():
    """Threads the kernels use."""
    return _native.get_num_threads()


_FLOAT32 = (np.dtype(np.float32),)
_WORDS = (np.dtype(np.uint64), np.dtype(np.int64))


def _array(op, name, value, dtypes, ndim):
    """Check that ``value`` is a C-contiguous NumPy array of one of ``dtypes`` (np.dtype objects) with ``ndim``
    dimensions. These checks run on every kernel call, so the common case is one cheap test (``ndim`` is an
    int or a tuple of ints)."""
    if (type(value) is np.ndarray and value.dtype in dtypes
            and (value.ndim == ndim if type(ndim) is int else value.ndim in ndim) and value.flags.c_contiguous):
        return value
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{op}: expected `{name}` as a numpy.ndarray, got {type(value).__name__}")
    if value.dtype not in dtypes:
        expected = " or ".join(d.name for d in dtypes)
        raise TypeError(f"{op}: expected `{name}` of dtype {expected}, got {value.dtype} with shape {value.shape}")
    if value.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError(f"{op}: expected `{name}` with {ndim} dimensions, got shape {value.shape}")
    if not value.flags.c_contiguous:
        raise ValueError(f"{op}: expected a C-contiguous `{name}` (use numpy.ascontiguousarray), got strides "
                         f"{value.strides} for shape {value.shape}")
    return value


def _floats(op, name, value, ndim):
    return _array(op, name, value, _FLOAT32, ndim)


def _words(op, name, value, ndim):
    value = _array(op, name, value, _WORDS, ndim)
    return value if value.dtype == _WORDS[0] else value.view(np.uint64)


def _affine(op, scale, bias, channels, required):
    if (scale is None) != (bias is None):
        raise ValueError(f"{op}: give both `scale` and `bias` or neither")
    if scale is None:
        if required:
            raise ValueError(f"{op}: out_format 'float' and 'packed' need `scale` and `bias` of shape ({channels},)")
        return None, None
    scale = _floats(op, "scale", scale, 1)
    bias = _floats(op, "bias", bias, 1)
    if scale.shape != (channels,) or bias.shape != (channels,):
        raise ValueError(f"{op}: expected `scale` and `bias` of shape ({channels},), got {scale.shape} and "
                         f"{bias.shape}")
    return scale, bias


def _pair(op, name, value, minimum):
    if type(value) is int and value >= minimum:  # the common case, checked first: this runs on every call
        return value, value
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{op}: expected `{name}` as an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: expected `{name}` >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _out_format(op, out_format):
    if out_format not in OUT_FORMATS:
        raise ValueError(f"{op}: expected out_format in {OUT_FORMATS}, got {out_format!r}")
    return out_format


def pack_activations(x, groups=1, scale=None, bias=None, *, out=None, isa=None):
    """Pack float activations by sign along the channels.

    ``x`` float32 ``(N, C, H, W)`` -> uint64 ``(N, H, W, groups * ceil(C/groups / 64))``, each channel group
    packed on its own; ``x`` ``(N, K)`` -> ``(N, ceil(K / 64))``. With ``scale`` and ``bias`` (float32, one
    per channel / feature) the bit is set iff ``scale[c] * x + bias[c] < 0`` in float32 (multiply, round,
    add: a folded BatchNorm before the sign), else iff ``x < 0``.
    """
    op = "pack_activations"
    x = _floats(op, "x", x, (2, 4))
    if x.ndim == 4:
        if not isinstance(groups, (int, np.integer)) or groups < 1 or x.shape[1] % groups:
            raise ValueError(f"{op}: expected groups >= 1 dividing C={x.shape[1]} of x {x.shape}, got {groups!r}")
    elif groups != 1:
        raise ValueError(f"{op}: groups apply to (N, C, H, W) input only, got groups={groups!r} for x {x.shape}")
    if min(x.shape) < 1:
        raise ValueError(f"{op}: expected a non-empty x, got shape {x.shape}")
    scale, bias = _affine(op, scale, bias, x.shape[1], required=False)
    return _on_isa(isa, _native.pack_activations, x, int(groups), scale, bias, out)


def pack_conv_weights(weight, *, isa=None):
    """Pack convolution weights float32 ``(O, C/groups, KH, KW)`` -> uint64 ``(O, KH, KW, ceil(C/groups/64))``."""
    weight = _floats("pack_conv_weights", "weight", weight, 4)
    if min(weight.shape) < 1:
        raise ValueError(f"pack_conv_weights: expected a non-empty weight, got shape {weight.shape}")
    return _on_isa(isa, _native.pack_conv_weights, weight)


def pack_dense_weights(weight, *, isa=None):
    """Pack dense weights float32 ``(O, K)`` -> uint64 ``(O, ceil(K / 64))``."""
    weight = _floats("pack_dense_weights", "weight", weight, 2)
    if min(weight.shape) < 1:
        raise ValueError(f"pack_dense_weights: expected a non-empty weight, got shape {weight.shape}")
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
    op = "binary_conv2d"
    data = _words(op, "data", data, 4)
    weight = _words(op, "weight", weight, 4)
    stride = _pair(op, "stride", stride, 1)
    pad = _pair(op, "pad", pad, 0)
    dilate = _pair(op, "dilate", dilate, 1)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: expected groups >= 1, got {groups!r}")
    if not isinstance(in_channels, (int, np.integer)) or in_channels < 1 or in_channels % groups:
        raise ValueError(f"{op}: expected in_channels >= 1 divisible by groups={groups}, got {in_channels!r}")
    cwg = words_for(in_channels // groups)
    if data.shape[3] != groups * cwg or min(data.shape) < 1:
        raise ValueError(f"{op}: expected packed data (N, H, W, {groups * cwg}) for in_channels={in_channels}, "
                         f"groups={groups}, got {data.shape}")
    if weight.shape[3] != cwg or min(weight.shape) < 1 or weight.shape[0] % groups:
        raise ValueError(f"{op}: expected packed weight (O, KH, KW, {cwg}) with O divisible by groups={groups}, "
                         f"got {weight.shape}")
    out_format = _out_format(op, out_format)
    scale, bias = _affine(op, scale, bias, weight.shape[0], required=out_format != "int32")
    for axis, name in ((0, "height"), (1, "width")):
        span = dilate[axis] * (weight.shape[1 + axis] - 1) + 1
        if data.shape[1 + axis] + 2 * pad[axis] < span:
            raise ValueError(f"{op}: padded input {name} {data.shape[1 + axis]} + 2*{pad[axis]} is smaller than the "
                             f"dilated kernel {name} {span} (data {data.shape}, weight {weight.shape})")
    if residual is not None:
        if out_format != "float":
            raise ValueError(f"{op}: `residual` needs out_format 'float', got {out_format!r}")
        residual = _floats(op, "residual", residual, 4)
    return _on_isa(isa, _native.binary_conv2d, data, weight, int(in_channels), stride, pad, dilate, int(groups),
                   out_format, scale, bias, residual, out)


def binary_dense(data, weight, *, in_units, out_format="int32", scale=None, bias=None, out=None, isa=None):
    """Binary dense layer: ``y[n, o] = K - 2 * popcount(data[n] ^ weight[o])`` with ``K = in_units``.

    ``data`` uint64/int64 ``(N, ceil(K/64))``, ``weight`` ``(O, ceil(K/64))``; output forms as in
    :func:`binary_conv2d` with shapes ``(N, O)`` (int32 / float) or ``(N, ceil(O/64))`` (packed); ``out`` as
    there.
    """
    op = "binary_dense"
    data = _words(op, "data", data, 2)
    weight = _words(op, "weight", weight, 2)
    if not isinstance(in_units, (int, np.integer)) or in_units < 1:
        raise ValueError(f"{op}: expected in_units >= 1, got {in_units!r}")
    kw = words_for(in_units)
    if data.shape[1] != kw or weight.shape[1] != kw or min(data.shape + weight.shape) < 1:
        raise ValueError(f"{op}: expected packed data (N, {kw}) and weight (O, {kw}) for in_units={in_units}, got "
                         f"{data.shape} and {weight.shape}")
    out_format = _out_format(op, out_format)
    scale, bias = _affine(op, scale, bias, weight.shape[0], required=out_format != "int32")
    return _on_isa(isa, _native.binary_dense, data, weight, int(in_units), out_format, scale, bias, out)


def binary_gemm(a, b, k, *, isa=None):
    """Raw binary GEMM: int32 ``c[m, n] = k - 2 * popcount(a[m] ^ b[n])`` for packed rows ``a`` ``(M, ceil(k/64))``
    and ``b`` ``(N, ceil(k/64))`` (tail bits past ``k`` must be zero)."""
    op = "binary_gemm"
    a = _words(op, "a", a, 2)
    b = _words(op, "b", b, 2)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{op}: expected k >= 1, got {k!r}")
    if a.shape[1] != words_for(k) or b.shape[1] != words_for(k) or min(a.shape + b.shape) < 1:
        raise ValueError(f"{op}: expected a (M, {words_for(k)}) and b (N, {words_for(k)}) for k={k}, got "
                         f"{a.shape} and {b.shape}")
    return _on_isa(isa, _native.binary_gemm, a, b, int(k))


def sign_intervals(scale, bias, k):
    """Per-channel integer thresholds of the packed output: ``(lo, hi)`` int32 arrays such that
    ``scale[o] * y + bias[o] < 0`` (float32) iff ``lo[o] <= y <= hi[o]`` for every integer ``y`` in
    ``[-k, k]`` (``lo > hi``: never)."""
    op = "sign_intervals"
    scale = _floats(op, "scale", scale, 1)
    bias = _floats(op, "bias", bias, 1)
    if scale.shape != bias.shape:
        raise ValueError(f"{op}: expected `scale` and `bias` of one shape, got {scale.shape} and {bias.shape}")
    return _native.sign_intervals(scale, bias, int(k))


def peak_macs_per_second(isa=None, threads=None, seconds=0.2):
    """The machine's xnor/popcount peak in binary MACs per second: the ISA's best xor + popcount + add loop
    on L1-resident data, on ``threads`` threads (default: :func:`get_num_threads`)."""
    isa = current_isa() if isa is None else isa
    if isa not in available_isas():
        raise ValueError(f"Expected an instruction set from {available_isas()}, got {isa!r}")
    threads = get_num_threads() if threads is None else threads
    return _native.peak_binary_macs_per_second(isa, int(threads), float(seconds))
