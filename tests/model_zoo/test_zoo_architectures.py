"""Every zoo model: exact parameter counts, output shapes, full-precision first/last layers, bits=32 twins."""
import json

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from bmxnet_ext import QActivation, QConv2D, QDense, summary
from bmxnet_ext.layers import LAYER_ATTR
from model_zoo import default_input_shape, densenet, get_model, list_models, resnet

# Weights + biases + BatchNorm gamma/beta (running statistics excluded). DESIGN.md section 4 for the paper's
# models; docs/model_zoo.md for the others.
PARAMS = {
    "lenet": 1_140_330,
    "resnet18": 11_691_950,
    "resnet34_thin": 21_800_110,
    "resnet34_wide": 86_032_302,
    "resnet68_wide": 166_283_182,
    "resnet26_bottleneck": 15_987_630,
    "resnet18_cifar": 11_176_272,
    "densenet13": 13_164_014,
    "densenet21": 9_726_190,
    "densenet37": 8_160_878,
    "densenet69": 7_427_374,
    "densenet21_k140": 11_498_086,
    "densenet45": 65_251_886,
    "densenet21_cifar": 13_154_896,
    "alexnet": 50_853_672,
    "inception_bn": 11_286_408,
    "resnet_e18": 11_689_640,
    "resnet_e34": 21_797_800,
    "binary_densenet28": 5_131_496,
    "binary_densenet37": 8_702_248,
    "binary_densenet45": 13_889_512,
    "meliusnet22": 6_944_584,
    "meliusnet29": 11_328_328,
    # Larq Zoo's models and ReActNet-A: tests/model_zoo/test_zoo_larq.py has their sources and splits.
    "birealnet18": 11_689_512,
    "binary_alexnet": 61_848_720,
    "xnornet": 62_387_104,
    "dorefanet": 62_394_440,
    "quicknet": 10_511_232,
    "quicknet_large": 11_819_136,
    "quicknet_xl": 22_058_368,
    "real_to_binary_net": 11_986_920,
    "binary_densenet37_dilated": 8_702_248,
    "reactnet_a": 29_343_592,
}

# Larq Zoo's published "Parameters" (its docs), which count BatchNorm running statistics too, except for
# MeliusNet22, whose figure equals our convention.
LARQ_PUBLISHED_WITH_STATE = {
    "resnet_e18": 11_699_368,
    "binary_densenet28": 5_150_504,
    "binary_densenet37": 8_734_120,
    "binary_densenet45": 13_939_240,
}

HUGE = {"resnet34_wide", "resnet68_wide", "densenet45", "alexnet", "binary_alexnet", "xnornet", "dorefanet"}
"""Only traced symbolically in these tests (tens of millions of weights to allocate; the AlexNets of Larq Zoo
also need 224x224 input)."""

BINARY_FIRST_AND_LAST = {"binary_alexnet"}
"""Larq Zoo's Binary AlexNet binarizes the weights of its first and last layer too (its reference does)."""

SMALL_INPUT = {"lenet": (2, 1, 28, 28), "resnet18_cifar": (2, 3, 32, 32), "densenet21_cifar": (2, 3, 32, 32),
               "inception_bn": (1, 3, 224, 224)}
"""Real forward passes use these inputs (default: 64x64 ImageNet-style images)."""


def count(net, state=False):
    """Parameters from their shapes, known at construction (every zoo layer states its input size)."""
    total = 0
    for name, param in net.collect_params().items():
        assert param.shape is not None and 0 not in param.shape, f"{name} has a deferred shape {param.shape}"
        if state or not name.endswith(("running_mean", "running_var")):
            total += int(np.prod(param.shape))
    return total


def test_every_registered_model_has_an_expected_count():
    assert list_models() == sorted(PARAMS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_count_is_exact_and_the_fp_twin_has_the_same(name):
    assert count(get_model(name)) == PARAMS[name]
    assert count(get_model(name, bits=32)) == PARAMS[name]


@pytest.mark.parametrize("name", sorted(LARQ_PUBLISHED_WITH_STATE))
def test_larq_published_counts_include_batchnorm_state(name):
    assert count(get_model(name), state=True) == LARQ_PUBLISHED_WITH_STATE[name]


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_output_shape_at_the_native_resolution(name):
    """Symbolic shape inference: allocates nothing, so even resnet68_wide is checked at 224x224."""
    net = get_model(name, classes=7)
    _, out_shapes, _ = net(mx.sym.var("data")).infer_shape(data=default_input_shape(name, batch=3))
    assert out_shapes == [(3, 7)]


@pytest.mark.parametrize("name", sorted(set(PARAMS) - HUGE))
@pytest.mark.parametrize("bits", [1, 32])
def test_forward_pass_runs_and_is_finite(name, bits):
    shape = SMALL_INPUT.get(name, (1, 3, 64, 64))
    net = get_model(name, bits=bits)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    out = net(mx.nd.array(np.random.default_rng(0).uniform(-1, 1, shape), dtype="float32")).asnumpy()
    assert out.shape == (shape[0], 10 if shape[1:] in [(1, 28, 28), (3, 32, 32)] else 1000)
    assert np.isfinite(out).all()


def test_k_bit_model_runs():
    net = get_model("resnet18_cifar", bits=2, bits_a=2)
    net.initialize()
    assert net(mx.nd.ones((1, 3, 32, 32))).shape == (1, 10)
    assert summary(net, (1, 3, 32, 32), print_fn=None).params_by_bits[2] > 0


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_first_and_last_layers_are_full_precision(name):
    layers = [layer for layer in summary(get_model(name), print_fn=None).layers if layer.weight_bits is not None]
    end_bits = 1 if name in BINARY_FIRST_AND_LAST else 32
    assert layers[0].weight_bits == end_bits and layers[-1].weight_bits == end_bits
    assert any(layer.weight_bits == 1 for layer in layers)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_full_precision_twin_has_no_quantized_layer(name):
    net = get_model(name, bits=32)
    blocks = []
    net.apply(blocks.append)
    assert not any(isinstance(b, QActivation) for b in blocks)
    assert all(b.bits == 32 for b in blocks if isinstance(b, (QConv2D, QDense)))


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_no_relu_feeds_a_sign(name):
    """sign(relu(x)) is +1 everywhere (0 maps to +1): a ReLU in front of a binary activation kills it."""
    graph = json.loads(get_model(name)(mx.sym.var("data")).tojson())
    nodes = graph["nodes"]

    def is_sign(node):
        return node.get("attrs", {}).get(LAYER_ATTR, "").startswith("QActivation:")

    for node in nodes:
        if not is_sign(node):
            continue
        for index, *_ in node["inputs"]:
            source = nodes[index]
            if not is_sign(source):
                assert not (source["op"] == "Activation" and source["attrs"]["act_type"] == "relu"), \
                    f"{source['name']} (ReLU) feeds {node['name']}"


def test_generic_constructors_cover_the_papers_study():
    assert count(resnet([2, 2, 2, 2], (64, 64, 128, 256, 512))) == PARAMS["resnet18"]
    # DenseNet with growth k and b blocks per unit: the formula of DESIGN.md section 4.
    k, b = 96, 3
    expected, channels = 6 + 3 * 49 * 2 * k + 4 * k, 2 * k
    for unit in range(4):
        for _ in range(b):
            expected += 2 * channels + 9 * channels * k
            channels += k
        if unit < 3:
            expected += 2 * channels + channels * channels
    expected += 2 * channels + channels * 1000 + 1000
    assert count(densenet(k, b)) == expected
    with pytest.raises(ValueError, match="len\\(units\\) \\+ 1"):
        resnet([2, 2], (64, 64))


def test_unknown_name_lists_the_valid_names_sorted():
    with pytest.raises(ValueError) as info:
        get_model("resnet19")
    assert str(list_models()) in str(info.value) and "'resnet19'" in str(info.value)
    assert isinstance(get_model("ResNet18"), nn.HybridBlock)


def test_bits_a_follows_bits_unless_given():
    blocks = []
    get_model("lenet", bits=32, bits_a=1).apply(blocks.append)
    assert any(isinstance(b, QActivation) and b.bits == 1 for b in blocks)
    assert all(b.bits == 32 for b in blocks if isinstance(b, (QConv2D, QDense)))
