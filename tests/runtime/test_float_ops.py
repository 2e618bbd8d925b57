"""Each full-precision operator of the runtime against the real MXNet operator on the same graph."""
import json

import mxnet as mx
import numpy as np
import pytest

from bmx_graphs import Graph

from bmxnet_ext import bmx_format


def _single(op, shape, params=(), rng=None, **attrs):
    g = Graph()
    x = g.input("data", shape)
    ins = [x] + [g.param(f"p{i}", p) for i, p in enumerate(params)]
    g.op(op, "node", ins, **attrs)
    return g


@pytest.mark.parametrize("kernel,stride,pad,dilate,groups,no_bias,shape,filters", [
    ((7, 7), (2, 2), (3, 3), (1, 1), 1, False, (1, 3, 37, 41), 20),   # the stem of the zoo models
    ((3, 3), (1, 1), (1, 1), (1, 1), 1, True, (2, 5, 9, 8), 7),
    ((1, 1), (1, 1), (0, 0), (1, 1), 1, False, (1, 16, 6, 6), 13),
    ((3, 3), (2, 1), (0, 2), (2, 1), 2, False, (1, 6, 11, 10), 4),
    # wide enough for whole interior column blocks, read from the image's column phases (stride_w > 1)
    ((7, 7), (2, 2), (3, 3), (1, 1), 1, False, (1, 3, 40, 100), 9),
    ((3, 5), (1, 3), (1, 2), (2, 2), 2, False, (2, 4, 12, 130), 6),
])
def test_convolution(run_graph, rng, kernel, stride, pad, dilate, groups, no_bias, shape, filters):
    w = rng.standard_normal((filters, shape[1] // groups) + kernel).astype(np.float32)
    params = [w] if no_bias else [w, rng.standard_normal(filters).astype(np.float32)]
    g = _single("Convolution", shape, params, kernel=kernel, stride=stride, pad=pad, dilate=dilate,
                num_filter=filters, num_group=groups, no_bias=no_bias)
    x = rng.standard_normal(shape).astype(np.float32)
    (out,), (ref,) = run_graph(g, {"data": x}, threads=2)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("flatten,shape", [(True, (3, 4, 5)), (False, (2, 3, 6)), (True, (1, 700))])
def test_fully_connected(run_graph, rng, flatten, shape):
    k = int(np.prod(shape[1:])) if flatten else shape[-1]
    params = [rng.standard_normal((9, k)).astype(np.float32), rng.standard_normal(9).astype(np.float32)]
    g = _single("FullyConnected", shape, params, num_hidden=9, flatten=flatten)
    (out,), (ref,) = run_graph(g, {"data": rng.standard_normal(shape).astype(np.float32)})
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fix_gamma", [True, False])
def test_batch_norm(run_graph, rng, fix_gamma):
    c = 5
    params = [rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(c), rng.uniform(0.5, 2, c)]
    g = _single("BatchNorm", (2, c, 4, 3), [p.astype(np.float32) for p in params], eps=1e-5, fix_gamma=fix_gamma)
    (out,), (ref,) = run_graph(g, {"data": rng.standard_normal((2, c, 4, 3)).astype(np.float32)})
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def _bn_params(rng, c):
    """gamma, beta, mean, var with gamma far from 1 (fix_gamma matters) and var near 0 (eps matters)."""
    return [rng.uniform(1.5, 3.0, c), rng.standard_normal(c), rng.standard_normal(c), rng.uniform(1e-4, 1e-2, c)]


# (op, input shape, parameter shapes or a function of rng building the parameters, the attributes MXNet writes)
_DEFAULTS_CASES = {
    "batch_norm": ("BatchNorm", (2, 5, 4, 3), lambda rng: _bn_params(rng, 5), {}),  # eps 1e-3, fix_gamma
    "batch_norm_eps": ("BatchNorm", (2, 5, 4, 3), lambda rng: _bn_params(rng, 5), {"fix_gamma": False}),
    "convolution": ("Convolution", (1, 4, 7, 6), [(5, 4, 3, 3), (5,)], {"kernel": (3, 3), "num_filter": 5}),
    "fully_connected": ("FullyConnected", (2, 3, 4, 5), [(6, 60), (6,)], {"num_hidden": 6}),
    "pooling": ("Pooling", (1, 2, 7, 6), [], {"kernel": (3, 3)}),  # max, stride 1, pad 0
    "pooling_avg": ("Pooling", (1, 2, 8, 8), [],  # 'valid' convention, padding counted
                    {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg"}),
    "global_pooling": ("Pooling", (2, 3, 5, 4), [], {"global_pool": True, "pool_type": "avg"}),
    "softmax": ("softmax", (2, 3, 4, 5), [], {}),  # axis -1, temperature 1
    "pad": ("Pad", (1, 2, 3, 4), [], {"mode": "constant", "pad_width": (0, 0, 0, 0, 1, 2, 2, 1)}),
    "concat": ("Concat", (2, 3, 4, 5), [(2, 3, 4, 5)], {"num_args": 2}),  # dim 1
}


@pytest.mark.parametrize("case", list(_DEFAULTS_CASES))
def test_attributes_left_at_mxnet_defaults(run_graph, rng, case):
    """MXNet's symbol JSON omits every attribute at its default (checked on the real ``mx.sym`` export of the
    same node), so the writer must fill in MXNet's own defaults: the runtime's output on a node written with
    only the non-default attributes matches the MXNet operator called with the same attributes."""
    op, shape, params, attrs = _DEFAULTS_CASES[case]
    params = params(rng) if callable(params) else [rng.standard_normal(p) for p in params]
    params = [np.asarray(p, np.float32) for p in params]
    symbol = getattr(mx.sym, op)(mx.sym.var("data"), *[mx.sym.var(f"p{i}") for i in range(len(params))],
                                 name="node", **attrs)
    exported = next(n for n in json.loads(symbol.tojson())["nodes"] if n["name"] == "node")
    assert set(exported.get("attrs", {})) == set(attrs)
    g = _single(op, shape, params, **attrs)
    (out,), (ref,) = run_graph(g, {"data": rng.standard_normal(shape).astype(np.float32)})
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op,attrs", [
    ("Activation", {"act_type": "relu"}), ("Activation", {"act_type": "tanh"}),
    ("Activation", {"act_type": "sigmoid"}), ("Activation", {"act_type": "softrelu"}),
    ("relu", {}), ("clip", {"a_min": -0.5, "a_max": 0.25}), ("round", {}), ("sign", {}),
    ("_mul_scalar", {"scalar": 3.5}), ("_div_scalar", {"scalar": 3.0}), ("_plus_scalar", {"scalar": -1.5}),
    ("_minus_scalar", {"scalar": 2.0}), ("_greater_equal_scalar", {"scalar": 0.5}),
    ("Pad", {"mode": "constant", "pad_width": (0, 0, 0, 0, 1, 2, 3, 0), "constant_value": 1.0}), ("Flatten", {}), ("softmax", {"axis": 1}), ("softmax", {"axis": -1}),
    ("softmax", {"axis": 1, "temperature": 2.0}), ("softmax", {"temperature": 0.5}),
])
def test_unary(run_graph, rng, op, attrs):
    x = (rng.standard_normal((2, 3, 4, 5)) * 3).astype(np.float32)
    x[0, 0, 0, :2] = [0.5, -2.5]  # round half away from zero
    (out,), (ref,) = run_graph(_single(op, x.shape, **attrs), {"data": x})
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pool_type,kernel,stride,pad,convention,include_pad,shape", [
    ("max", (3, 3), (2, 2), (1, 1), "valid", True, (1, 4, 12, 11)),   # the stem's max pooling
    ("max", (3, 3), (2, 2), (0, 0), "full", True, (1, 3, 8, 8)),
    ("avg", (2, 2), (2, 2), (0, 0), "valid", True, (2, 3, 8, 7)),    # DenseNet transitions
    ("avg", (3, 3), (2, 2), (1, 1), "valid", True, (1, 2, 7, 7)),
    ("avg", (3, 3), (2, 2), (1, 1), "valid", False, (1, 2, 7, 7)),
    ("avg", (3, 3), (2, 2), (1, 1), "full", True, (1, 2, 8, 8)),
    ("sum", (2, 3), (1, 2), (1, 0), "valid", True, (1, 2, 5, 7)),
    ("max", (3, 3), (1, 1), (1, 1), "valid", True, (1, 2, 5, 2)),     # window wider than the image
    ("avg", (3, 3), (1, 1), (1, 1), "full", False, (1, 2, 2, 2)),
    ("max", (5, 4), (3, 3), (2, 1), "valid", True, (1, 2, 13, 14)),   # windows of more than 3 rows / columns
    ("avg", (4, 5), (3, 1), (1, 2), "full", False, (1, 2, 11, 12)),
])
def test_pooling(run_graph, rng, pool_type, kernel, stride, pad, convention, include_pad, shape):
    g = _single("Pooling", shape, pool_type=pool_type, kernel=kernel, stride=stride, pad=pad,
                pooling_convention=convention, count_include_pad=include_pad)
    (out,), (ref,) = run_graph(g, {"data": rng.standard_normal(shape).astype(np.float32)})
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pool_type", ["max", "avg"])
def test_global_pooling(run_graph, rng, pool_type):
    g = _single("Pooling", (2, 6, 7, 5), pool_type=pool_type, global_pool=True, kernel=(1, 1))
    (out,), (ref,) = run_graph(g, {"data": rng.standard_normal((2, 6, 7, 5)).astype(np.float32)})
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dim", [1, 2, -1])
def test_concat(run_graph, rng, dim):
    g = Graph()
    a, b = g.input("a", (2, 3, 4, 5)), g.input("b", (2, 3, 4, 5))
    g.op("Concat", "cat", [a, b, a], dim=dim, num_args=3)
    inputs = {"a": rng.standard_normal((2, 3, 4, 5)).astype(np.float32),
              "b": rng.standard_normal((2, 3, 4, 5)).astype(np.float32)}
    (out,), (ref,) = run_graph(g, inputs)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("op, shape_a, shape_b", [
    ("elemwise_add", (2, 3, 4, 5), (2, 3, 4, 5)), ("broadcast_add", (2, 3, 4, 5), (1, 3, 1, 5)),
    ("broadcast_add", (2, 3, 4, 5), (5,)), ("broadcast_add", (2, 3, 4, 5), (1, 3, 1, 1)),
    ("broadcast_add", (1, 3, 1, 1), (2, 3, 4, 5)), ("broadcast_add", (2, 1, 4, 1), (1, 3, 1, 5)),
    ("broadcast_add", (2, 3, 1, 5), (2, 1, 4, 1)), ("broadcast_add", (1,), (2, 3, 4, 5)),
    ("broadcast_add", (3, 1, 1), (2, 3, 4, 5)), ("broadcast_add", (1, 1, 1, 1), (1, 1, 1, 1)),
])
def test_add(run_graph, rng, op, shape_a, shape_b):
    """Every broadcast pattern of the runtime's row loop: either side, both sides, leading dims, scalars."""
    g = Graph()
    a, b = g.input("a", shape_a), g.input("b", shape_b)
    g.op(op, "add", [a, b])
    inputs = {"a": rng.standard_normal(shape_a).astype(np.float32),
              "b": rng.standard_normal(shape_b).astype(np.float32)}
    (out,), (ref,) = run_graph(g, inputs)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("head, attrs, label_shape", [
    ("SoftmaxOutput", {}, (2, 3, 4)), ("SoftmaxOutput", {"preserve_shape": True}, (2, 3, 4)),
    ("SoftmaxOutput", {"multi_output": True}, (2, 4, 5)), ("Softmax", {}, (2, 3, 4)),
    ("SoftmaxActivation", {}, None), ("SoftmaxActivation", {"mode": "channel"}, None),
])
def test_softmax_heads_take_the_axis_mxnet_takes(runtime, tmp_path, rng, head, attrs, label_shape):
    """At inference the training heads are a plain softmax: over the last axis, or over axis 1 with
    ``multi_output=True`` / ``mode='channel'``. On a 4-D input these differ; the label input is dropped."""
    symbol = getattr(mx.sym, head)(mx.sym.var("data"), name="head", **attrs)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    path = tmp_path / "head.bmx"
    bmx_format.write_bmx(str(path), symbol.tojson(), {}, {"data": x.shape})
    with runtime.Model(str(path)) as model:
        out = model.run(x)
    args = {"data": mx.nd.array(x)}
    if label_shape is not None:
        args["head_label"] = mx.nd.zeros(label_shape)
    ref = symbol.bind(mx.cpu(), args).forward()[0].asnumpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
