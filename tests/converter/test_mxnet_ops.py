"""The MXNet operators BmxPack / BmxBinaryConv2D / BmxBinaryDense against plain float references, and their
shape / dtype / attribute errors (MXNetError with a message, never a crash)."""
import mxnet as mx
import numpy as np
import pytest

from bmxnet_ext import ops
from native.reference import pack_bits  # tests/native/reference.py: the plain NumPy packing spec
from tools.model_converter.packing import pack_conv_weight, pack_dense_weight

built = pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")


def pack_last_axis(values):
    """The reference packing of the signs of ``values`` along the last axis, as MXNet's int64 words."""
    return pack_bits(np.asarray(values) < 0).view(np.int64)


def det_sign(x):
    return np.where(x >= 0, 1.0, -1.0).astype(np.float32)


def reference_conv(x, w, stride, pad, dilate, groups):
    """Float convolution of sign(x) (padded with -1) and sign(w): the binary layer's exact value."""
    padded = np.pad(det_sign(x), ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-1.0)
    return mx.nd.Convolution(mx.nd.array(padded), mx.nd.array(det_sign(w)), kernel=w.shape[2:],
                             stride=(stride,) * 2, dilate=(dilate,) * 2, num_filter=w.shape[0], num_group=groups,
                             no_bias=True).asnumpy()


def conv(packed, weight, scale, bias, **attrs):
    return mx.nd.BmxBinaryConv2D(packed, mx.nd.array(weight, dtype=np.int64), mx.nd.array(scale), mx.nd.array(bias),
                                 **attrs).asnumpy()


@built
@pytest.mark.parametrize("n,c,h,w,o,k,stride,pad,dilate,groups", [
    (2, 3, 7, 6, 5, 3, 1, 1, 1, 1),      # tiny channel count
    (1, 70, 9, 9, 13, 3, 2, 1, 1, 1),    # odd counts across a word boundary, stride 2
    (1, 130, 6, 5, 66, 1, 1, 0, 1, 2),   # 1x1, groups, more than two words
    (1, 64, 8, 8, 64, 3, 1, 2, 2, 1),    # dilation
    (2, 129, 5, 5, 65, 5, 1, 2, 1, 1),   # 5x5, odd everything
])
def test_binary_conv2d_matches_float_reference_in_every_output_format(rng, n, c, h, w, o, k, stride, pad, dilate,
                                                                      groups):
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    x[0, 0, 0, 0] = 0.0  # zero is +1
    weight = rng.standard_normal((o, c // groups, k, k)).astype(np.float32)
    scale = rng.standard_normal(o).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    expected = reference_conv(x, weight, stride, pad, dilate, groups)
    packed = mx.nd.BmxPack(mx.nd.array(x), num_group=groups)
    attrs = dict(kernel=(k, k), stride=(stride, stride), pad=(pad, pad), dilate=(dilate, dilate), num_filter=o,
                 num_group=groups, in_channels=c)
    y = conv(packed, pack_conv_weight(weight), scale, bias, out_format="int32", **attrs)
    assert y.dtype == np.int32 and np.array_equal(y, expected)
    yf = conv(packed, pack_conv_weight(weight), scale, bias, **attrs)
    affine = (scale[None, :, None, None] * expected).astype(np.float32) + bias[None, :, None, None]
    assert np.array_equal(yf, affine.astype(np.float32))
    yp = conv(packed, pack_conv_weight(weight), scale, bias, out_format="packed", **attrs)
    assert yp.dtype == np.int64
    assert np.array_equal(yp, pack_last_axis(affine.transpose(0, 2, 3, 1)))


@built
def test_binary_dense_matches_float_reference(rng):
    x = rng.standard_normal((3, 100)).astype(np.float32)
    weight = rng.standard_normal((67, 100)).astype(np.float32)
    scale, bias = rng.standard_normal(67).astype(np.float32), rng.standard_normal(67).astype(np.float32)
    expected = det_sign(x) @ det_sign(weight).T
    packed = mx.nd.BmxPack(mx.nd.array(x))
    args = (packed, mx.nd.array(pack_dense_weight(weight), dtype=np.int64), mx.nd.array(scale), mx.nd.array(bias))
    y = mx.nd.BmxBinaryDense(*args, num_hidden=67, in_units=100, out_format="int32").asnumpy()
    assert np.array_equal(y, expected)
    yf = mx.nd.BmxBinaryDense(*args, num_hidden=67, in_units=100).asnumpy()  # float, the default
    assert yf.dtype == np.float32 and np.array_equal(yf, (scale * expected).astype(np.float32) + bias)
    yp = mx.nd.BmxBinaryDense(*args, num_hidden=67, in_units=100, out_format="packed").asnumpy()
    assert np.array_equal(yp, pack_last_axis((scale * expected).astype(np.float32) + bias))


@built
def test_pack_with_affine_sets_bits_of_negative_values(rng):
    x = rng.standard_normal((2, 70, 3, 4)).astype(np.float32)
    scale, bias = rng.standard_normal(70).astype(np.float32), rng.standard_normal(70).astype(np.float32)
    packed = mx.nd.BmxPack(mx.nd.array(x), mx.nd.array(scale), mx.nd.array(bias), affine=True).asnumpy()
    v = (scale[None, :, None, None] * x).astype(np.float32) + bias[None, :, None, None]
    assert packed.shape == (2, 3, 4, 2) and packed.dtype == np.int64
    assert np.array_equal(packed, pack_last_axis(v.transpose(0, 2, 3, 1)))
    # (N, K) features, as before a binary dense layer: one scale and bias per feature
    rows = rng.standard_normal((3, 70)).astype(np.float32)
    packed = mx.nd.BmxPack(mx.nd.array(rows), mx.nd.array(scale), mx.nd.array(bias), affine=True).asnumpy()
    assert np.array_equal(packed, pack_last_axis((scale * rows).astype(np.float32) + bias))


@built
def test_symbol_infers_weight_and_affine_shapes_from_data():
    data, w, s, b = (mx.sym.var(n) for n in ("data", "w", "s", "b"))
    y = mx.sym.BmxBinaryConv2D(mx.sym.BmxPack(data), w, s, b, kernel=(3, 3), stride=(2, 2), pad=(1, 1),
                               num_filter=10, in_channels=70, out_format="packed")
    args, outs, _ = y.infer_shape(data=(2, 70, 9, 9))
    assert args == [(2, 70, 9, 9), (10, 3, 3, 2), (10,), (10,)] and outs == [(2, 5, 5, 1)]
    arg_types, out_types, _ = y.infer_type(data=np.float32)
    assert arg_types == [np.float32, np.int64, np.float32, np.float32] and out_types == [np.int64]


@built
@pytest.mark.parametrize("call,message", [
    (lambda: mx.nd.BmxPack(mx.nd.ones((2, 3, 4))), "expected `data` of shape (N, C, H, W) or (N, K)"),
    (lambda: mx.nd.BmxPack(mx.nd.ones((2, 3, 4, 4), dtype=np.float64)), "expected `data` of dtype float32"),
    (lambda: mx.nd.BmxPack(mx.nd.ones((2, 6, 4, 4)), num_group=4), "BmxPack: expected groups >= 1 dividing C=6 of (2, 6, 4, 4), got 4"),
    (lambda: mx.nd.BmxPack(mx.nd.ones((2, 3, 4, 4)), mx.nd.ones(4), mx.nd.ones(3), affine=True),
     "expected `scale` of shape (3,)"),
    (lambda: mx.nd.BmxBinaryConv2D(mx.nd.ones((1, 4, 4, 1), dtype=np.int64), mx.nd.ones((8, 3, 3, 2), dtype=np.int64),
                                   mx.nd.ones(8), mx.nd.ones(8), kernel=(3, 3), num_filter=8, in_channels=64),
     "expected `weight` of shape (8, 3, 3, 1)"),
    (lambda: mx.nd.BmxBinaryConv2D(mx.nd.ones((1, 4, 4, 2), dtype=np.int64), mx.nd.ones((8, 3, 3, 1), dtype=np.int64),
                                   mx.nd.ones(8), mx.nd.ones(8), kernel=(3, 3), num_filter=8, in_channels=64),
     "BmxBinaryConv2D: expected packed data (N, H, W, 1) and weight (O, KH, KW, 1) for in_channels=64 and "
     "groups=1, got data (1, 4, 4, 2)"),
    (lambda: mx.nd.BmxBinaryConv2D(mx.nd.ones((1, 4, 4, 1)), mx.nd.ones((8, 3, 3, 1), dtype=np.int64),
                                   mx.nd.ones(8), mx.nd.ones(8), kernel=(3, 3), num_filter=8, in_channels=64),
     "expected `data` of dtype int64, got float32"),
    (lambda: mx.nd.BmxBinaryConv2D(mx.nd.ones((1, 2, 2, 1), dtype=np.int64), mx.nd.ones((8, 3, 3, 1), dtype=np.int64),
                                   mx.nd.ones(8), mx.nd.ones(8), kernel=(3, 3), num_filter=8, in_channels=64),
     "BmxBinaryConv2D"),  # empty output: rejected by the core's validation
    (lambda: mx.nd.BmxBinaryConv2D(mx.nd.ones((1, 4, 4, 1), dtype=np.int64), mx.nd.ones((8, 3, 3, 1), dtype=np.int64),
                                   mx.nd.ones(8), mx.nd.ones(8), kernel=(3, 3), num_filter=8, in_channels=64,
                                   out_format="bits"), "attribute `out_format` to be one of"),
    (lambda: mx.nd.BmxBinaryConv2D(mx.nd.ones((1, 4, 4, 1), dtype=np.int64), mx.nd.ones((8, 3, 3, 1), dtype=np.int64),
                                   mx.nd.ones(8), mx.nd.ones(8), kernel=(3, 3), num_filter=8),
     "attribute `in_channels` to be an integer >= 1, got nothing"),
    (lambda: mx.nd.BmxBinaryDense(mx.nd.ones((2, 3), dtype=np.int64), mx.nd.ones((5, 2), dtype=np.int64),
                                  mx.nd.ones(5), mx.nd.ones(5), num_hidden=5, in_units=100),
     "BmxBinaryDense: expected packed data (N, 2) and weight (O, 2) for 100 input bits, got data (2, 3)"),
])
def test_bad_shapes_dtypes_and_attributes_raise_clear_errors(call, message):
    with pytest.raises(mx.MXNetError) as err:
        call().wait_to_read()
    assert message in str(err.value)


@built
def test_gradient_is_refused_clearly():
    x = mx.nd.ones((1, 3, 4, 4))
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.BmxPack(x)
    with pytest.raises(mx.MXNetError, match="inference-only"):
        y.backward()
        mx.nd.waitall()


def test_load_without_the_built_extension_explains_how_to_build(monkeypatch):
    monkeypatch.setattr(ops, "_loaded_path", None)
    monkeypatch.setattr(ops, "_library_path", lambda: None)
    with pytest.raises(ImportError, match="build_ext --inplace"):
        ops.load()


@built
def test_operator_thread_count_is_settable_and_does_not_change_results(rng):
    import bmxnet_ext

    x = rng.standard_normal((1, 70, 12, 12)).astype(np.float32)
    weight = rng.standard_normal((40, 70, 3, 3)).astype(np.float32)
    ones, zeros = np.ones(40, np.float32), np.zeros(40, np.float32)
    attrs = dict(kernel=(3, 3), pad=(1, 1), num_filter=40, in_channels=70, out_format="int32")
    saved = ops.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            bmxnet_ext.set_num_threads(threads)
            assert ops.get_num_threads() == threads
            results.append(conv(mx.nd.BmxPack(mx.nd.array(x)), pack_conv_weight(weight), ones, zeros, **attrs))
        assert all(np.array_equal(results[0], r) for r in results[1:])
        with pytest.raises(ValueError, match="thread count"):
            bmxnet_ext.set_num_threads(0)
    finally:
        bmxnet_ext.set_num_threads(saved)
