"""What single zoo blocks compute, against NumPy references built from their documented math.

Each block gets random weights and random BatchNorm statistics (inference mode, so BN is the affine map
``gamma (x - mean) / sqrt(var + eps) + beta``) and a small random input; its output must equal the formula in
its module docstring, evaluated here without MXNet:

- ResNet-E:     ``BN(QConv3x3(sign x)) + shortcut(x)``, shortcut = ``x`` or ``BN(conv1x1(avgpool2x2(x)))``
- DenseNet:     ``concat(x, QConv3x3(sign(BN x)))``; transition ``avgpool2x2(QConv1x1(sign(BN x)))``
- BinaryDenseNet / MeliusNet transition: ``conv1x1(relu(maxpool2x2(BN x)))``
- MeliusNet:    improvement ``x + pad(QConv3x3(sign(BN x)))`` (added to the last ``channels`` channels only)

1-bit convolutions use ``sign(W)`` (zero maps to +1) and pad with -1.
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from model_zoo.binary_densenet import fp_transition
from model_zoo.common import BN_EPSILON
from model_zoo.densenet import DenseBlock, transition
from model_zoo.meliusnet import ImprovementBlock
from model_zoo.resnet_e import ResNetEBlock
from float_reference import conv2d, sign


def randomize(block, rng):
    """Random weights and BN parameters/statistics for every parameter of ``block`` (none left at its init)."""
    block.initialize()
    for name, param in block.collect_params().items():
        if name.endswith(("gamma", "running_var")):
            value = rng.uniform(0.5, 2.0, param.shape)
        else:  # weights, beta, running_mean
            value = rng.standard_normal(param.shape)
        param.set_data(mx.nd.array(value))


def value(param):
    return param.data().asnumpy().astype(np.float64)


def bn(x, layer):
    """Inference-mode BatchNorm over axis 1 with the layer's parameters (a fixed gamma counts as 1)."""
    shape = (1, -1, 1, 1)
    gamma = 1.0 if layer._kwargs["fix_gamma"] else value(layer.gamma).reshape(shape)
    mean, var = value(layer.running_mean).reshape(shape), value(layer.running_var).reshape(shape)
    return gamma * (x - mean) / np.sqrt(var + BN_EPSILON) + value(layer.beta).reshape(shape)


def binary_conv(x, layer, stride=1, pad=0):
    """A 1-bit QConv2D: conv of sign(x) with sign(W), padded with -1."""
    return conv2d(sign(x), sign(value(layer.weight)), (stride, stride), (pad, pad), pad_value=-1.0)


def pool2(x, reduce):
    n, c, h, w = x.shape
    return reduce(x.reshape(n, c, h // 2, 2, w // 2, 2), axis=(3, 5))


def run(block, x):
    """The block's output, imperative and hybridized (which must agree), as float64."""
    eager = block(mx.nd.array(x)).asnumpy()
    block.hybridize()
    np.testing.assert_allclose(block(mx.nd.array(x)).asnumpy(), eager, rtol=1e-6, atol=1e-6)
    return eager.astype(np.float64)


@pytest.mark.parametrize("channels, in_channels, stride", [(8, 8, 1), (12, 8, 2), (12, 8, 1)],
                         ids=["identity", "downsample_stride2", "downsample_widen"])
def test_resnet_e_block_adds_its_shortcut_to_one_binary_conv(channels, in_channels, stride, rng):
    """``y = BN(QConv3x3/stride(sign x)) + shortcut(x)``; the shortcut is ``x`` when the shape is kept, else
    the full-precision ``BN(conv1x1(avgpool2x2/2(x)))`` (no pooling at stride 1)."""
    block = ResNetEBlock(channels, in_channels, stride, bits=1, bits_a=1)
    randomize(block, rng)
    x = rng.standard_normal((2, in_channels, 6, 6))
    body = bn(binary_conv(x, block.conv, stride, pad=1), block.bn)
    if block.downsample is None:
        assert (channels, stride) == (in_channels, 1)
        shortcut = x
    else:
        pooled = pool2(x, np.mean) if stride == 2 else x
        shortcut = bn(conv2d(pooled, value(block.downsample[-2].weight)), block.downsample[-1])
    y = run(block, x)
    assert y.shape == (2, channels, 6 // stride, 6 // stride)
    np.testing.assert_allclose(y, body + shortcut, rtol=1e-5, atol=1e-4)


def test_dense_block_concatenates_its_input_and_a_binary_conv_of_it(rng):
    """``y = concat(x, QConv3x3_k(sign(BN x)))``: the first ``in_channels`` channels are ``x`` unchanged."""
    block = DenseBlock(4, 6, bits=1, bits_a=1)
    randomize(block, rng)
    x = rng.standard_normal((2, 6, 5, 5))
    y = run(block, x)
    assert y.shape == (2, 10, 5, 5)
    np.testing.assert_allclose(y[:, :6], x, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y[:, 6:], binary_conv(bn(x, block.bn), block.conv, pad=1), rtol=1e-5, atol=1e-4)


def test_densenet_transition_keeps_every_channel_and_halves_the_resolution(rng):
    """``y = avgpool2x2/2(QConv1x1_C(sign(BN x)))``, C channels in and out."""
    block = transition(6, bits=1, bits_a=1, prefix="transition_")
    randomize(block, rng)
    x = rng.standard_normal((2, 6, 6, 6))
    y = run(block, x)
    assert y.shape == (2, 6, 3, 3)
    np.testing.assert_allclose(y, pool2(binary_conv(bn(x, block[0]), block[2]), np.mean), rtol=1e-5, atol=1e-4)


def test_fp_transition_is_bn_maxpool_relu_conv1x1(rng):
    """BinaryDenseNet's and MeliusNet's transition: ``y = conv1x1(relu(maxpool2x2/2(BN x)))``, full precision."""
    block = fp_transition(8, 5, prefix="transition_")
    randomize(block, rng)
    x = rng.standard_normal((2, 8, 6, 6))
    y = run(block, x)
    expected = conv2d(np.maximum(pool2(bn(x, block[0]), np.max), 0), value(block[3].weight))
    assert y.shape == (2, 5, 3, 3)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("channels, in_channels", [(4, 10), (6, 6)], ids=["last_channels", "all_channels"])
def test_melius_improvement_block_adds_a_binary_conv_to_the_last_channels(channels, in_channels, rng):
    """``y = x + pad(QConv3x3_c(sign(BN x)))``: the first ``in_channels - c`` channels pass unchanged, the
    conv's ``c`` outputs are added to the last ``c`` (all of them when ``c == in_channels``)."""
    block = ImprovementBlock(channels, in_channels, bits=1, bits_a=1)
    randomize(block, rng)
    x = rng.standard_normal((2, in_channels, 5, 5))
    improvement = binary_conv(bn(x, block.bn), block.conv, pad=1)
    expected = x.copy()
    expected[:, in_channels - channels:] += improvement
    y = run(block, x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)


def test_melius_dense_then_improvement_matches_the_module_formula(rng):
    """One MeliusNet block as the model builds it: ``DenseBlock(g, C)`` then ``ImprovementBlock(g, C + g)``,
    i.e. ``d = concat(x, QConv(sign(BN x)))``, ``y = d + pad(QConv(sign(BN d)))`` on the new ``g`` channels."""
    dense, improve = DenseBlock(4, 6, 1, 1, prefix="dense_"), ImprovementBlock(4, 10, 1, 1, prefix="improve_")
    net = nn.HybridSequential()
    net.add(dense, improve)
    randomize(net, rng)
    x = rng.standard_normal((1, 6, 4, 4))
    d = np.concatenate([x, binary_conv(bn(x, dense.bn), dense.conv, pad=1)], axis=1)
    expected = d.copy()
    expected[:, 6:] += binary_conv(bn(d, improve.bn), improve.conv, pad=1)
    y = run(net, x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(y[:, :6], x, rtol=1e-6, atol=1e-6)
