"""The fused forms of BmxBinaryConv2D / BmxBinaryDense (float input packed inside, residual, activation, max
pooling) against the plain NumPy reference, on every supported instruction set: the integer part bit-exact,
the float epilogue exact (tanh within 1e-6 of NumPy's, and bit for bit the runtime's Activation tanh)."""
import ctypes
import ctypes.util

import numpy as np
import pytest

from . import reference as ref

mx = pytest.importorskip("mxnet")
ops = pytest.importorskip("bmxnet_ext.ops")
pytestmark = pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")


def packed_weight(w):
    """Conv (O, C/G, KH, KW) -> (O, KH, KW, Cwg) or dense (O, K) -> (O, Kw) words as MXNet int64."""
    if w.ndim == 2:
        return mx.nd.array(ref.pack_bits(w < 0).view(np.int64), dtype=np.int64)
    return mx.nd.array(ref.pack_bits(w.transpose(0, 2, 3, 1) < 0).view(np.int64), dtype=np.int64)


def max_pool(x, k, s):
    """Max pooling of (N, C, H, W) over k x k windows with stride s, windows that fit ("valid")."""
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    return win.max(axis=(4, 5))


def nd(*arrays):
    return [mx.nd.array(a) for a in arrays]


@pytest.mark.parametrize("n,c,h,w,o,k,stride,pad,groups", [
    (2, 3, 9, 8, 5, 3, 1, 1, 1),      # tiny channel count, padding
    (1, 70, 10, 10, 13, 3, 2, 1, 1),  # across a word boundary, stride 2
    (1, 130, 6, 6, 66, 1, 1, 0, 2),   # 1x1, groups
])
@pytest.mark.parametrize("affine", [False, True])
def test_fused_conv_packs_float_input_adds_residual_and_activates(isa, rng, n, c, h, w, o, k, stride, pad, groups,
                                                                  affine):
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    x[0, 0, 0, 0] = 0.0  # zero is +1
    weight = rng.standard_normal((o, c // groups, k, k)).astype(np.float32)
    scale, bias = rng.standard_normal(o).astype(np.float32), rng.standard_normal(o).astype(np.float32)
    in_scale, in_bias = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    v = ref.affine_f32(in_scale[None, :, None, None], x, in_bias[None, :, None, None]) if affine else x
    y = ref.conv2d(v, weight, (stride, stride), (pad, pad), groups=groups)
    attrs = dict(kernel=(k, k), stride=(stride, stride), pad=(pad, pad), num_filter=o, num_group=groups,
                 in_channels=c, in_format="float", in_affine=affine)
    extra = nd(in_scale, in_bias) if affine else []
    args = nd(x) + [packed_weight(weight)] + nd(scale, bias) + extra

    got = mx.nd.BmxBinaryConv2D(*args, out_format="int32", **attrs).asnumpy()
    assert np.array_equal(got, y)  # the integer part, bit-exact
    packed = mx.nd.BmxBinaryConv2D(*args, out_format="packed", **attrs).asnumpy()
    assert np.array_equal(packed.view(np.uint64), ref.packed_output(y, scale, bias))

    residual = rng.standard_normal(y.shape).astype(np.float32)
    expected = np.add(ref.float_output(y, scale, bias), residual, dtype=np.float32)
    got = mx.nd.BmxBinaryConv2D(*args, *nd(residual), residual=True, **attrs).asnumpy()
    assert np.array_equal(got, expected)
    got = mx.nd.BmxBinaryConv2D(*args, *nd(residual), residual=True, act_type="relu", **attrs).asnumpy()
    assert np.array_equal(got, np.maximum(expected, 0))
    got = mx.nd.BmxBinaryConv2D(*args, act_type="tanh", **attrs).asnumpy()
    np.testing.assert_allclose(got, np.tanh(ref.float_output(y, scale, bias)), rtol=0, atol=1e-6)


def test_fused_conv_max_pools_its_float_output(isa, rng):
    x = rng.standard_normal((2, 64, 12, 12)).astype(np.float32)
    weight = rng.standard_normal((64, 64, 5, 5)).astype(np.float32)
    scale, bias = rng.standard_normal(64).astype(np.float32), rng.standard_normal(64).astype(np.float32)
    y = ref.float_output(ref.conv2d(x, weight), scale, bias)  # (2, 64, 8, 8)
    args = nd(x) + [packed_weight(weight)] + nd(scale, bias)
    attrs = dict(kernel=(5, 5), num_filter=64, in_channels=64, in_format="float")
    for kernel, stride in ((2, 2), (3, 2), (3, 1)):
        got = mx.nd.BmxBinaryConv2D(*args, pool_kernel=(kernel, kernel), pool_stride=(stride, stride),
                                    **attrs).asnumpy()
        assert np.array_equal(got, max_pool(y, kernel, stride))
    got = mx.nd.BmxBinaryConv2D(*args, act_type="relu", pool_kernel=(2, 2), pool_stride=(2, 2), **attrs).asnumpy()
    assert np.array_equal(got, max_pool(np.maximum(y, 0), 2, 2))


@pytest.mark.parametrize("affine", [False, True])
def test_fused_dense_flattens_and_packs_float_input(isa, rng, affine):
    x = rng.standard_normal((3, 10, 3, 4)).astype(np.float32)  # K = 120, flattened by the operator
    weight = rng.standard_normal((67, 120)).astype(np.float32)
    scale, bias = rng.standard_normal(67).astype(np.float32), rng.standard_normal(67).astype(np.float32)
    in_scale, in_bias = rng.standard_normal(120).astype(np.float32), rng.standard_normal(120).astype(np.float32)
    flat = x.reshape(3, -1)
    y = ref.dense(ref.affine_f32(in_scale, flat, in_bias) if affine else flat, weight)
    args = nd(x) + [packed_weight(weight)] + nd(scale, bias) + (nd(in_scale, in_bias) if affine else [])
    attrs = dict(num_hidden=67, in_units=120, in_format="float", in_affine=affine)
    assert np.array_equal(mx.nd.BmxBinaryDense(*args, out_format="int32", **attrs).asnumpy(), y)
    expected = ref.float_output(y, scale, bias)
    assert np.array_equal(mx.nd.BmxBinaryDense(*args, **attrs).asnumpy(), expected)
    assert np.array_equal(mx.nd.BmxBinaryDense(*args, act_type="relu", **attrs).asnumpy(), np.maximum(expected, 0))
    np.testing.assert_allclose(mx.nd.BmxBinaryDense(*args, act_type="tanh", **attrs).asnumpy(), np.tanh(expected),
                               rtol=0, atol=1e-6)


def libm_tanhf(x):
    """The C library's scalar tanhf on each element of a float32 array (what std::tanh(float) calls)."""
    tanhf = ctypes.CDLL(ctypes.util.find_library("m")).tanhf
    tanhf.restype, tanhf.argtypes = ctypes.c_float, [ctypes.c_float]
    return np.array([tanhf(v) for v in x.ravel().tolist()], np.float32).reshape(x.shape)


def test_fused_tanh_is_the_runtimes_activation_tanh(isa, rng, tmp_path):
    """act_type='tanh' runs the core's vectorised tanh (bmx/float_kernels.h): on the same float values it gives
    exactly the bits of the standalone runtime's Activation tanh, which differ from libm's tanhf on some."""
    from bmxnet_ext import bmx_format, runtime

    x = rng.standard_normal((64, 1000)).astype(np.float32)  # 64 000 outputs: not a multiple of any vector width
    weight = rng.standard_normal((1000, 1000)).astype(np.float32)
    scale = rng.uniform(0.01, 0.15, 1000).astype(np.float32)  # outputs over tanh's whole range, about +-10
    bias = rng.standard_normal(1000).astype(np.float32) * 0.3
    args = nd(x) + [packed_weight(weight)] + nd(scale, bias)
    attrs = dict(num_hidden=1000, in_units=1000, in_format="float")
    values = mx.nd.BmxBinaryDense(*args, **attrs).asnumpy()
    fused = mx.nd.BmxBinaryDense(*args, act_type="tanh", **attrs).asnumpy()

    path = tmp_path / "tanh.bmx"
    bmx_format.write_bmx(str(path), mx.sym.Activation(mx.sym.var("data"), act_type="tanh"), {},
                         {"data": values.shape})
    with runtime.Model(str(path)) as model:
        np.testing.assert_array_equal(fused, model.run(values))
    assert np.abs(values).max() > 5 and (np.abs(values) < 0.55).any()  # both branches of the vector tanh
    libm = libm_tanhf(values)
    assert (fused != libm).any()  # not the scalar libm path the operator used before
    np.testing.assert_allclose(fused, libm, rtol=0, atol=1e-6)  # the converter's bound against MXNet's tanh


@pytest.mark.parametrize("attrs,message", [
    (dict(in_affine=True), "in_affine` needs in_format='float'"),
    (dict(in_format="float", act_type="relu", out_format="packed"), "act_type` 'relu' needs out_format='float'"),
    (dict(in_format="float", act_type="gelu"), "act_type"),
    (dict(in_format="float", pool_kernel=(2, 2), out_format="int32"), "need out_format='float'"),
    (dict(in_format="float", pool_kernel=(9, 9)), "pool_kernel 9 is larger"),
    (dict(in_format="float", in_channels=5), "in_channels=5"),
])
def test_bad_fusion_attributes_raise_clear_errors(attrs, message):
    x = mx.nd.zeros((1, 4, 6, 6))
    args = [x, mx.nd.zeros((3, 3, 3, 1), dtype=np.int64), mx.nd.ones(3), mx.nd.zeros(3)]
    base = dict(kernel=(3, 3), num_filter=3, in_channels=4)
    with pytest.raises(mx.base.MXNetError, match="BmxBinaryConv2D: .*" + message.replace("(", r"\(")):
        mx.nd.BmxBinaryConv2D(*args, **{**base, **attrs}).asnumpy()
