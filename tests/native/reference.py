"""Plain NumPy references for the native kernels: the spec the tests compare against.

Binary tensors are +/-1 (``det_sign``: zero and -0.0 map to +1); convolutions pad with -1; packed words follow
docs/conventions.md (bit j of word j // 64 is element j, set bit = -1, tail bits zero).
"""
import numpy as np


def det_sign(x):
    """+1 where x >= 0 (zero and NaN included), -1 where x < 0, as int32."""
    return np.where(x < 0, -1, 1).astype(np.int32)


def affine_f32(scale, x, bias):
    """scale * x + bias in float32: multiply, round, add, round (NumPy never fuses)."""
    product = np.multiply(scale, x, dtype=np.float32)
    return np.add(product, bias, dtype=np.float32)


def pack_bits(negative):
    """Pack a boolean array along its last axis into uint64 words (bit set = True), tail bits zero."""
    k = negative.shape[-1]
    words = -(-k // 64)
    padded = np.zeros(negative.shape[:-1] + (words * 64,), dtype=np.uint8)
    padded[..., :k] = negative
    return np.packbits(padded, axis=-1, bitorder="little").view("<u8").astype(np.uint64)


def pack_nchw(x, groups=1, scale=None, bias=None):
    """(N, C, H, W) floats -> (N, H, W, G * ceil(C/G / 64)) words, each group packed on its own."""
    v = x if scale is None else affine_f32(scale[None, :, None, None], x, bias[None, :, None, None])
    n, c, h, w = x.shape
    neg = (v < 0).transpose(0, 2, 3, 1).reshape(n, h, w, groups, c // groups)
    return pack_bits(neg).reshape(n, h, w, -1)


def pack_rows(x, scale=None, bias=None):
    """(N, K) floats -> (N, ceil(K / 64)) words."""
    v = x if scale is None else affine_f32(scale[None, :], x, bias[None, :])
    return pack_bits(v < 0)


def conv2d(x, w, stride=(1, 1), pad=(0, 0), dilate=(1, 1), groups=1):
    """Integer convolution of det_sign(x) (N, C, H, W) with det_sign(w) (O, C/G, KH, KW), padding with -1."""
    xs = np.pad(det_sign(x), ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])), constant_values=-1)
    ws = det_sign(w)
    n, c, hp, wp = xs.shape
    o, cg, kh, kw = ws.shape
    span_h, span_w = dilate[0] * (kh - 1) + 1, dilate[1] * (kw - 1) + 1
    win = np.lib.stride_tricks.sliding_window_view(xs, (span_h, span_w), axis=(2, 3))
    win = win[:, :, ::stride[0], ::stride[1], ::dilate[0], ::dilate[1]]  # (N, C, OH, OW, KH, KW)
    oh, ow = win.shape[2], win.shape[3]
    og = o // groups
    out = np.empty((n, o, oh, ow), dtype=np.int32)
    for g in range(groups):
        patch = win[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1, 4, 5).reshape(n, oh, ow, -1).astype(np.int64)
        kern = ws[g * og:(g + 1) * og].reshape(og, -1).astype(np.int64)
        out[:, g * og:(g + 1) * og] = np.einsum("nhwk,ok->nohw", patch, kern)
    return out


def dense(x, w):
    """Integer matrix product of det_sign(x) (N, K) and det_sign(w) (O, K)^T."""
    return (det_sign(x).astype(np.int64) @ det_sign(w).astype(np.int64).T).astype(np.int32)


def float_output(y, scale, bias, channel_axis=1):
    """scale[o] * y + bias[o] in float32 for int32 y with channels on ``channel_axis``."""
    shape = [1] * y.ndim
    shape[channel_axis] = -1
    return affine_f32(scale.reshape(shape), y.astype(np.float32), bias.reshape(shape))


def packed_output(y, scale, bias, channel_axis=1):
    """Packed sign bits of scale[o] * y + bias[o] (float32), channels moved last and packed."""
    negative = float_output(y, scale, bias, channel_axis) < 0
    return pack_bits(np.moveaxis(negative, channel_axis, -1))
