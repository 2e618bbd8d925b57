"""Bit-packing of binary weights into the words the operators read (``docs/conventions.md``).

The packing itself is the native core's (:func:`bmxnet_ext.native.pack_conv_weights` and
``pack_dense_weights``), the one implementation the kernels are tested against: a vector of length ``K``
becomes ``ceil(K / 64)`` words, element ``j`` is bit ``j % 64`` (LSB first) of word ``j // 64``, a set bit means
-1 (``w < 0``), a clear bit +1 (zero included), tail bits are zero. Words are returned as ``int64`` arrays
(MXNet has no uint64 dtype; the bits are identical).
"""
import numpy as np

from bmxnet_ext import native

__all__ = ["pack_conv_weight", "pack_dense_weight"]


def _float32(weight, ndim, expected):
    weight = np.ascontiguousarray(weight, dtype=np.float32)
    if weight.ndim != ndim:
        raise ValueError(f"Expected a {expected}, got shape {weight.shape}.")
    return weight


def pack_conv_weight(weight):
    """Float ``(O, C/G, KH, KW)`` -> int64 words ``(O, KH, KW, ceil(C/G / 64))``."""
    return native.pack_conv_weights(_float32(weight, 4, "convolution weight (O, C/G, KH, KW)")).view(np.int64)


def pack_dense_weight(weight):
    """Float ``(O, K)`` -> int64 words ``(O, ceil(K / 64))``."""
    return native.pack_dense_weights(_float32(weight, 2, "dense weight (O, K)")).view(np.int64)
