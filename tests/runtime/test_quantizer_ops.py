"""The runtime's operators for converted Larq-style models (abs, broadcast_mul, LeakyReLU) against MXNet's,
and converted models with every packable quantizer, RSign, RPReLU and XNOR-Net's K map run on the runtime
like the same converted model inside MXNet."""
import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from bmx_graphs import Graph

import bmxnet_ext as bx


def test_abs(run_graph, rng):
    g = Graph()
    g.op("abs", "abs", [g.input("data", (2, 3, 4, 5))])
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    x[0, 0, 0, :2] = [0.0, -0.0]
    (out,), (ref,) = run_graph(g, {"data": x})
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("shape_b", [(2, 3, 4, 5), (1, 3, 1, 1), (2, 1, 4, 5), (5,)])
def test_broadcast_mul(run_graph, rng, shape_b):
    g = Graph()
    a, b = g.input("a", (2, 3, 4, 5)), g.input("b", shape_b)
    g.op("broadcast_mul", "mul", [a, b])
    inputs = {"a": rng.standard_normal((2, 3, 4, 5)).astype(np.float32),
              "b": rng.standard_normal(shape_b).astype(np.float32)}
    (out,), (ref,) = run_graph(g, inputs)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("shape, gamma", [((2, 3, 4, 5), 3), ((4, 6), 6), ((2, 3, 4, 5), 1)])
def test_leaky_relu_prelu_per_channel(run_graph, rng, shape, gamma):
    g = Graph()
    g.op("LeakyReLU", "prelu", [g.input("data", shape), g.param("gamma", rng.normal(0, 1, gamma).astype(np.float32))],
         act_type="prelu")
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[:2] = [0.0, -0.0]
    (out,), (ref,) = run_graph(g, {"data": x})
    np.testing.assert_array_equal(out, ref)


def test_leaky_relu_leaky(run_graph, rng):
    g = Graph()
    g.op("LeakyReLU", "leaky", [g.input("data", (2, 7))], act_type="leaky", slope=0.125)
    x = rng.standard_normal((2, 7)).astype(np.float32)
    (out,), (ref,) = run_graph(g, {"data": x})
    np.testing.assert_array_equal(out, ref)


def _larq_net(rng):
    clip = dict(kernel_constraint="weight_clip")
    net = nn.HybridSequential()
    net.add(nn.Conv2D(16, 3, padding=1), nn.BatchNorm(), bx.RSign(16),
            bx.QConv2D(24, 3, padding=1, kernel_quantizer="magnitude_aware_sign", **clip), nn.BatchNorm(),
            bx.RPReLU(24), nn.BatchNorm(),
            bx.QConv2D(20, 3, padding=1, input_quantizer="ste_heaviside", kernel_quantizer="ste_sign", **clip),
            nn.BatchNorm(),
            bx.QConv2D(16, 3, 2, 1, input_quantizer="ste_sign", kernel_quantizer="magnitude_aware_sign",
                       input_scaling="xnor", **clip),
            nn.BatchNorm(), bx.RPReLU(16), nn.Flatten(),
            bx.QDense(10, input_quantizer="approx_sign", kernel_quantizer="ste_sign", **clip))
    net.initialize(mx.init.Xavier(magnitude=2))
    net(mx.nd.zeros((1, 3, 12, 12)))
    for name, param in net.collect_params().items():
        if name.endswith(("threshold", "gamma", "zeta", "beta", "running_mean")):
            param.set_data(mx.nd.array(rng.normal(0.0, 0.5, param.shape)))
        elif name.endswith("running_var"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 2.0, param.shape)))
    return net


@pytest.mark.slow
def test_converted_larq_style_model_runs_like_mxnet(runtime, tmp_path, rng):
    from test_converted_models import _compare, _convert_both
    from tools.model_converter import convert_block

    block = _larq_net(rng)
    net, model = _convert_both(tmp_path, convert_block, block, input_shape=(1, 3, 12, 12))
    with model:
        for _ in range(3):
            x = rng.standard_normal((1, 3, 12, 12)).astype(np.float32)
            _compare(net, model, x)
            np.testing.assert_allclose(net(mx.nd.array(x)).asnumpy(), block(mx.nd.array(x)).asnumpy(),
                                       rtol=1e-3, atol=1e-3)
