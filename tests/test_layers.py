"""Quantized layers against plain references: float convolution / matmul of quantized tensors padded with the
pad value, Gluon's own layers fed the quantized input and weights, signatures, argument errors, the blocks of
ReActNet and XNOR-Net++."""
import inspect
import json
import logging
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from bmxnet_ext import (BinaryConvolution, BinaryDense, QActivation, QConv1D, QConv2D, QConv3D, QDense,
                        QDepthwiseConv2D, QSeparableConv2D, RPReLU, RSign, TrainableScale, binary_layer_config,
                        constraints, quantizers)
from bmxnet_ext.constraints import apply_constraints
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
    assert conv_cfg == {"bits": 1, "pad_value": -1.0, "padding": [1, 1], "scaling": "xnor", "input_scaling": None,
                        "kernel_quantizer": {"name": "magnitude_aware_sign", "clip_value": None}}


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


# ------------------------------------------------------------------------------------------ Larq-style arguments

@pytest.mark.parametrize("ours, gluons", [(QConv1D, gluon.nn.Conv1D), (QConv2D, gluon.nn.Conv2D),
                                          (QConv3D, gluon.nn.Conv3D), (QDense, gluon.nn.Dense)])
def test_positional_arguments_match_gluons_layers(ours, gluons):
    """Every argument of Gluon's layer, in the same order and kind, with the same default (use_bias excepted:
    a binary layer has no bias); the quantization arguments come after, keyword-only."""
    theirs = [p for p in inspect.signature(gluons).parameters.values() if p.kind != p.VAR_KEYWORD]
    mine = list(inspect.signature(ours).parameters.values())
    assert [(p.name, p.kind) for p in mine[:len(theirs)]] == [(p.name, p.kind) for p in theirs]
    for a, b in zip(mine, theirs):
        assert a.default == b.default or a.name == "use_bias"
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in mine[len(theirs):])
    assert {"input_quantizer", "kernel_quantizer", "kernel_constraint"} <= {p.name for p in mine}


def test_positional_calls_that_gluon_accepts_work():
    conv = QConv2D(4, 3, 1, 0, 1, 1, "NCHW", None, False)
    assert conv._kwargs["kernel"] == (3, 3) and conv.bias is None
    dense = QDense(4, None, False, True, "float32")
    assert dense._in_units == 0 and dense._units == 4
    dense.initialize()
    assert dense(mx.nd.ones((2, 5))).shape == (2, 4)


def _set_weights(layer, rng, scale=1.0):
    layer.initialize()
    layer(mx.nd.zeros(layer._test_input_shape))
    w = (rng.standard_normal(layer.weight.shape) * scale).astype(np.float32)
    layer.weight.set_data(mx.nd.array(w))
    return w


QUANTIZER_CASES = [
    ("ste_sign", "ste_sign"), ("approx_sign", "magnitude_aware_sign"), ("swish_sign", "ste_tern"),
    ("ste_heaviside", "ste_heaviside"), ({"name": "dorefa", "k_bit": 2}, {"name": "dorefa", "k_bit": 3,
                                                                          "mode": "weights"}),
    (None, "ste_sign"), ("ste_sign", None),
]
LAYER_CASES = [  # ours, Gluon twin, args, input shape
    (QConv1D, gluon.nn.Conv1D, dict(channels=5, kernel_size=3, strides=2, padding=1, in_channels=4), (2, 4, 9)),
    (QConv2D, gluon.nn.Conv2D, dict(channels=6, kernel_size=3, padding=1, groups=2, in_channels=4), (2, 4, 6, 7)),
    (QConv3D, gluon.nn.Conv3D, dict(channels=3, kernel_size=(1, 3, 3), padding=(0, 1, 1), in_channels=2),
     (1, 2, 3, 5, 5)),
    (QDense, gluon.nn.Dense, dict(units=7, in_units=20), (3, 20)),
]


@pytest.mark.parametrize("input_q, kernel_q", QUANTIZER_CASES, ids=lambda c: str(c))
@pytest.mark.parametrize("ours, twin, args, shape", LAYER_CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_quantized_layer_equals_gluon_layer_fed_quantized_input_and_weights(ours, twin, args, shape, input_q,
                                                                            kernel_q, rng):
    layer = ours(input_quantizer=input_q, kernel_quantizer=kernel_q, kernel_constraint="weight_clip", **args)
    layer._test_input_shape = shape
    w = _set_weights(layer, rng, 0.5)
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[:3] = 0.0
    iq, kq = quantizers.get(input_q), quantizers.get(kernel_q)
    xq = iq(mx.nd, mx.nd.array(x)).asnumpy() if iq else x
    wq = kq(mx.nd, mx.nd.array(w)).asnumpy() if kq else w
    padding = args.get("padding", 0)
    ref_args = dict(args, padding=0) if "padding" in args else args
    ref = twin(use_bias=False, **ref_args)
    ref.initialize()
    if padding:
        pads = (padding,) * (len(shape) - 2) if isinstance(padding, int) else padding
        xq = np.pad(xq, ((0, 0), (0, 0)) + tuple((p, p) for p in pads), constant_values=layer.pad_value)
    ref(mx.nd.array(xq))
    ref.weight.set_data(mx.nd.array(wq))
    np.testing.assert_allclose(layer(mx.nd.array(x)).asnumpy(), ref(mx.nd.array(xq)).asnumpy(), rtol=1e-5,
                               atol=1e-5)


def test_default_pad_value_is_the_low_level_of_the_input_quantizer():
    assert QConv2D(4, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign").pad_value == -1.0
    assert QConv2D(4, 3, input_quantizer="ste_heaviside", kernel_quantizer="ste_sign").pad_value == 0.0
    assert QConv2D(4, 3, input_quantizer="dorefa", kernel_quantizer="ste_sign").pad_value == 0.0
    assert QConv2D(4, 3, kernel_quantizer="ste_sign").pad_value == -1.0
    assert QConv2D(4, 3, input_quantizer="ste_sign", pad_value=0.5).pad_value == 0.5


def test_shorthands_resolve_to_quantizers():
    assert QConv2D(4, 3).kernel_quantizer == quantizers.SteSign(clip_value=None)
    assert QConv2D(4, 3, bits=2).kernel_quantizer == quantizers.DoReFa(2, "weights")
    assert QConv2D(4, 3, bits=32).kernel_quantizer is None
    assert QConv2D(4, 3, scaling="xnor").kernel_quantizer == quantizers.MagnitudeAwareSign(clip_value=None)
    assert QDense(4, kernel_quantizer="magnitude_aware_sign").scaling == "xnor"
    with binary_layer_config(bits=2, scaling="none"):
        assert QConv2D(4, 3, kernel_quantizer="ste_sign").bits == 1  # config shorthands skip Larq-style layers
    act = QActivation(gradient_cancel_threshold=0.3)
    assert act.quantizer == quantizers.SteSign(clip_value=None) and act.threshold == 0.3
    assert QActivation(method="approx_sign").quantizer == quantizers.ApproxSign()
    assert QActivation(bits=4).quantizer == quantizers.DoReFa(4, "activations")
    explicit = QActivation(quantizer={"name": "swish_sign", "beta": 2.0})
    assert (explicit.bits, explicit.method, explicit.threshold) == (1, "swish_sign", None)


def test_binary_kernel_with_clipping_and_no_constraint_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="bmxnet_ext"):
        QConv2D(4, 3, kernel_quantizer="ste_sign")
    assert "kernel_constraint" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bmxnet_ext"):
        QConv2D(4, 3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
        QConv2D(4, 3)  # shorthand: no clipping in the weight STE, so no weight can starve
    assert caplog.text == ""


def test_weight_clip_constraint_is_stored_and_applied_after_an_update(rng):
    conv = QConv2D(4, 3, in_channels=2, kernel_quantizer="ste_sign",
                   kernel_constraint={"name": "weight_clip", "clip_value": 0.5})
    dense = QDense(3, in_units=5)
    for layer in (conv, dense):
        layer.initialize(mx.init.Normal(2.0))
    assert conv.weight.constraint == constraints.WeightClip(0.5) and dense.weight.constraint is None
    before = dense.weight.data().asnumpy()
    params = {**conv.collect_params(), **dense.collect_params()}
    assert apply_constraints(params) == 1
    w = conv.weight.data().asnumpy()
    assert np.abs(w).max() == np.float32(0.5) and (np.abs(w) == 0.5).any()
    np.testing.assert_array_equal(dense.weight.data().asnumpy(), before)


@pytest.mark.parametrize("make, value", [
    (lambda: QActivation(gradient_cancel_threshold=-0.5), "-0.5"),
    (lambda: QConv2D(4, 3, padding=-1), "-1"),
    (lambda: QConv2D(4, 0), "0"),
    (lambda: QConv2D(4, 3, strides=(1, 0)), r"\(1, 0\)"),
    (lambda: QConv2D(0, 3), "0"),
    (lambda: QConv2D(6, 3, groups=4), "groups"),
    (lambda: QConv2D(4, 3, pad_value=float("nan")), "nan"),
    (lambda: QConv2D(4, 3, bits=1, kernel_quantizer="ste_sign"), "bits=1"),
    (lambda: QConv2D(4, 3, kernel_quantizer="sgn"), "'sgn'"),
    (lambda: QConv2D(4, 3, kernel_constraint="clip"), "'clip'"),
    (lambda: QConv2D(4, 3, input_scaling="xnor"), "input_quantizer"),
    (lambda: QConv2D(4, 3, kernel_quantizer="ste_tern", scaling="xnor"), "1-bit"),
    (lambda: QDense(0), "units"),
    (lambda: QActivation(quantizer="ste_sign", bits=1), "quantizer"),
    (lambda: QDepthwiseConv2D(3), "in_channels"),
])
def test_bad_arguments_raise_value_error_naming_the_value(make, value):
    with pytest.raises(ValueError, match=value):
        make()


def test_depthwise_and_separable_convolutions_equal_grouped_float_convolutions(rng):
    sep = QSeparableConv2D(5, 3, padding=1, depth_multiplier=2, in_channels=3, input_quantizer="ste_sign",
                           depthwise_quantizer="ste_sign", pointwise_quantizer="ste_tern",
                           depthwise_constraint="weight_clip", pointwise_constraint="weight_clip")
    sep.initialize(mx.init.Normal(0.5))
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    y = sep(mx.nd.array(x)).asnumpy()
    assert sep.depthwise.weight.shape == (6, 1, 3, 3) and sep.pointwise.weight.shape == (5, 6, 1, 1)
    wd = sign(sep.depthwise.weight.data().asnumpy())
    wp = quantizers.SteTern()(mx.nd, sep.pointwise.weight.data()).asnumpy()
    depthwise = conv2d(sign(x), wd, groups=3, pad=(1, 1), pad_value=-1.0)
    np.testing.assert_allclose(y, conv2d(depthwise, wp), rtol=1e-5, atol=1e-5)
    assert sep.pointwise.input_quantizer is None and sep.pointwise.pad_value == 0.0


def test_input_quantizer_exports_as_a_tagged_activation_and_round_trips(tmp_path, rng):
    net = gluon.nn.HybridSequential()
    net.add(QConv2D(4, 3, padding=1, in_channels=3, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                    kernel_constraint="weight_clip", prefix="conv_"))
    net.initialize()
    x = mx.nd.array(rng.standard_normal((1, 3, 5, 5)))
    eager = net(x).asnumpy()
    net.hybridize()
    net(x)
    prefix = os.path.join(tmp_path, "larq")
    net.export(prefix)
    loaded = gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    np.testing.assert_array_equal(loaded(x).asnumpy(), eager)
    nodes = json.load(open(prefix + "-symbol.json"))["nodes"]
    tags = {n["attrs"][LAYER_ATTR]: json.loads(n["attrs"][CONFIG_ATTR]) for n in nodes
            if LAYER_ATTR in n.get("attrs", {})}
    assert tags["QActivation:conv_input"] == {"bits": 1, "method": "ste_sign", "threshold": None,
                                               "quantizer": {"name": "ste_sign", "clip_value": 1.0}}
    assert tags["QConv2D:conv"]["kernel_quantizer"] == {"name": "ste_sign", "clip_value": 1.0}


# ------------------------------------------------------------------------------------------ ReActNet, XNOR-Net++
def test_rsign_binarizes_around_a_learnt_per_channel_threshold(rng):
    block = RSign(3)
    block.initialize()
    beta = np.float32([0.5, -0.25, 0.0])
    block.threshold.set_data(mx.nd.array(beta))
    x = rng.uniform(-1.5, 1.5, (2, 3, 4, 4)).astype(np.float32)
    x[0, 0, 0, 0] = 0.5  # exactly at the threshold -> +1
    xs = mx.nd.array(x)
    xs.attach_grad()
    with autograd.record():
        y = block(xs)
    y.backward()
    shifted = x - beta.reshape(1, 3, 1, 1)
    np.testing.assert_array_equal(y.asnumpy(), sign(shifted))
    slope = np.where(np.abs(shifted) < 1, 2 - 2 * np.abs(shifted), 0)
    np.testing.assert_allclose(xs.grad.asnumpy(), slope, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(block.threshold.grad().asnumpy(), -slope.sum(axis=(0, 2, 3)), rtol=1e-5)


def test_rprelu_is_a_shifted_prelu_per_channel(rng):
    block = RPReLU(3, ndim=2)
    block.initialize()
    gamma, beta, zeta = np.float32([0.1, -0.2, 0.0]), np.float32([0.25, 0.5, -1.0]), np.float32([1.0, 0.0, -2.0])
    for param, value in ((block.gamma, gamma), (block.beta, beta), (block.zeta, zeta)):
        param.set_data(mx.nd.array(value))
    x = rng.standard_normal((4, 3)).astype(np.float32)
    s = x - gamma
    np.testing.assert_allclose(block(mx.nd.array(x)).asnumpy(), np.where(s > 0, s, beta * s) + zeta, rtol=1e-6)


@pytest.mark.parametrize("spatial", [None, (4, 5)])
def test_trainable_scale_multiplies_by_its_factors_and_learns_them(spatial, rng):
    block = TrainableScale(3, spatial=spatial)
    block.initialize()
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    xs = mx.nd.array(x)
    with autograd.record():
        y = block(xs)
    y.backward()
    np.testing.assert_array_equal(y.asnumpy(), x)  # all factors start at 1
    np.testing.assert_allclose(block.alpha.grad().asnumpy().ravel(), x.sum(axis=(0, 2, 3)), rtol=1e-5)
    if spatial:
        np.testing.assert_allclose(block.gamma.grad().asnumpy().ravel(), x.sum(axis=(0, 1, 2)), rtol=1e-5)


@pytest.mark.parametrize("stride, pad, dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 0, 1)])
def test_xnor_net_k_map_scales_the_binary_convolution(stride, pad, dilation, rng):
    r"""XNOR-Net in full: :math:`y = (\mathrm{sign}(x) \circledast \mathrm{sign}(W)) \odot K \alpha`, with
    :math:`K = A * k`, :math:`A = \mathrm{mean}_c |x|` (zero padded), :math:`k` the 3x3 box filter of weight 1/9,
    :math:`\alpha_o = \mathrm{mean}|W_o|`; :math:`K` and :math:`\alpha` are constants to the gradient."""
    conv = QConv2D(4, 3, stride, pad, dilation, in_channels=3, input_quantizer="ste_sign",
                   kernel_quantizer="magnitude_aware_sign", kernel_constraint="weight_clip", input_scaling="xnor")
    conv.initialize(mx.init.Normal(0.5))
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    xs = mx.nd.array(x)
    xs.attach_grad()
    with autograd.record():
        y = conv(xs)
    head = rng.standard_normal(y.shape)
    y.backward(mx.nd.array(head))
    w = conv.weight.data().asnumpy()
    alpha = np.abs(w).reshape(4, -1).mean(axis=1).reshape(1, 4, 1, 1)
    s, p, d = (stride,) * 2, (pad,) * 2, (dilation,) * 2
    k_map = conv2d(np.abs(x).mean(axis=1, keepdims=True), np.full((1, 1, 3, 3), 1 / 9), s, p, d)
    expected = conv2d(sign(x), sign(w), s, p, d, pad_value=-1.0) * alpha * k_map
    np.testing.assert_allclose(y.asnumpy(), expected, rtol=1e-5, atol=1e-5)
    # gradient w.r.t. the input: that of the binary conv scaled by the constant alpha K, clipped at |x| <= 1
    ws = mx.nd.array(sign(w))
    xp = mx.nd.array(np.pad(sign(x), ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-1))
    xp.attach_grad()
    with autograd.record():
        ref = mx.nd.Convolution(xp, ws, kernel=(3, 3), stride=s, dilate=d, num_filter=4, no_bias=True)
    ref.backward(mx.nd.array(head * alpha * k_map))
    inner = xp.grad.asnumpy()[:, :, pad:pad + 8, pad:pad + 9]
    np.testing.assert_allclose(xs.grad.asnumpy(), inner * (np.abs(x) <= 1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make, shape", [
    (lambda: QConv1D(4, 3, padding=1, in_channels=3, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                     kernel_constraint="weight_clip"), (2, 3, 7)),
    (lambda: QConv3D(4, 3, padding=1, in_channels=2, input_quantizer="ste_heaviside", kernel_quantizer="ste_sign",
                     kernel_constraint="weight_clip"), (1, 2, 4, 5, 5)),
    (lambda: QSeparableConv2D(6, 3, padding=1, in_channels=3, input_quantizer="ste_sign",
                              depthwise_quantizer="magnitude_aware_sign", pointwise_quantizer="ste_tern"),
     (2, 3, 6, 6)),
    (lambda: QConv2D(4, 3, 2, 1, input_quantizer="ste_sign", kernel_quantizer="magnitude_aware_sign",
                     kernel_constraint="weight_clip", input_scaling="xnor"), (2, 3, 7, 7)),
    (lambda: RSign(3), (2, 3, 4, 4)), (lambda: RPReLU(3), (2, 3, 4, 4)),
    (lambda: TrainableScale(3, spatial=(4, 4)), (2, 3, 4, 4)),
])
def test_new_blocks_hybridize_to_the_same_values(make, shape, rng):
    block = make()
    block.initialize(mx.init.Normal(0.5))
    x = mx.nd.array(rng.standard_normal(shape))
    eager = block(x).asnumpy()
    block.hybridize()
    np.testing.assert_array_equal(block(x).asnumpy(), eager)
