"""Binary dense layer and raw binary GEMM against the integer matrix product of +/-1 tensors, every ISA."""
import numpy as np
import pytest

from bmxnet_ext import native
from . import reference

SHAPES = [(1, 1, 1), (1, 64, 10), (3, 65, 7), (5, 513, 130), (9, 1000, 64), (2, 37, 200), (17, 256, 3),
          (1, 9216, 70)]


@pytest.mark.parametrize("batch,in_units,out_units", SHAPES)
def test_dense_all_formats(isa, rng, batch, in_units, out_units):
    x = rng.standard_normal((batch, in_units)).astype(np.float32)
    w = rng.standard_normal((out_units, in_units)).astype(np.float32)
    data, weight = native.pack_activations(x), native.pack_dense_weights(w)
    expected = reference.dense(x, w)
    np.testing.assert_array_equal(native.binary_dense(data, weight, in_units=in_units), expected)
    scale = rng.standard_normal(out_units).astype(np.float32)
    scale[::3] = -scale[::3]
    bias = rng.standard_normal(out_units).astype(np.float32) * 4
    got = native.binary_dense(data, weight, in_units=in_units, out_format="float", scale=scale, bias=bias)
    np.testing.assert_array_equal(got, reference.float_output(expected, scale, bias))
    got = native.binary_dense(data, weight, in_units=in_units, out_format="packed", scale=scale, bias=bias)
    np.testing.assert_array_equal(got, reference.packed_output(expected, scale, bias))


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (4, 9, 63), (7, 5, 129), (33, 65, 640)])
def test_gemm(isa, rng, m, n, k):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k)).astype(np.float32)
    got = native.binary_gemm(native.pack_activations(a), native.pack_activations(b), k)
    np.testing.assert_array_equal(got, reference.dense(a, b))


def test_dense_threads_identical(rng, threads):
    x = rng.standard_normal((37, 700)).astype(np.float32)
    w = rng.standard_normal((300, 700)).astype(np.float32)
    data, weight = native.pack_activations(x), native.pack_dense_weights(w)
    scale, bias = np.ones(300, np.float32), np.zeros(300, np.float32)
    results = []
    for n in (1, 2, 4):
        native.set_num_threads(n)
        results.append([native.binary_dense(data, weight, in_units=700, out_format=f, scale=scale, bias=bias)
                        for f in native.OUT_FORMATS])
    np.testing.assert_array_equal(results[0][0], reference.dense(x, w))
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_all_products_minus_one_do_not_overflow_narrow_counters(isa, sign):
    """y = -K when every bit differs; K = 16384 (256 words) is far past any narrow lane counter's range."""
    k = 16384
    x = np.full((3, k), sign, np.float32)
    w = np.full((5, k), -sign, np.float32)
    data, weight = native.pack_activations(x), native.pack_dense_weights(w)
    np.testing.assert_array_equal(native.binary_dense(data, weight, in_units=k), np.full((3, 5), -k, np.int32))
    np.testing.assert_array_equal(native.binary_gemm(data, weight, k), np.full((3, 5), -k, np.int32))
