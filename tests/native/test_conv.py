"""Binary conv2d against the integer reference convolution of +/-1 tensors with -1 padding, for every ISA.

The grid of the issue (channels 1/3/37/65/513, kernel 1/3/5/7, stride 1/2, padding 0-3, dilation 1/2,
groups 1/2/4, batch 1/3) is covered by a representative list plus a seeded random sample of it.
"""
import numpy as np
import pytest

from bmxnet_ext import native
from . import reference

# (batch, in_channels, height, width, out_channels, kernel, stride, pad, dilate, groups)
REPRESENTATIVE = [
    (1, 64, 8, 8, 64, 3, 1, 1, 1, 1),     # ResNet-like
    (1, 1, 6, 7, 3, 3, 1, 1, 1, 1),       # a single input channel
    (3, 3, 9, 9, 5, 5, 2, 2, 1, 1),
    (1, 37, 7, 7, 11, 7, 1, 3, 1, 1),
    (1, 65, 5, 6, 65, 3, 2, 0, 1, 1),
    (1, 513, 4, 4, 9, 3, 1, 1, 1, 1),     # 9 words per pixel
    (3, 130, 5, 5, 66, 1, 1, 0, 1, 2),    # 65 channels per group
    (1, 8, 9, 9, 12, 3, 1, 2, 2, 4),
    (1, 148, 3, 3, 72, 3, 1, 1, 1, 4),
    (1, 16, 12, 12, 130, 3, 2, 1, 2, 2),  # output channels across three words
    (1, 4, 1, 1, 2, 1, 1, 0, 1, 1),       # 1x1 image
    (3, 40, 2, 9, 8, 5, 1, 3, 1, 1),      # padding larger than the image height
    (1, 2, 5, 20, 4, 3, 1, 0, 2, 2),
    # pixel vectors that span output rows (the flat layout), across samples and with stride 2
    (3, 128, 14, 14, 70, 3, 1, 1, 1, 1),
    (1, 64, 28, 28, 64, 3, 1, 1, 1, 1),
    (2, 64, 7, 7, 65, 3, 2, 1, 1, 1),
]


def random_cases(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        groups = int(rng.choice([1, 2, 4]))
        per_group = int(rng.choice([1, 3, 37, 65, 513]))
        kernel = int(rng.choice([1, 3, 5, 7]))
        stride, pad, dilate = int(rng.choice([1, 2])), int(rng.choice([0, 1, 2, 3])), int(rng.choice([1, 2]))
        batch = int(rng.choice([1, 3]))
        size = int(rng.integers(1, 10)) if per_group < 513 else int(rng.integers(1, 5))
        height, width = size, size + int(rng.integers(0, 3))
        span = dilate * (kernel - 1) + 1
        if min(height, width) + 2 * pad < span:
            continue
        out_channels = groups * int(rng.integers(1, 20))
        cases.append((batch, groups * per_group, height, width, out_channels, kernel, stride, pad, dilate, groups))
    return cases


def make_case(case, rng):
    n, c, h, w, o, k, s, p, d, g = case
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((o, c // g, k, k)).astype(np.float32)
    kwargs = dict(in_channels=c, stride=s, pad=p, dilate=d, groups=g)
    expected = reference.conv2d(x, wt, (s, s), (p, p), (d, d), g)
    return native.pack_activations(x, groups=g), native.pack_conv_weights(wt), kwargs, expected


def check_all_formats(case, rng):
    data, weight, kwargs, expected = make_case(case, rng)
    o = weight.shape[0]
    np.testing.assert_array_equal(native.binary_conv2d(data, weight, **kwargs), expected)
    scale = rng.standard_normal(o).astype(np.float32)
    scale[::4] = 0.0
    bias = (rng.integers(-5, 6, o) + 0.5 * rng.integers(0, 2, o)).astype(np.float32)  # on integers and halves
    got = native.binary_conv2d(data, weight, out_format="float", scale=scale, bias=bias, **kwargs)
    np.testing.assert_array_equal(got, reference.float_output(expected, scale, bias))
    residual = rng.standard_normal(expected.shape).astype(np.float32)
    got = native.binary_conv2d(data, weight, out_format="float", scale=scale, bias=bias, residual=residual,
                               **kwargs)
    np.testing.assert_array_equal(got, reference.float_output(expected, scale, bias) + residual)
    got = native.binary_conv2d(data, weight, out_format="packed", scale=scale, bias=bias, **kwargs)
    np.testing.assert_array_equal(got, reference.packed_output(expected, scale, bias))


@pytest.mark.parametrize("case", REPRESENTATIVE, ids=lambda c: "n{}c{}h{}w{}o{}k{}s{}p{}d{}g{}".format(*c))
def test_representative_shapes(isa, rng, case):
    check_all_formats(case, rng)


@pytest.mark.parametrize("case", random_cases(30, seed=3), ids=lambda c: "n{}c{}h{}w{}o{}k{}s{}p{}d{}g{}".format(*c))
def test_random_sample_of_the_grid(isa, rng, case):
    check_all_formats(case, rng)


def test_rectangular_kernel_stride_and_padding(isa, rng):
    x = rng.standard_normal((2, 70, 9, 11)).astype(np.float32)
    wt = rng.standard_normal((10, 70, 3, 5)).astype(np.float32)
    got = native.binary_conv2d(native.pack_activations(x), native.pack_conv_weights(wt), in_channels=70,
                               stride=(2, 1), pad=(0, 2), dilate=(1, 2))
    np.testing.assert_array_equal(got, reference.conv2d(x, wt, (2, 1), (0, 2), (1, 2)))


def test_int64_views_of_packed_tensors_are_accepted(rng):
    data, weight, kwargs, expected = make_case((1, 37, 5, 5, 7, 3, 1, 1, 1, 1), rng)
    got = native.binary_conv2d(data.view(np.int64), weight.view(np.int64), **kwargs)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("case", [(1, 64, 14, 14, 128, 3, 1, 1, 1, 1), (3, 37, 9, 9, 70, 3, 2, 1, 1, 1),
                                  (1, 512, 7, 7, 130, 3, 1, 1, 1, 2)])
def test_every_thread_count_gives_identical_results(rng, threads, case):
    data, weight, kwargs, expected = make_case(case, rng)
    o = weight.shape[0]
    scale = rng.standard_normal(o).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    outputs = {}
    for n in (1, 2, 3, 5):
        native.set_num_threads(n)
        outputs[n] = [native.binary_conv2d(data, weight, out_format=f, scale=scale, bias=bias, **kwargs)
                      for f in native.OUT_FORMATS]
    np.testing.assert_array_equal(outputs[1][0], expected)
    for n in (2, 3, 5):
        for got, want in zip(outputs[n], outputs[1]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_all_products_minus_one_do_not_overflow_narrow_counters(isa, sign):
    """Every input bit differs from its weight bit, so every output is y = -K. Kernels that count in narrow
    lanes (AVX2's bytes, flushed every 31 words) must flush in time: K = 256 * 3 * 3 is 36 words per output.
    Random data never comes near such limits. No padding, which would add +1 products."""
    x = np.full((1, 256, 5, 6), sign, np.float32)
    w = np.full((9, 256, 3, 3), -sign, np.float32)
    got = native.binary_conv2d(native.pack_activations(x), native.pack_conv_weights(w), in_channels=256)
    np.testing.assert_array_equal(got, np.full((1, 9, 3, 4), -256 * 9, np.int32))


def test_grouped_packed_output_is_race_free(rng, threads):
    """Two groups of 65 outputs share packed output words (65 is not a multiple of 64), so the threads must
    not split one word's channels between them. A race shows only now and then (about 7 calls in 3000 in
    one measurement when the guard was removed), hence many calls; a correct kernel is deterministic."""
    data, weight, kwargs, _ = make_case((1, 8, 6, 6, 130, 3, 1, 1, 1, 2), rng)
    scale = rng.standard_normal(130).astype(np.float32)
    bias = rng.standard_normal(130).astype(np.float32)
    native.set_num_threads(1)
    expected = native.binary_conv2d(data, weight, out_format="packed", scale=scale, bias=bias, **kwargs)
    native.set_num_threads(2)
    out = np.empty_like(expected)
    for _ in range(5000):
        native.binary_conv2d(data, weight, out_format="packed", scale=scale, bias=bias, out=out, **kwargs)
        np.testing.assert_array_equal(out, expected)


def test_matches_mxnet_convolution(rng):
    mx = pytest.importorskip("mxnet")
    x = rng.standard_normal((1, 64, 10, 10)).astype(np.float32)
    wt = rng.standard_normal((32, 64, 3, 3)).astype(np.float32)
    signs = lambda a: np.where(a < 0, -1, 1).astype(np.float32)  # noqa: E731
    padded = np.pad(signs(x), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-1)
    expected = mx.nd.Convolution(mx.nd.array(padded), mx.nd.array(signs(wt)), kernel=(3, 3), num_filter=32,
                                 no_bias=True).asnumpy()
    got = native.binary_conv2d(native.pack_activations(x), native.pack_conv_weights(wt), in_channels=64, pad=1)
    np.testing.assert_array_equal(got, expected.astype(np.int32))


def test_residual_needs_float_output_of_the_same_shape(rng):
    data, weight, kwargs, expected = make_case((1, 37, 5, 5, 7, 3, 1, 1, 1, 1), rng)
    scale, bias = np.ones(7, np.float32), np.zeros(7, np.float32)
    with pytest.raises(ValueError, match="residual"):
        native.binary_conv2d(data, weight, out_format="packed", scale=scale, bias=bias,
                             residual=np.zeros(expected.shape, np.float32), **kwargs)
    with pytest.raises(ValueError, match="residual"):
        native.binary_conv2d(data, weight, out_format="float", scale=scale, bias=bias,
                             residual=np.zeros((1, 7, 5, 4), np.float32), **kwargs)
    with pytest.raises(TypeError, match="residual"):
        native.binary_conv2d(data, weight, out_format="float", scale=scale, bias=bias,
                             residual=np.zeros(expected.shape, np.float64), **kwargs)
