"""``out=``: the kernels fill a preallocated array exactly as they would a new one, and refuse bad buffers."""
import numpy as np
import pytest

from bmxnet_ext import native


def conv_case(rng, channels=70, size=9, out_channels=80):
    x = rng.standard_normal((2, channels, size, size)).astype(np.float32)
    w = rng.standard_normal((out_channels, channels, 3, 3)).astype(np.float32)
    scale = rng.standard_normal(out_channels).astype(np.float32)
    bias = rng.standard_normal(out_channels).astype(np.float32)
    return x, native.pack_conv_weights(w), scale, bias


def garbage_like(array):
    """An array of the same shape and dtype filled with non-zero bytes, so stale contents would show."""
    out = np.empty_like(array)
    out.view(np.uint8)[...] = 0xA5
    return out


@pytest.mark.parametrize("out_format", ["int32", "float", "packed"])
def test_conv_fills_out_like_a_fresh_array(rng, out_format):
    x, weight, scale, bias = conv_case(rng)
    data = native.pack_activations(x)
    kwargs = dict(in_channels=70, pad=1, out_format=out_format)
    if out_format != "int32":
        kwargs.update(scale=scale, bias=bias)
    expected = native.binary_conv2d(data, weight, **kwargs)
    out = garbage_like(expected)
    result = native.binary_conv2d(data, weight, out=out, **kwargs)
    assert result is out
    np.testing.assert_array_equal(out, expected)


def test_pack_fills_out_of_either_word_dtype(rng):
    x = rng.standard_normal((2, 130, 5, 6)).astype(np.float32)
    scale, bias = rng.standard_normal(130).astype(np.float32), rng.standard_normal(130).astype(np.float32)
    expected = native.pack_activations(x, scale=scale, bias=bias)
    for dtype in (np.uint64, np.int64):
        out = garbage_like(expected.astype(dtype))
        assert native.pack_activations(x, scale=scale, bias=bias, out=out) is out
        np.testing.assert_array_equal(out.view(np.uint64), expected)
    rows = x.reshape(2, -1)
    out = garbage_like(native.pack_activations(rows))
    np.testing.assert_array_equal(native.pack_activations(rows, out=out), native.pack_activations(rows))


@pytest.mark.parametrize("out_format", ["int32", "float", "packed"])
def test_dense_fills_out(rng, out_format):
    data = native.pack_activations(rng.standard_normal((3, 200)).astype(np.float32))
    weight = native.pack_dense_weights(rng.standard_normal((70, 200)).astype(np.float32))
    kwargs = dict(in_units=200, out_format=out_format)
    if out_format != "int32":
        kwargs.update(scale=rng.standard_normal(70).astype(np.float32), bias=rng.standard_normal(70).astype(np.float32))
    expected = native.binary_dense(data, weight, **kwargs)
    out = garbage_like(expected)
    np.testing.assert_array_equal(native.binary_dense(data, weight, out=out, **kwargs), expected)


def test_residual_may_be_updated_in_place(rng):
    x, weight, scale, bias = conv_case(rng)
    data = native.pack_activations(x)
    residual = rng.standard_normal((2, 80, 9, 9)).astype(np.float32)
    kwargs = dict(in_channels=70, pad=1, out_format="float", scale=scale, bias=bias)
    expected = native.binary_conv2d(data, weight, residual=residual, **kwargs)
    native.binary_conv2d(data, weight, residual=residual, out=residual, **kwargs)
    np.testing.assert_array_equal(residual, expected)


def test_bad_out_buffers_raise_and_leave_them_untouched(rng):
    x, weight, scale, bias = conv_case(rng)
    data = native.pack_activations(x)
    kwargs = dict(in_channels=70, pad=1, out_format="float", scale=scale, bias=bias)
    good = native.binary_conv2d(data, weight, **kwargs)

    wrong_shape = np.zeros((2, 80, 9, 8), np.float32)
    with pytest.raises(ValueError, match=r"binary_conv2d: expected `out` of shape \(2, 80, 9, 9\), got \(2, 80, 9, 8\)"):
        native.binary_conv2d(data, weight, out=wrong_shape, **kwargs)
    assert not wrong_shape.any()
    with pytest.raises(TypeError, match="binary_conv2d: expected `out` of dtype float32, got float64"):
        native.binary_conv2d(data, weight, out=np.zeros(good.shape), **kwargs)
    with pytest.raises(TypeError, match="expected `out` as a numpy.ndarray, got list"):
        native.binary_conv2d(data, weight, out=[0.0], **kwargs)
    with pytest.raises(ValueError, match="C-contiguous `out`"):
        native.binary_conv2d(data, weight, out=np.zeros(good.shape[::-1], np.float32).T, **kwargs)
    read_only = np.zeros_like(good)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="`out` is read-only"):
        native.binary_conv2d(data, weight, out=read_only, **kwargs)
    with pytest.raises(TypeError, match="expected `out` of dtype int32"):
        native.binary_conv2d(data, weight, in_channels=70, pad=1, out=np.zeros(good.shape, np.float32))


def test_out_must_not_overlap_an_input(rng):
    x, weight, scale, bias = conv_case(rng)
    data = native.pack_activations(x)
    x_before = x.copy()
    with pytest.raises(ValueError, match="pack_activations: `out` overlaps an input array"):
        native.pack_activations(x, out=x.reshape(-1).view(np.uint64)[:data.size].reshape(data.shape))
    np.testing.assert_array_equal(x, x_before)
    packed_out = native.binary_conv2d(data, weight, in_channels=70, pad=1, out_format="packed", scale=scale, bias=bias)
    before = data.copy()
    alias = data.reshape(-1)[:packed_out.size].reshape(packed_out.shape)
    with pytest.raises(ValueError, match="binary_conv2d: `out` overlaps an input array"):
        native.binary_conv2d(data, weight, in_channels=70, pad=1, out_format="packed", scale=scale, bias=bias,
                             out=alias)
    np.testing.assert_array_equal(data, before)
    residual = rng.standard_normal((2, 80, 9, 9)).astype(np.float32)
    shifted = np.empty(residual.size + 1, np.float32)
    shifted[1:] = residual.reshape(-1)
    residual_view = shifted[1:].reshape(residual.shape)
    partial = shifted[:-1].reshape(residual.shape)
    with pytest.raises(ValueError, match="`out` partly overlaps `residual`"):
        native.binary_conv2d(data, weight, in_channels=70, pad=1, out_format="float", scale=scale, bias=bias,
                             residual=residual_view, out=partial)
