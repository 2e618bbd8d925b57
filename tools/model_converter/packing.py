"""Bit-packing of binary weights into the words the operators read (``docs/conventions.md``).

A vector of length ``K`` becomes ``ceil(K / 64)`` words; element ``j`` is bit ``j % 64`` (LSB first) of word
``j // 64``; a set bit means -1 (``w < 0``), a clear bit +1 (zero included); tail bits are zero. Words are
returned as ``int64`` arrays (MXNet has no uint64 dtype; the bits are identical).
"""
import numpy as np

__all__ = ["WORD_BITS", "pack_last_axis", "pack_conv_weight", "pack_dense_weight", "packed_words"]

WORD_BITS = 64


def packed_words(length):
    """``ceil(length / 64)``: words that hold ``length`` bits."""
    return -(-int(length) // WORD_BITS)


def pack_last_axis(values):
    """Pack the signs of ``values`` (any shape ``(..., K)``) along the last axis -> int64 ``(..., ceil(K/64))``."""
    values = np.asarray(values)
    negative = values < 0
    width = packed_words(values.shape[-1]) * WORD_BITS
    padded = np.zeros(values.shape[:-1] + (width,), dtype=bool)
    padded[..., :values.shape[-1]] = negative
    packed = np.packbits(padded, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64).view(np.int64)


def pack_conv_weight(weight):
    """Float ``(O, C/G, KH, KW)`` -> int64 words ``(O, KH, KW, ceil(C/G / 64))``."""
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(f"Expected a convolution weight (O, C/G, KH, KW), got shape {weight.shape}.")
    return pack_last_axis(weight.transpose(0, 2, 3, 1))


def pack_dense_weight(weight):
    """Float ``(O, K)`` -> int64 words ``(O, ceil(K / 64))``."""
    weight = np.asarray(weight)
    if weight.ndim != 2:
        raise ValueError(f"Expected a dense weight (O, K), got shape {weight.shape}.")
    return pack_last_axis(weight)
