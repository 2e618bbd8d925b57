"""Per-channel integer thresholds: identical to the float32 sign of scale * y + bias for every integer y."""
import numpy as np
import pytest

from bmxnet_ext import native
from . import reference


def brute_force(scale, bias, k):
    y = np.arange(-k, k + 1, dtype=np.float32)
    return reference.affine_f32(np.float32(scale), y, np.float32(bias)) < 0


def check(scale, bias, k):
    scale = np.asarray(scale, dtype=np.float32)
    bias = np.asarray(bias, dtype=np.float32)
    lo, hi = native.sign_intervals(scale, bias, k)
    y = np.arange(-k, k + 1)
    for o in range(scale.size):
        with np.errstate(invalid="ignore", over="ignore"):
            want = brute_force(scale[o], bias[o], k)
        got = (lo[o] <= y) & (y <= hi[o])
        np.testing.assert_array_equal(got, want, err_msg=f"scale={scale[o]!r} bias={bias[o]!r} k={k}")


@pytest.mark.parametrize("k", [1, 9, 576, 4608])
def test_boundaries_on_integers_and_half_integers(k):
    scale = np.array([1, 1, 2, 0.5, -1, -1, -2, -0.5, 3, -3, 1e-7, -1e-7], dtype=np.float32)
    bias = np.array([0, 0.5, -3, 2.5, 0, 0.5, 7, -2.5, 1.5, -4.5, 1e-7, -1e-7], dtype=np.float32)
    check(scale, bias, k)
    check(scale, -bias, k)


@pytest.mark.parametrize("k", [1, 7, 513])
def test_zero_negative_and_extreme_scales(k):
    values = [0.0, -0.0, 1.0, -1.0, 3e38, -3e38, np.inf, -np.inf, np.nan, 1e-45, -1e-45]
    scale, bias = np.meshgrid(np.array(values, np.float32), np.array(values + [0.25, -7.0], np.float32))
    check(scale.ravel(), bias.ravel(), k)


def test_random_scales_and_biases(rng):
    k = 1152
    scale = rng.standard_normal(500).astype(np.float32) * 10 ** rng.uniform(-6, 3, 500).astype(np.float32)
    bias = rng.standard_normal(500).astype(np.float32) * 10 ** rng.uniform(-3, 4, 500).astype(np.float32)
    check(scale, bias, k)


def test_packed_output_at_exact_boundaries(isa, rng):
    # Every channel's boundary falls exactly on an integer or half-integer dot product that occurs.
    x = rng.standard_normal((1, 64, 6, 6)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    data, weight = native.pack_activations(x), native.pack_conv_weights(w)
    y = native.binary_conv2d(data, weight, in_channels=64, pad=1)
    scale = np.where(np.arange(64) % 3 == 0, 1.0, np.where(np.arange(64) % 3 == 1, -0.5, 0.0)).astype(np.float32)
    bias = (-scale * y[0, :, 2, 3].astype(np.float32) + (np.arange(64) % 2) * 0.25).astype(np.float32)
    got = native.binary_conv2d(data, weight, in_channels=64, pad=1, out_format="packed", scale=scale, bias=bias)
    np.testing.assert_array_equal(got, reference.packed_output(y, scale, bias))
