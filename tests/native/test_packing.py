"""Bit-packing of float tensors by sign: layouts, tail bits, groups and the fused affine, for every ISA."""
import numpy as np
import pytest

from bmxnet_ext import native
from . import reference

CHANNELS = (1, 3, 37, 64, 65, 513)


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (4, 16)])
def test_pack_nchw_matches_reference(isa, rng, channels, hw):
    x = rng.standard_normal((2, channels) + hw).astype(np.float32)
    packed = native.pack_activations(x)
    assert packed.dtype == np.uint64
    np.testing.assert_array_equal(packed, reference.pack_nchw(x))


@pytest.mark.parametrize("channels,groups", [(4, 2), (74, 2), (130, 2), (12, 4), (260, 4), (3, 3), (128, 2), (384, 3)])
def test_pack_groups_each_group_on_its_own(isa, rng, channels, groups):
    x = rng.standard_normal((3, channels, 5, 7)).astype(np.float32)
    packed = native.pack_activations(x, groups=groups)
    assert packed.shape == (3, 5, 7, groups * native.words_for(channels // groups))
    np.testing.assert_array_equal(packed, reference.pack_nchw(x, groups))


@pytest.mark.parametrize("channels", CHANNELS)
def test_tail_bits_are_zero_even_when_all_negative(isa, channels):
    x = -np.ones((1, channels, 3, 9), dtype=np.float32)
    packed = native.pack_activations(x)
    for word in range(packed.shape[-1]):
        valid = min(64, channels - 64 * word)
        expected = np.uint64(2**64 - 1) if valid == 64 else np.uint64((1 << valid) - 1)
        assert (packed[..., word] == expected).all()


def test_zero_negative_zero_and_nan_are_plus_one(isa):
    values = np.array([0.0, -0.0, np.nan, -1e-38, 1e-38, -np.inf, np.inf, -1.0], dtype=np.float32)
    x = np.repeat(values[None, :, None, None], 9, axis=2).reshape(1, 8, 3, 3)
    packed = native.pack_activations(x)
    assert (packed == np.uint64(0b10101000)).all()  # bits of -1e-38, -inf and -1.0


@pytest.mark.parametrize("channels", (1, 37, 64, 65, 192, 513))
def test_pack_with_affine_matches_float32_reference(isa, rng, channels):
    x = rng.standard_normal((2, channels, 3, 11)).astype(np.float32)
    scale = rng.standard_normal(channels).astype(np.float32)
    scale[::5] = 0.0
    bias = rng.standard_normal(channels).astype(np.float32)
    bias[1::5] = -0.0
    np.testing.assert_array_equal(native.pack_activations(x, scale=scale, bias=bias),
                                  reference.pack_nchw(x, scale=scale, bias=bias))


def test_affine_is_multiply_then_add_not_fused(isa):
    # (1 + 2^-23) * (1 - 2^-23) = 1 - 2^-46 rounds to exactly 1 in float32, so the product plus -1 is 0 (bit
    # clear); a fused multiply-add keeps the exact product and gives -2^-46 (bit set).
    up, down = np.float32(1 + 2.0**-23), np.float32(1 - 2.0**-23)
    assert np.float32(up * down) == np.float32(1)
    x = np.full((1, 128, 5, 8), up, dtype=np.float32)  # whole blocks of 32 pixels x 64 channels and a tail
    scale = np.full(128, down, dtype=np.float32)
    bias = np.full(128, -1.0, dtype=np.float32)
    assert (native.pack_activations(x, scale=scale, bias=bias) == 0).all()
    rows = np.full((3, 70), up, dtype=np.float32)
    scale_rows = np.full(70, down, dtype=np.float32)
    assert (native.pack_activations(rows, scale=scale_rows, bias=np.full(70, -1.0, np.float32)) == 0).all()


@pytest.mark.parametrize("k", (1, 7, 63, 64, 65, 200, 1000))
def test_pack_rows_and_dense_weights(isa, rng, k):
    x = rng.standard_normal((5, k)).astype(np.float32)
    np.testing.assert_array_equal(native.pack_activations(x), reference.pack_rows(x))
    np.testing.assert_array_equal(native.pack_dense_weights(x), reference.pack_rows(x))
    scale = rng.standard_normal(k).astype(np.float32)
    bias = rng.standard_normal(k).astype(np.float32)
    np.testing.assert_array_equal(native.pack_activations(x, scale=scale, bias=bias),
                                  reference.pack_rows(x, scale, bias))


@pytest.mark.parametrize("shape", [(8, 3, 3, 3), (5, 65, 1, 1), (16, 37, 5, 5), (4, 1, 7, 7)])
def test_pack_conv_weights_layout(isa, rng, shape):
    w = rng.standard_normal(shape).astype(np.float32)
    packed = native.pack_conv_weights(w)
    assert packed.shape == (shape[0], shape[2], shape[3], native.words_for(shape[1]))
    np.testing.assert_array_equal(packed, reference.pack_nchw(w))


def test_large_pack_uses_all_threads_identically(rng, threads):
    x = rng.standard_normal((2, 96, 37, 41)).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        native.set_num_threads(n)
        results.append(native.pack_activations(x))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    np.testing.assert_array_equal(results[0], reference.pack_nchw(x))
