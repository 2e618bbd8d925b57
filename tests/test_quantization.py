"""Quantizers: exact forward values (zero included), pseudo-gradients against NumPy at and around the clip
boundary, ``get()`` round trips and errors, imperative and symbolic."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from bmxnet_ext import quantizers as q


def forward_and_grad(fn, x, head=None):
    """Value of ``fn(mx.nd, x)`` and the gradient of ``sum(head * fn(x))`` w.r.t. x, both as NumPy arrays."""
    xs = mx.nd.array(x)
    xs.attach_grad()
    with autograd.record():
        y = fn(mx.nd, xs)
    y.backward(None if head is None else mx.nd.array(head))
    return y.asnumpy(), xs.grad.asnumpy()


def boundary_points(clip):
    """A grid over [-2, 2] plus +-clip exactly and the float32 neighbours on either side of it, and +-0."""
    c = np.float32(clip)
    points = [c, -c, np.nextafter(c, np.float32(9)), np.nextafter(c, np.float32(0)),
              -np.nextafter(c, np.float32(9)), -np.nextafter(c, np.float32(0)), 0.0, -0.0]
    return np.concatenate([np.linspace(-2, 2, 81, dtype=np.float32), np.array(points, np.float32)])


def np_sign(x):
    return np.where(x >= 0, 1.0, -1.0).astype(np.float32)


SIGN_ZERO = np.array([-2.0, -1e-30, -0.0, 0.0, 1e-30, 3.0], dtype=np.float32)


@pytest.mark.parametrize("name", ["ste_sign", "approx_sign", "swish_sign", "magnitude_aware_sign"])
def test_sign_family_maps_zero_and_negative_zero_to_plus_one(name):
    y, _ = forward_and_grad(q.get(name), SIGN_ZERO.reshape(1, -1))
    scale = np.abs(SIGN_ZERO).mean() if name == "magnitude_aware_sign" else 1.0
    np.testing.assert_allclose(y[0], scale * np.array([-1, -1, 1, 1, 1, 1]), rtol=1e-6)


@pytest.mark.parametrize("clip", [0.5, 1.0, 1.3])
def test_ste_sign_gradient_is_indicator_of_abs_x_within_clip(clip):
    x = boundary_points(clip)
    y, g = forward_and_grad(q.SteSign(clip_value=clip), x)
    np.testing.assert_array_equal(y, np_sign(x))
    np.testing.assert_array_equal(g, (np.abs(x) <= np.float32(clip)).astype(np.float32))


def test_ste_sign_without_clip_passes_every_gradient():
    x = boundary_points(1.0) * 100
    _, g = forward_and_grad(q.SteSign(clip_value=None), x)
    np.testing.assert_array_equal(g, np.ones_like(x))


def test_grad_cancel_forward_is_exact_identity(rng):
    x = (rng.standard_normal(1000) * 1e3).astype(np.float32)
    y, _ = forward_and_grad(lambda F, v: q.grad_cancel(F, v, 0.5), x)
    np.testing.assert_array_equal(y, x)


def test_approx_sign_gradient_is_bireal_polynomial():
    x = boundary_points(1.0)
    y, g = forward_and_grad(q.ApproxSign(), x)
    np.testing.assert_array_equal(y, np_sign(x))
    expected = np.where(np.abs(x) < 1, 2 - 2 * np.abs(x), 0).astype(np.float32)
    np.testing.assert_allclose(g, expected, rtol=0, atol=1e-6)
    assert not g[np.abs(x) == 1].any()


@pytest.mark.parametrize("beta", [1.0, 5.0, 10.0])
def test_swish_sign_gradient_is_the_derivative_of_sign_swish(beta, rng):
    x = np.concatenate([boundary_points(1.0), [-30.0, 30.0]]).astype(np.float32)
    y, g = forward_and_grad(q.SwishSign(beta=beta), x)
    np.testing.assert_array_equal(y, np_sign(x))
    bx = beta * x.astype(np.float64)
    expected = beta * (2 - bx * np.tanh(bx / 2)) / (1 + np.cosh(bx))
    np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-6)
    # ... which is the derivative of 2 sigmoid(bx) (1 + bx (1 - sigmoid(bx))) - 1 (central differences)
    sig = lambda v: 1 / (1 + np.exp(-beta * v))
    f = lambda v: 2 * sig(v) * (1 + beta * v * (1 - sig(v))) - 1
    xs = np.linspace(-1.5, 1.5, 31)
    _, g2 = forward_and_grad(q.SwishSign(beta=beta), xs.astype(np.float32))
    np.testing.assert_allclose(g2, (f(xs + 1e-6) - f(xs - 1e-6)) / 2e-6, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("clip", [None, 0.5])
def test_magnitude_aware_sign_scales_each_output_channel_by_its_mean_magnitude(clip, rng):
    w = boundary_points(0.5)[:84].reshape(4, 3, 7) * rng.uniform(0.5, 2, (4, 1, 1)).astype(np.float32)
    w[1, 0, 0] = 0.0
    head = rng.standard_normal(w.shape).astype(np.float32)
    y, g = forward_and_grad(q.MagnitudeAwareSign(clip_value=clip), w, head)
    alpha = np.abs(w).reshape(4, -1).mean(axis=1).reshape(4, 1, 1)
    np.testing.assert_allclose(y, alpha * np_sign(w), rtol=1e-6)
    assert y[1, 0, 0] > 0
    keep = np.ones_like(w) if clip is None else (np.abs(w) <= np.float32(clip))
    np.testing.assert_allclose(g, head * alpha * keep, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("clip", [0.5, 1.0])
def test_ste_heaviside_is_half_sign_plus_one_with_clipped_gradient(clip):
    x = boundary_points(clip)
    y, g = forward_and_grad(q.SteHeaviside(clip_value=clip), x)
    np.testing.assert_array_equal(y, (np_sign(x) + 1) / 2)
    assert y[x == 0].all()  # +0 and -0
    np.testing.assert_array_equal(g, (np.abs(x) <= np.float32(clip)).astype(np.float32))


def test_ste_tern_with_fixed_threshold():
    x = np.concatenate([boundary_points(1.0), np.float32([0.05, -0.05, 0.049, -0.049])])
    y, g = forward_and_grad(q.SteTern(threshold_value=0.05), x)
    expected = np.where(np.abs(x) >= np.float32(0.05), np_sign(x), 0)
    np.testing.assert_array_equal(y, expected)
    assert y[-4:].tolist() == [1, -1, 0, 0] and not y[x == 0].any()
    np.testing.assert_array_equal(g, (np.abs(x) <= 1).astype(np.float32))


def test_ste_tern_twn_threshold_is_0_7_mean_magnitude(rng):
    w = rng.standard_normal((5, 8)).astype(np.float32)
    y, _ = forward_and_grad(q.SteTern(ternary_weight_networks=True), w)
    delta = np.float32(0.7) * np.abs(w).mean(dtype=np.float32)
    np.testing.assert_array_equal(y, np.where(np.abs(w) >= delta, np_sign(w), 0))
    assert set(np.unique(y)) == {-1, 0, 1}


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


def test_dorefa_activations_clip_to_unit_interval_and_cancel_outside():
    x = np.array([-0.5, -0.0, 0.0, 0.2, 0.7, 1.0, 1.7], dtype=np.float32)
    y, g = forward_and_grad(q.DoReFa(2, "activations"), x)
    np.testing.assert_allclose(y, [0, 0, 0, 1 / 3, 2 / 3, 1, 1], rtol=1e-7)
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 1, 1, 0])


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_dorefa_weights_match_numpy_and_stay_within_2_to_the_k_levels(bits, rng):
    w = rng.standard_normal((16, 9)).astype(np.float32)
    y, _ = forward_and_grad(q.DoReFa(bits, "weights"), w)
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
    """
    w = (rng.standard_normal((6, 7)) * 1.5).astype(np.float32)
    head = rng.standard_normal(w.shape).astype(np.float32)
    _, g = forward_and_grad(q.DoReFa(bits, "weights"), w, head)
    t = np.tanh(w.astype(np.float64))
    np.testing.assert_allclose(g, head * (1 - t ** 2) / np.abs(t).max(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_dorefa_weights_of_all_zeros_are_zeros_not_nan(bits):
    y, g = forward_and_grad(q.DoReFa(bits, "weights"), np.zeros((3, 4), np.float32))
    np.testing.assert_array_equal(y, np.zeros((3, 4)))
    assert np.isfinite(g).all()


def test_noop_is_identity_with_the_given_precision(rng):
    w = rng.standard_normal(50).astype(np.float32)
    y, g = forward_and_grad(q.NoOp(), w)
    np.testing.assert_array_equal(y, w)
    np.testing.assert_array_equal(g, np.ones_like(w))
    assert q.NoOp().precision == 32 and q.NoOp(precision=8).precision == 8


def test_from_bits_resolves_the_shorthand():
    assert q.from_bits(1, "weights") == q.SteSign(clip_value=None)
    assert q.from_bits(3, "activations") == q.DoReFa(3, "activations")
    assert q.from_bits(32, "weights") is None


@pytest.mark.parametrize("name", sorted(q.REGISTRY))
def test_quantizers_work_symbolically_and_match_imperative(name, rng):
    quantizer = q.get(name)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    x[0, 0] = 0.0
    out = quantizer(mx.sym, mx.sym.var("data"))
    symbolic = out.eval(ctx=mx.cpu(), data=mx.nd.array(x))[0].asnumpy()
    np.testing.assert_array_equal(symbolic, quantizer(mx.nd, mx.nd.array(x)).asnumpy())


PRECISIONS = {"ste_sign": 1, "approx_sign": 1, "swish_sign": 1, "magnitude_aware_sign": 1, "ste_heaviside": 1,
              "ste_tern": 2, "dorefa": 2, "noop": 32}


@pytest.mark.parametrize("name", sorted(q.REGISTRY))
def test_each_quantizer_has_name_precision_docstring_and_round_trips(name):
    quantizer = q.get(name)
    assert quantizer.name == name and quantizer.precision == PRECISIONS[name]
    assert ":math:" in type(quantizer).__doc__
    assert q.get(quantizer.get_config()) == quantizer
    assert q.get(quantizer) is quantizer


def test_registry_holds_every_named_quantizer():
    assert set(q.REGISTRY) == set(PRECISIONS)


def test_get_with_dict_passes_arguments():
    tern = q.get({"name": "ste_tern", "threshold_value": 0.1, "ternary_weight_networks": True})
    assert tern.get_config() == {"name": "ste_tern", "threshold_value": 0.1, "ternary_weight_networks": True,
                                 "clip_value": 1.0}
    assert q.get({"name": "dorefa", "k_bit": 4, "mode": "weights"}).precision == 4
    assert q.get(None) is None


def test_get_passes_custom_callables_through():
    def my_quantizer(F, x):
        return F.sign(x)

    assert q.get(my_quantizer) is my_quantizer
    assert q.precision(my_quantizer) == 32 and q.precision(None) == 32


@pytest.mark.parametrize("bad", ["sgn", 3, {"name": "nope"}, {"k_bit": 2}, q.SteSign, ["ste_sign"]])
def test_get_rejects_anything_else_listing_the_registered_names(bad):
    with pytest.raises(ValueError) as err:
        q.get(bad)
    message = str(err.value)
    assert repr(bad) in message and "approx_sign" in message and "ste_sign" in message


@pytest.mark.parametrize("config, message", [
    ({"name": "dorefa", "k_bit": 0}, "k_bit"), ({"name": "dorefa", "mode": "both"}, "mode"),
    ({"name": "ste_sign", "clip_value": -1}, "clip_value"), ({"name": "swish_sign", "beta": 0}, "beta"),
    ({"name": "ste_tern", "threshold_value": -0.1}, "threshold_value"), ({"name": "ste_sign", "clip": 1}, "clip"),
    ({"name": "noop", "precision": 33}, "precision"),
])
def test_bad_quantizer_arguments_raise_value_error_naming_them(config, message):
    with pytest.raises(ValueError, match=message):
        q.get(config)


@pytest.mark.parametrize("bits", [0, 33, 1.5, True, "1"])
def test_bad_bit_width_is_rejected(bits):
    with pytest.raises(ValueError, match="bits"):
        q.quantize_k(mx.nd, mx.nd.ones(2), bits)
