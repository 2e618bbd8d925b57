"""Quantized layers against plain references: float convolution / matmul of +/-1 tensors padded with -1."""
import json
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from bmxnet_ext import (BinaryConvolution, BinaryDense, QActivation, QConv1D, QConv2D, QDense,
                        binary_layer_config)
from bmxnet_ext.layers import CONFIG_ATTR, LAYER_ATTR
from float_reference import conv2d, sign


def naive_conv2d_weight_grad(x, head, kernel, pad, pad_value):
    """d(sum head * conv2d(pad(x), W))/dW at stride 1: ``sum_{n,p,q} head[n,o,p,q] xpad[n,c,p+i,q+j]``."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=pad_value).astype(np.float64)
    oh, ow = head.shape[2:]
    grad = np.zeros((head.shape[1], x.shape[1], kernel, kernel))
    for i in range(kernel):
        for j in range(kernel):
            grad[:, :, i, j] = np.einsum("nopq,ncpq->oc", head, xp[:, :, i:i + oh, j:j + ow])
    return grad

CONV_CASES = [
    # (batch, in_ch, out_ch, size, kernel, stride, pad, dilation, groups)
    (2, 3, 8, 9, 3, 1, 1, 1, 1),
    (1, 37, 16, 11, 3, 2, 1, 1, 1),
    (2, 65, 12, 8, 3, 1, 2, 2, 1),
    (1, 16, 8, 10, 5, 2, 2, 1, 2),
    (3, 12, 12, 7, 1, 1, 0, 1, 4),
    (1, 6, 10, 9, (3, 5), (2, 1), (1, 2), (2, 1), 2),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "n{}c{}o{}s{}k{}st{}p{}d{}g{}".format(*c))
def test_binary_qconv2d_equals_float_conv_of_signs_padded_with_minus_one(case, rng):
    n, c, o, size, k, stride, pad, dilation, groups = case
    conv = QConv2D(o, k, strides=stride, padding=pad, dilation=dilation, groups=groups, in_channels=c)
    conv.initialize(mx.init.Uniform(1.0))
    x = rng.standard_normal((n, c, size, size)).astype(np.float32)
    x[0, 0, 0, :3] = 0.0  # zeros must binarize to +1
    xb = mx.nd.array(sign(x))
    y = conv(xb).asnumpy()

    pair = lambda v: v if isinstance(v, tuple) else (v, v)
    w = sign(conv.weight.data().asnumpy())
    expected = conv2d(sign(x), w, pair(stride), pair(pad), pair(dilation), groups, pad_value=-1.0)
    np.testing.assert_array_equal(y, expected)
    # outputs of a binary layer are integers in [-K, K]
    assert np.abs(y).max() <= c // groups * np.prod(pair(k))


def test_binary_qconv1d_equals_float_conv_of_signs(rng):
    conv = QConv1D(7, 3, strides=2, padding=2, dilation=1, in_channels=5)
    conv.initialize(mx.init.Uniform(1.0))
    x = sign(rng.standard_normal((2, 5, 13)).astype(np.float32))
    y = conv(mx.nd.array(x)).asnumpy()
    w = sign(conv.weight.data().asnumpy())
    expected = conv2d(x[:, :, None, :], w[:, :, None, :], (1, 2), (0, 2), (1, 1), 1, -1.0)[:, :, 0, :]
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("in_units", [1, 37, 65, 130])
def test_binary_qdense_equals_matmul_of_signs(in_units, rng):
    dense = QDense(9, in_units=in_units)
    dense.initialize(mx.init.Uniform(1.0))
    x = sign(rng.standard_normal((4, in_units)).astype(np.float32))
    y = dense(mx.nd.array(x)).asnumpy()
    np.testing.assert_array_equal(y, x @ sign(dense.weight.data().asnumpy()).T)


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_kbit_qconv2d_uses_dorefa_weights_with_2_to_the_k_levels(bits, rng):
    conv = QConv2D(8, 3, padding=1, in_channels=4, bits=bits)
    conv.initialize(mx.init.Normal(1.0))
    act = QActivation(bits=bits)
    x = rng.uniform(-0.5, 1.5, (2, 4, 6, 6)).astype(np.float32)
    xq = act(mx.nd.array(x)).asnumpy()
    n = 2 ** bits - 1
    np.testing.assert_array_equal(np.unique(xq), np.unique(np.round(np.clip(x, 0, 1) * n) / n))
    assert len(np.unique(xq)) == 2 ** bits

    w = conv.weight.data().asnumpy()
    t = np.tanh(w)
    wq = 2 * np.round(n * (t / (2 * np.abs(t).max()) + 0.5)) / n - 1
    expected = conv2d(xq, wq, (1, 1), (1, 1), (1, 1), 1, pad_value=0.0)
    np.testing.assert_allclose(conv(mx.nd.array(xq)).asnumpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bits", [2, 4])
def test_kbit_qconv2d_weight_gradient_is_straight_through_dorefa(bits, rng):
    r"""dL/dW of a k-bit conv is the float conv's weight gradient at the DoReFa weights :math:`W_q`, times the
    straight-through gradient of the tanh normalisation, :math:`(1 - \tanh^2 W) / \max|\tanh W|`."""
    conv = QConv2D(5, 3, padding=1, in_channels=3, bits=bits)
    conv.initialize(mx.init.Normal(1.0))
    x = rng.uniform(0, 1, (2, 3, 6, 6)).astype(np.float32)
    head = rng.standard_normal((2, 5, 6, 6))
    with autograd.record():
        y = conv(mx.nd.array(x))
    y.backward(mx.nd.array(head))

    t = np.tanh(conv.weight.data().asnumpy().astype(np.float64))
    expected = naive_conv2d_weight_grad(x, head, 3, 1, pad_value=0.0) * (1 - t ** 2) / np.abs(t).max()
    np.testing.assert_allclose(conv.weight.grad().asnumpy(), expected, rtol=1e-4, atol=1e-5)


def test_full_precision_layers_equal_gluon_layers(rng):
    q = QConv2D(6, 3, padding=1, in_channels=3, bits=32, use_bias=True)
    q.initialize(mx.init.Normal(1.0))
    ref = gluon.nn.Conv2D(6, 3, padding=1, in_channels=3)
    ref.initialize()
    ref.weight.set_data(q.weight.data())
    ref.bias.set_data(mx.nd.array(rng.standard_normal(6)))
    q.bias.set_data(ref.bias.data())
    x = mx.nd.array(rng.standard_normal((2, 3, 5, 5)))
    np.testing.assert_array_equal(q(x).asnumpy(), ref(x).asnumpy())
    assert q.pad_value == 0.0


@pytest.mark.parametrize("mode", ["forward_backward", "xnor", "backward"])
def test_scaling_modes_scale_forward_and_backward_as_documented(mode, rng):
    plain = QConv2D(4, 3, padding=1, in_channels=3)
    scaled = QConv2D(4, 3, padding=1, in_channels=3, scaling=mode)
    for layer in (plain, scaled):
        layer.initialize()
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    plain.weight.set_data(mx.nd.array(w))
    scaled.weight.set_data(mx.nd.array(w))
    x = mx.nd.array(sign(rng.standard_normal((2, 3, 5, 5))))
    x.attach_grad()
    head = mx.nd.array(rng.standard_normal((2, 4, 5, 5)))
    with autograd.record():
        y = scaled(x)
    y.backward(head)
    y_plain = plain(x).asnumpy()
    if mode == "xnor":
        alpha = np.abs(w).reshape(4, -1).mean(axis=1).reshape(1, 4, 1, 1)
    else:
        alpha = np.abs(w).mean()
    expected = y_plain if mode == "backward" else y_plain * alpha
    np.testing.assert_allclose(y.asnumpy(), expected, rtol=1e-6)
    # the gradients w.r.t. input and weights are those of alpha * conv, alpha a constant, in every mode
    x_plain = x.copy()
    x_plain.attach_grad()
    with autograd.record():
        z = plain(x_plain) * mx.nd.array(np.broadcast_to(alpha, y_plain.shape))
    z.backward(head)
    np.testing.assert_allclose(x.grad.asnumpy(), x_plain.grad.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaled.weight.grad().asnumpy(), plain.weight.grad().asnumpy(), rtol=1e-5, atol=1e-5)
    # ... which, through the straight-through sign, is alpha times the float conv's weight gradient
    expected_dw = naive_conv2d_weight_grad(x.asnumpy(), head.asnumpy() * alpha, 3, 1, pad_value=-1.0)
    np.testing.assert_allclose(scaled.weight.grad().asnumpy(), expected_dw, rtol=1e-5, atol=1e-5)


def naive_dense_reference(x, w, head, flatten):
    """y = x W^T, dL/dx = head W, dL/dW = head^T x for a dense layer (x flattened or applied on the last axis)."""
    units = w.shape[0]
    x2 = x.reshape(x.shape[0], -1) if flatten else x.reshape(-1, x.shape[-1])
    h2 = head.reshape(-1, units)
    y = (x2 @ w.T).reshape(head.shape)
    return y, (h2 @ w).reshape(x.shape), h2.T @ x2


@pytest.mark.parametrize("flatten, shape", [(True, (3, 2, 2, 5)), (False, (3, 4, 20))],
                         ids=["flatten", "no_flatten"])
@pytest.mark.parametrize("mode", ["none", "forward_backward", "xnor", "backward"])
def test_qdense_scaling_modes_scale_forward_and_backward_as_documented(mode, flatten, shape, rng):
    """QDense with alpha = mean|W| (xnor: mean|W[u]| per unit u), alpha a constant to the gradient:

    - forward: ``y = alpha * x sign(W)^T`` (``backward`` and ``none`` modes: unscaled);
    - backward: dL/dx = (alpha head) sign(W), dL/dW = (alpha head)^T x (straight-through sign), in every mode
      but ``none`` (alpha = 1).
    """
    units = 6
    dense = QDense(units, flatten=flatten, in_units=20, scaling=mode)
    dense.initialize()
    w = rng.standard_normal((units, 20)).astype(np.float32)
    dense.weight.set_data(mx.nd.array(w))
    x = mx.nd.array(sign(rng.standard_normal(shape)))
    x.attach_grad()
    out_shape = (shape[0], units) if flatten else shape[:-1] + (units,)
    head = rng.standard_normal(out_shape)
    with autograd.record():
        y = dense(x)
    y.backward(mx.nd.array(head))

    if mode == "none":
        alpha = np.ones(1)
    elif mode == "xnor":
        alpha = np.abs(w).mean(axis=1)
    else:
        alpha = np.abs(w).mean(keepdims=True)
    _, dx_ref, dw_ref = naive_dense_reference(x.asnumpy(), sign(w), head * alpha, flatten)
    y_unscaled = naive_dense_reference(x.asnumpy(), sign(w), head, flatten)[0]
    assert y.shape == out_shape
    expected_y = y_unscaled if mode in ("none", "backward") else y_unscaled * alpha
    np.testing.assert_allclose(y.asnumpy(), expected_y, rtol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), dx_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dense.weight.grad().asnumpy(), dw_ref, rtol=1e-5, atol=1e-5)


def test_gradients_reach_latent_weights_through_the_straight_through_estimator(rng):
    """d/dW of a binary conv equals the float conv's weight gradient at sign(W); d/dx is cut where |x| > t."""
    net = BinaryConvolution(5, 3, padding=1, in_channels=3, gradient_cancel_threshold=0.5)
    net.initialize(mx.init.Uniform(1.0))
    x = mx.nd.array(rng.uniform(-1, 1, (2, 3, 6, 6)))
    x.attach_grad()
    head = mx.nd.array(rng.standard_normal((2, 5, 6, 6)))
    with autograd.record():
        y = net(x)
    y.backward(head)

    w = mx.nd.array(sign(net.qconv.weight.data().asnumpy()))
    w.attach_grad()
    xs = mx.nd.array(np.pad(sign(x.asnumpy()), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-1))
    xs.attach_grad()
    with autograd.record():
        ref = mx.nd.Convolution(xs, w, kernel=(3, 3), num_filter=5, no_bias=True)
    ref.backward(head)
    np.testing.assert_allclose(net.qconv.weight.grad().asnumpy(), w.grad.asnumpy(), rtol=1e-5, atol=1e-5)
    inner = xs.grad.asnumpy()[:, :, 1:-1, 1:-1]
    expected_dx = inner * (np.abs(x.asnumpy()) <= 0.5)
    np.testing.assert_allclose(x.grad.asnumpy(), expected_dx, rtol=1e-5, atol=1e-5)


def _small_net():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(8, 3, padding=1), gluon.nn.BatchNorm(),
            QActivation(), QConv2D(16, 3, padding=1, strides=2), gluon.nn.BatchNorm(),
            QActivation(method="approx_sign"), QConv2D(16, 3, padding=1, groups=2, scaling="xnor"),
            gluon.nn.BatchNorm(), QActivation(bits=2), QConv2D(8, 1, bits=2),
            gluon.nn.Flatten(), BinaryDense(10, in_units=8 * 8 * 8), gluon.nn.Dense(10))
    net.initialize(mx.init.Xavier())
    return net


def test_hybridized_equals_imperative_and_export_round_trips(tmp_path, rng):
    net = _small_net()
    x = mx.nd.array(rng.standard_normal((3, 3, 16, 16)))
    eager = net(x).asnumpy()
    net.hybridize()
    np.testing.assert_array_equal(net(x).asnumpy(), eager)
    prefix = os.path.join(tmp_path, "small")
    net.export(prefix)
    loaded = gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    np.testing.assert_array_equal(loaded(x).asnumpy(), eager)

    nodes = json.load(open(prefix + "-symbol.json"))["nodes"]
    tags = {n["attrs"][LAYER_ATTR] for n in nodes if LAYER_ATTR in n.get("attrs", {})}
    assert {t.split(":")[0] for t in tags} == {"QActivation", "QConv2D", "QDense"}
    conv_cfg = next(json.loads(n["attrs"][CONFIG_ATTR]) for n in nodes
                    if n.get("attrs", {}).get(LAYER_ATTR, "").startswith("QConv2D") and n["op"] == "Convolution"
                    and json.loads(n["attrs"][CONFIG_ATTR])["scaling"] == "xnor")
    assert conv_cfg == {"bits": 1, "pad_value": -1.0, "padding": [1, 1], "scaling": "xnor"}


def test_binary_layer_config_sets_defaults_within_a_block_only():
    with binary_layer_config(bits=2, bits_a=3, grad_cancel=1.0) as cfg:
        assert cfg.bits == 2
        conv, act = QConv2D(4, 3), QActivation()
        with binary_layer_config(method="approx_sign"):
            inner = QActivation()
        explicit = QConv2D(4, 3, bits=1)
    after = QConv2D(4, 3)
    assert (conv.bits, act.bits, act.threshold) == (2, 3, 1.0)
    assert inner.method == "approx_sign" and inner.bits == 3
    assert explicit.bits == 1 and after.bits == 1
    with pytest.raises(ValueError, match="bitz"):
        with binary_layer_config(bitz=2):
            pass


@pytest.mark.parametrize("kwargs, message", [
    (dict(use_bias=True), "no bias"),
    (dict(activation="relu"), "no activation"),
    (dict(scaling="mean"), "scaling"),
    (dict(bits=2, scaling="xnor"), "1-bit layers only"),
    (dict(bits=0), "bits"),
    (dict(layout="NHWC"), "layout"),
])
def test_invalid_layer_configurations_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QConv2D(4, 3, **kwargs)


def test_invalid_activation_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="round"):
        QActivation(bits=1, method="round")
    with pytest.raises(ValueError, match="method"):
        QActivation(method="sgn")
    with pytest.raises(ValueError, match="no bias"):
        QDense(4, use_bias=True)


def test_wrong_input_channel_count_is_reported(rng):
    conv = QConv2D(4, 3, in_channels=3)
    conv.initialize()
    with pytest.raises(mx.base.MXNetError, match="weight|shape|Shape"):
        conv(mx.nd.array(rng.standard_normal((1, 5, 8, 8)))).wait_to_read()
