"""Conversion of Larq-style layers: every two-valued quantizer packs and stays bit-exact on its binary layers
(ste_sign / approx_sign / swish_sign inputs, magnitude_aware_sign kernels, ste_heaviside inputs, RSign's
threshold, XNOR-Net's K map), RPReLU becomes standard operators, and ternary / k-bit / heaviside kernels stay
float operators with the reason in the report."""
import mxnet as mx
import pytest
from mxnet.gluon import nn

import bmxnet_ext as bx
from bmxnet_ext import ops
from tools.model_converter import ConversionError, convert_block

from test_convert import assert_converted_matches, initialized

pytestmark = pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")

CLIP = dict(kernel_constraint="weight_clip")


def qconv(channels, kernel=3, **kwargs):
    return bx.QConv2D(channels, kernel, padding=kernel // 2, **{**CLIP, **kwargs})


def sign_family_net():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(19, 3, padding=1), nn.BatchNorm(),
            qconv(33, input_quantizer="ste_sign", kernel_quantizer="ste_sign"), nn.BatchNorm(),
            qconv(70, input_quantizer="approx_sign", kernel_quantizer="magnitude_aware_sign", strides=2),
            nn.BatchNorm(),
            qconv(24, input_quantizer={"name": "swish_sign", "beta": 3.0}, kernel_quantizer="ste_sign", groups=2),
            nn.BatchNorm(), nn.Flatten(),
            bx.QDense(10, input_quantizer="ste_sign", kernel_quantizer="magnitude_aware_sign", **CLIP))
    return net


@pytest.mark.parametrize("exact", [False, True])
def test_sign_family_and_magnitude_aware_layers_pack(tmp_path, rng, exact):
    net = initialized(sign_family_net(), (2, 3, 12, 12), rng)
    report = assert_converted_matches(net, (2, 3, 12, 12), tmp_path, rng, exact=exact)
    assert [r.converted_as for r in report.layers] == ["binary"] * 4
    assert report.verification.binary_ops_checked == 4


def test_heaviside_inputs_pack_as_half_sign_plus_one(tmp_path, rng):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(16, 3, padding=1), nn.BatchNorm(),
            qconv(20, input_quantizer="ste_heaviside", kernel_quantizer="ste_sign"), nn.BatchNorm(),
            qconv(12, input_quantizer="ste_heaviside", kernel_quantizer="magnitude_aware_sign", strides=2),
            nn.BatchNorm(), nn.Flatten(),
            bx.QDense(5, input_quantizer="ste_heaviside", kernel_quantizer="ste_sign", **CLIP))
    initialized(net, (2, 3, 9, 9), rng)
    for exact in (False, True):
        (tmp_path / str(exact)).mkdir()
        report = assert_converted_matches(net, (2, 3, 9, 9), tmp_path / str(exact), rng, exact=exact)
        assert [r.converted_as for r in report.layers] == ["binary"] * 3
        assert report.verification.binary_ops_checked == 3


def test_rsign_thresholds_fold_into_the_preceding_affine(tmp_path, rng):
    """RSign after a BatchNorm (folds into BmxPack's affine), after a binary layer + BatchNorm (folds into its
    packed output) and after a plain convolution (an explicit shift before BmxPack)."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(16, 3, padding=1), nn.BatchNorm(), bx.RSign(16), qconv(24, kernel_quantizer="ste_sign"),
            nn.BatchNorm(), bx.RSign(24), qconv(8, kernel_quantizer="ste_sign"), nn.Conv2D(8, 1), bx.RSign(8),
            qconv(6, kernel_quantizer="magnitude_aware_sign"), nn.BatchNorm())
    initialized(net, (2, 3, 8, 8), rng)
    for block in net:
        if isinstance(block, bx.RSign):
            block.threshold.set_data(mx.nd.array(rng.normal(0, 0.5, block.threshold.shape)))
    for exact in (False, True):
        (tmp_path / str(exact)).mkdir()
        report = assert_converted_matches(net, (2, 3, 8, 8), tmp_path / str(exact), rng, exact=exact)
        assert [r.converted_as for r in report.layers] == ["binary"] * 3
    assert report.verification.binary_ops_checked == 3


def test_xnor_k_map_and_rprelu_convert(tmp_path, rng):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(16, 3, padding=1), nn.BatchNorm(),
            qconv(16, input_quantizer="ste_sign", kernel_quantizer="magnitude_aware_sign", input_scaling="xnor"),
            nn.BatchNorm(), bx.RPReLU(16),
            qconv(8, input_quantizer="ste_sign", kernel_quantizer="ste_sign", input_scaling="xnor", strides=2),
            bx.RPReLU(8), nn.Flatten(), nn.Dense(4))
    initialized(net, (2, 3, 10, 10), rng)
    for block in net:
        if isinstance(block, bx.RPReLU):
            for p in (block.gamma, block.beta, block.zeta):
                p.set_data(mx.nd.array(rng.normal(0, 0.5, p.shape)))
    report = assert_converted_matches(net, (2, 3, 10, 10), tmp_path, rng)
    assert [r.converted_as for r in report.layers] == ["binary", "binary"]
    assert report.verification.binary_ops_checked == 2
    symbol = open(f"{report.output_dir}/{report.files[0]}").read()
    assert '"LeakyReLU"' in symbol and '"abs"' in symbol and '"broadcast_mul"' in symbol


def test_non_binary_kernels_stay_float_with_the_reason(tmp_path, rng):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1), nn.BatchNorm(),
            qconv(8, input_quantizer="ste_sign", kernel_quantizer="ste_sign"), nn.BatchNorm(),
            qconv(8, input_quantizer="ste_sign", kernel_quantizer={"name": "ste_tern", "threshold_value": 0.1}),
            nn.BatchNorm(),
            qconv(8, input_quantizer="ste_sign", kernel_quantizer={"name": "dorefa", "k_bit": 2, "mode": "weights"}),
            nn.BatchNorm(), qconv(8, input_quantizer="ste_sign", kernel_quantizer="ste_heaviside"), nn.BatchNorm(),
            bx.QActivation(quantizer={"name": "dorefa", "k_bit": 2}), qconv(8, kernel_quantizer="ste_sign"))
    initialized(net, (1, 3, 6, 6), rng)
    report = assert_converted_matches(net, (1, 3, 6, 6), tmp_path, rng)
    assert [(r.converted_as, r.reason) for r in report.layers] == [
        ("binary", ""), ("float", "2-bit kernel (ste_tern)"), ("float", "2-bit kernel (dorefa)"),
        ("float", "kernel quantizer ste_heaviside is not a sign"), ("float", "pads with -1, not a level of its 2-bit input")]
    assert "(2-bit kernel (ste_tern))" in report.format()


@pytest.mark.parametrize("block, match", [
    (lambda: bx.QActivation(quantizer="ste_tern"), "ternary"),
    (lambda: bx.QActivation(quantizer=lambda F, x: F.sign(x)), "custom quantizer"),
    (lambda: qconv(4, input_quantizer="ste_sign", kernel_quantizer=lambda F, w: F.sign(w)), "custom kernel"),
    (lambda: qconv(4, input_quantizer="magnitude_aware_sign", kernel_quantizer="ste_sign"), "unknown 1-bit"),
])
def test_activations_and_kernels_the_converter_cannot_express_are_refused(tmp_path, rng, block, match):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1), nn.BatchNorm(), block(), qconv(4, kernel_quantizer="ste_sign"))
    initialized(net, (1, 3, 6, 6), rng)
    with pytest.raises(ConversionError, match=match):
        convert_block(net, output_dir=str(tmp_path / "out"), input_shape=(1, 3, 6, 6))


def test_depthwise_and_separable_convolutions_convert(tmp_path, rng):
    """A binary depthwise convolution is a grouped binary convolution (one group per channel); a separable
    convolution's pointwise layer reads the float depthwise output and stays float, saying so."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1), nn.BatchNorm(),
            bx.QDepthwiseConv2D(3, padding=1, depth_multiplier=2, in_channels=8, input_quantizer="ste_sign",
                                kernel_quantizer="ste_sign", **CLIP), nn.BatchNorm(),
            bx.QSeparableConv2D(6, 3, padding=1, in_channels=16, input_quantizer="ste_sign",
                                depthwise_quantizer="ste_sign", pointwise_quantizer="ste_sign",
                                depthwise_constraint="weight_clip", pointwise_constraint="weight_clip"))
    initialized(net, (2, 3, 7, 7), rng)
    report = assert_converted_matches(net, (2, 3, 7, 7), tmp_path, rng)
    assert [(r.converted_as, r.reason) for r in report.layers] == [
        ("binary", ""), ("binary", ""), ("float", "input is not a quantized activation")]
    assert report.verification.binary_ops_checked == 2
