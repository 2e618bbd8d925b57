"""Plain NumPy references for the float-domain tests (layers, zoo blocks): the sign and a direct convolution.

Importable from every test folder (``pythonpath = ["tests"]`` in pyproject.toml).
"""
import numpy as np


def sign(a):
    """+1 where a >= 0 (zero included), -1 elsewhere, as float32: det_sign of the binary layers."""
    return np.where(a >= 0, 1.0, -1.0).astype(np.float32)


def conv2d(x, w, stride=(1, 1), pad=(0, 0), dilation=(1, 1), groups=1, pad_value=0.0):
    """Direct loops over output pixels, in float64: ``x`` (N, C, H, W) padded with ``pad_value``, ``w``
    (O, C/groups, KH, KW); ``out[n, o, i, j] = sum_{c,u,v} w[o, c, u, v] xpad[n, c, i s + u d, j s + v d]``."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])),
                constant_values=pad_value)
    oh = (h + 2 * pad[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow), dtype=np.float64)
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = np.asarray(w[g * og:(g + 1) * og], np.float64).reshape(og, -1)
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * stride[0], i * stride[0] + dilation[0] * (kh - 1) + 1, dilation[0])
                cols = slice(j * stride[1], j * stride[1] + dilation[1] * (kw - 1) + 1, dilation[1])
                out[:, g * og:(g + 1) * og, i, j] = xs[:, :, rows, cols].reshape(n, -1) @ ws.T
    return out
