"""Quantizers: exact forward values and exact straight-through gradients, imperative and symbolic."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from bmxnet_ext import quantization as q


def forward_and_grad(fn, x):
    """Value of ``fn(mx.nd, x)`` and d(sum fn)/dx, both as NumPy arrays."""
    xs = mx.nd.array(x)
    xs.attach_grad()
    with autograd.record():
        y = fn(mx.nd, xs)
    y.backward()
    return y.asnumpy(), xs.grad.asnumpy()


def test_det_sign_maps_zero_and_negative_zero_to_plus_one():
    y, _ = forward_and_grad(q.det_sign, np.array([-2.0, -1e-30, -0.0, 0.0, 1e-30, 3.0], dtype=np.float32))
    np.testing.assert_array_equal(y, [-1, -1, 1, 1, 1, 1])


def test_det_sign_gradient_is_identity():
    x = np.linspace(-3, 3, 61).astype(np.float32)
    _, g = forward_and_grad(q.det_sign, x)
    np.testing.assert_array_equal(g, np.ones_like(x))


@pytest.mark.parametrize("threshold", [0.5, 1.0, 1.3])
def test_clipping_ste_gradient_is_indicator_of_abs_x_within_threshold(threshold):
    # include the exact boundary points +-t, which must pass the gradient (|x| <= t)
    x = np.concatenate([np.linspace(-2, 2, 81), [threshold, -threshold, np.nextafter(threshold, 9)]])
    x = x.astype(np.float32)
    y, g = forward_and_grad(lambda F, v: q.det_sign(F, q.grad_cancel(F, v, threshold)), x)
    np.testing.assert_array_equal(y, np.where(x >= 0, 1, -1))
    np.testing.assert_array_equal(g, (np.abs(x) <= np.float32(threshold)).astype(np.float32))


def test_grad_cancel_forward_is_exact_identity(rng):
    x = (rng.standard_normal(1000) * 1e3).astype(np.float32)
    y, _ = forward_and_grad(lambda F, v: q.grad_cancel(F, v, 0.5), x)
    np.testing.assert_array_equal(y, x)


def test_approx_sign_gradient_is_bireal_polynomial():
    x = np.linspace(-1.5, 1.5, 31).astype(np.float32)
    y, g = forward_and_grad(q.approx_sign, x)
    np.testing.assert_array_equal(y, np.where(x >= 0, 1, -1))
    expected = np.where(np.abs(x) < 1, 2 - 2 * np.abs(x), 0).astype(np.float32)
    np.testing.assert_allclose(g, expected, rtol=0, atol=1e-6)


def test_round_ste_rounds_half_away_from_zero_with_identity_gradient():
    x = np.array([-1.5, -0.5, -0.4, 0.4, 0.5, 1.5, 2.49], dtype=np.float32)
    y, g = forward_and_grad(q.round_ste, x)
    np.testing.assert_array_equal(y, [-2, -1, 0, 0, 1, 2, 2])
    np.testing.assert_array_equal(g, np.ones_like(x))


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_quantize_k_takes_exactly_2_to_the_k_levels(bits):
    x = np.linspace(0, 1, 4097).astype(np.float32)
    y, _ = forward_and_grad(lambda F, v: q.quantize_k(F, v, bits), x)
    levels = np.arange(2 ** bits, dtype=np.float32) / np.float32(2 ** bits - 1)
    np.testing.assert_array_equal(np.unique(y), levels)


def test_quantize_activations_clips_to_unit_interval_and_cancels_outside():
    x = np.array([-0.5, 0.0, 0.2, 0.7, 1.0, 1.7], dtype=np.float32)
    y, g = forward_and_grad(lambda F, v: q.quantize_activations(F, v, 2), x)
    np.testing.assert_allclose(y, [0, 0, 1 / 3, 2 / 3, 1, 1], rtol=1e-7)
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 1, 0])


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_dorefa_weights_match_numpy_and_stay_within_2_to_the_k_levels(bits, rng):
    w = rng.standard_normal((16, 9)).astype(np.float32)
    y, _ = forward_and_grad(lambda F, v: q.dorefa_weights(F, v, bits), w)
    t = np.tanh(w)
    n = 2 ** bits - 1
    expected = 2 * np.round(n * (t / (2 * np.abs(t).max()) + 0.5)) / n - 1
    np.testing.assert_allclose(y, expected, atol=1e-6)
    assert len(np.unique(y)) <= 2 ** bits
    assert y.min() >= -1 and y.max() <= 1


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_dorefa_weights_gradient_is_straight_through_tanh_normalisation(bits, rng):
    r"""The rounding passes its gradient unchanged and ``max|tanh w|`` is a constant, so

    .. math:: \frac{\partial}{\partial w} \left[2 \left(\frac{\tanh w}{2 m} + \frac12\right) - 1\right]
              = \frac{1 - \tanh^2 w}{m}, \qquad m = \max|\tanh w|

    (with a random head gradient ``g``: ``g (1 - tanh^2 w) / m``). A blocked tanh would make it 0.
    """
    w = (rng.standard_normal((6, 7)) * 1.5).astype(np.float32)
    head = rng.standard_normal(w.shape).astype(np.float32)
    ws = mx.nd.array(w)
    ws.attach_grad()
    with autograd.record():
        y = q.dorefa_weights(mx.nd, ws, bits)
    y.backward(mx.nd.array(head))
    t = np.tanh(w.astype(np.float64))
    expected = head * (1 - t ** 2) / np.abs(t).max()
    np.testing.assert_allclose(ws.grad.asnumpy(), expected, rtol=1e-5, atol=1e-6)
    # quantize_weights routes k >= 2 bits to the same quantizer, gradient included
    _, g = forward_and_grad(lambda F, v: q.quantize_weights(F, v, bits), w)
    np.testing.assert_allclose(g, (1 - t ** 2) / np.abs(t).max(), rtol=1e-5, atol=1e-6)


def test_full_precision_is_identity(rng):
    w = rng.standard_normal(50).astype(np.float32)
    for fn in (q.quantize_k, q.quantize_activations, q.dorefa_weights, q.quantize_weights):
        y, _ = forward_and_grad(lambda F, v, fn=fn: fn(F, v, 32), w)
        np.testing.assert_array_equal(y, w)


def test_quantizers_work_symbolically():
    data = mx.sym.var("data")
    out = q.det_sign(mx.sym, q.grad_cancel(mx.sym, data, 0.5))
    x = mx.nd.array([-1.0, 0.0, 0.25])
    result = out.eval(ctx=mx.cpu(), data=x)[0].asnumpy()
    np.testing.assert_array_equal(result, [-1, 1, 1])


@pytest.mark.parametrize("bits", [0, 33, 1.5, True, "1"])
def test_bad_bit_width_is_rejected(bits):
    with pytest.raises(ValueError, match="bits"):
        q.quantize_k(mx.nd, mx.nd.ones(2), bits)


def test_unknown_activation_method_lists_registered_names():
    with pytest.raises(ValueError, match="approx_sign.*det_sign.*got 'sgn'"):
        q.get_activation_method("sgn")
    assert q.get_activation_method("approx_sign") is q.approx_sign
