"""k-bit (DoReFa) inputs of 1-bit layers convert as binary planes (``tools/model_converter/rewrite.py``).

A 2..4-bit activation ``n / L`` (``n = round(fl(L clip(x, 0, 1)))``, ``L = 2^k - 1``) is the sum of ``L``
planes ``[n >= t]``; ``BmxPack`` takes plane ``t`` with the affine ``L x - (t - 1/2)``. These tests check that
decomposition against NumPy on every kind of tie, then whole conversions (MXNet format and the standalone
runtime) against the original model.
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

import bmxnet_ext as bx
from bmxnet_ext import ops, quantizers
from tools.model_converter import ConversionError, VerificationError, convert_block
from tools.model_converter import rewrite as rewrite_module
from tools.model_converter.rewrite import MAX_PLANE_BITS, plane_affine

from test_convert import initialized, load_converted

pytestmark = pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")


def tricky_inputs(levels, rng):
    """float32 values around every rounding tie of ``fl(levels * x) = t - 1/2`` (the tie itself, 4 floats on
    each side), 0, -0.0, 1, beyond [0, 1], infinities, and random values in [-0.5, 1.5]."""
    values = [0.0, -0.0, 1.0, np.nextafter(np.float32(1), np.float32(2)), -1e-30, 1e-30, -3.0, 2.0, 7.5, 1e30,
              -1e30, np.inf, -np.inf]
    for t in range(1, levels + 1):
        x = np.float32((t - 0.5) / levels)
        for _ in range(4):
            x = np.nextafter(x, np.float32(-1))
        for _ in range(9):
            values.append(x)
            x = np.nextafter(x, np.float32(2))
    values.extend(rng.uniform(-0.5, 1.5, 200))
    return np.array(values, np.float32)


def numpy_levels(x, levels):
    """DoReFa's integer level in NumPy: round half away from zero of float32 ``levels * clip(x, 0, 1)``."""
    v = np.multiply(np.float32(levels), np.clip(x, 0, 1), dtype=np.float32)
    return np.floor(v.astype(np.float64) + 0.5)


@pytest.mark.parametrize("bits", range(2, MAX_PLANE_BITS + 1))
def test_plane_affine_packs_exactly_the_dorefa_levels_ties_included(bits, rng):
    levels = 2 ** bits - 1
    x = tricky_inputs(levels, rng)
    n = numpy_levels(x, levels)
    v = np.multiply(np.float32(levels), np.clip(x, 0, 1), dtype=np.float32)
    assert all((v == t - 0.5).any() for t in range(1, levels + 1))  # every tie is among the inputs
    # MXNet's DoReFa quantizer gives the same levels (its round is half away from zero)
    q = quantizers.DoReFa(bits, "activations")(mx.nd, mx.nd.array(x)).asnumpy()
    np.testing.assert_array_equal(np.round(q.astype(np.float64) * levels), n)
    # the packed planes: bit set (sign -1) iff plane t is 0, i.e. n < t
    rows = x.reshape(1, -1)
    for t in range(1, levels + 1):
        scale, bias = plane_affine(levels, t, rows.shape[1])
        packed = mx.nd.BmxPack(mx.nd.array(rows), mx.nd.array(scale), mx.nd.array(bias), affine=True).asnumpy()
        bits_out = np.unpackbits(packed.view(np.uint8), axis=1, bitorder="little")[:, :rows.shape[1]]
        np.testing.assert_array_equal(bits_out.astype(bool), n.reshape(1, -1) < t)


def planes_net():
    """Every path of a k-bit input: a zero-padded conv, a strided unpadded conv with per-channel scaling, a
    1-bit sign reading a planes layer's output (its packed output), a 3-bit dense and a 2-bit dense."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(19, 3, padding=1), nn.BatchNorm(),
            bx.QActivation(bits=2), bx.QConv2D(33, 3, padding=1, pad_value=0.0, scaling="forward_backward"),
            nn.BatchNorm(), nn.MaxPool2D(2, 1),
            bx.QActivation(bits=2), bx.QConv2D(70, 3, strides=2, scaling="xnor"), nn.BatchNorm(),
            bx.QActivation(), bx.QConv2D(24, 3, padding=1), nn.BatchNorm(), nn.Flatten(),
            bx.QActivation(bits=3), bx.QDense(65, scaling="forward_backward"), nn.BatchNorm(),
            bx.QActivation(bits=2), bx.QDense(7))
    return net


def test_k_bit_inputs_convert_as_binary_planes_and_run_like_mxnet(tmp_path, rng):
    from bmxnet_ext import runtime
    try:
        runtime.load_library()
    except ImportError as err:
        pytest.skip(str(err))
    shape = (2, 3, 11, 11)
    net = initialized(planes_net(), shape, rng)
    reports = {fmt: convert_block(net, output_dir=str(tmp_path / fmt), input_shape=shape, output_format=fmt,
                                  prefix="model") for fmt in ("mxnet", "bmx")}
    report = reports["mxnet"]
    assert [(r.converted_as, r.planes) for r in report.layers] == [
        ("binary", 3), ("binary", 3), ("binary", 1), ("binary", 7), ("binary", 3)]
    assert report.verification.binary_ops_checked == 3 + 3 + 1 + 7 + 3
    assert report.verification.sign_decisions_checked >= 1
    assert "(3 input planes)" in report.format()
    x = rng.standard_normal(shape).astype(np.float32)
    original = net(mx.nd.array(x)).asnumpy()
    inside_mxnet = load_converted(report)(mx.nd.array(x)).asnumpy()
    with runtime.Model(str(tmp_path / "bmx" / "model.bmx"), threads=2) as model:
        standalone = model.run(x)
    tolerance = 1e-4 * max(1.0, float(np.abs(original).max()))
    np.testing.assert_allclose(inside_mxnet, original, rtol=0, atol=tolerance)
    np.testing.assert_allclose(standalone, inside_mxnet, rtol=0, atol=tolerance)


def test_ties_reach_the_same_levels_in_mxnet_and_the_runtime(tmp_path, rng):
    """A 2-bit activation read by a 1x1 binary dense of one +1 weight outputs its level: ``n / 3``, so the
    converted model's ``round(3 y)`` must be NumPy's level on every tie."""
    from bmxnet_ext import runtime
    try:
        runtime.load_library()
    except ImportError as err:
        pytest.skip(str(err))
    x = tricky_inputs(3, rng)
    x = x[np.isfinite(x)].reshape(1, -1)
    net = nn.HybridSequential()
    net.add(bx.QActivation(bits=2), bx.QDense(x.shape[1], in_units=x.shape[1]))
    net.initialize()
    net[1].weight.set_data(mx.nd.array(np.eye(x.shape[1]) - 0.5))  # sign: +1 on the diagonal, -1 elsewhere
    for fmt in ("mxnet", "bmx"):
        convert_block(net, output_dir=str(tmp_path / fmt), input_shape=x.shape, output_format=fmt, prefix="model")
    inside_mxnet = mx.gluon.SymbolBlock.imports(str(tmp_path / "mxnet" / "model-symbol.json"), ["data"],
                                                str(tmp_path / "mxnet" / "model-0000.params"))(mx.nd.array(x))
    with runtime.Model(str(tmp_path / "bmx" / "model.bmx")) as model:
        standalone = model.run(x)
    # output j = sum_i q_i sign(W_ji) = 2 q_j - sum_i q_i
    original = net(mx.nd.array(x)).asnumpy().astype(np.float64)
    total = numpy_levels(x, 3).sum() / 3
    for y in (inside_mxnet.asnumpy(), standalone, original):
        np.testing.assert_array_equal(np.round(3 * (y.astype(np.float64) + total) / 2), numpy_levels(x, 3))


def test_exact_mode_wide_inputs_and_groups_keep_k_bit_layers_float(tmp_path, rng):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1), nn.BatchNorm(), bx.QActivation(), bx.QConv2D(8, 3, padding=1),
            nn.BatchNorm(), bx.QActivation(bits=2), bx.QConv2D(8, 3, padding=1, pad_value=0.0),
            nn.BatchNorm(), bx.QActivation(bits=MAX_PLANE_BITS + 1), bx.QConv2D(8, 1),
            nn.BatchNorm(), bx.QActivation(bits=2), bx.QConv2D(8, 1, groups=2))
    initialized(net, (1, 3, 6, 6), rng)
    report = convert_block(net, output_dir=str(tmp_path / "fast"), input_shape=(1, 3, 6, 6))
    assert [(r.converted_as, r.reason) for r in report.layers] == [
        ("binary", ""), ("binary", ""), ("float", f"{MAX_PLANE_BITS + 1}-bit input (binary planes only up to "
                                                  f"{MAX_PLANE_BITS} bits)"),
        ("float", "grouped convolution of a 2-bit input")]
    exact = convert_block(net, output_dir=str(tmp_path / "exact"), input_shape=(1, 3, 6, 6), exact=True)
    assert [r.converted_as for r in exact.layers] == ["binary", "float", "float", "float"]
    assert exact.layers[1].reason.startswith("2-bit input in exact mode")
    x = mx.nd.array(rng.standard_normal((1, 3, 6, 6)).astype(np.float32))
    assert np.array_equal(load_converted(exact)(x).asnumpy(), net(x).asnumpy())


def test_a_wrong_plane_weight_fails_verification(tmp_path, rng, monkeypatch):
    """Check 1 compares each plane's operator with the exact product of the original's levels: packed weights
    with one element flipped are caught there, and nothing is written."""
    pack = rewrite_module.pack_conv_weight

    def wrong(weight):
        weight = weight.copy()
        weight.flat[0] = -weight.flat[0]
        return pack(weight)

    monkeypatch.setattr(rewrite_module, "pack_conv_weight", wrong)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1), nn.BatchNorm(), bx.QActivation(bits=2),
            bx.QConv2D(8, 3, padding=1, pad_value=0.0))
    initialized(net, (1, 3, 6, 6), rng)
    with pytest.raises(VerificationError, match="differs from the original layer"):
        convert_block(net, output_dir=str(tmp_path / "out"), input_shape=(1, 3, 6, 6))
    assert not (tmp_path / "out").exists()


def test_float_model_reasons_appear_when_nothing_converts(tmp_path, rng):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1), bx.QActivation(bits=2), bx.QConv2D(8, 3, padding=1, pad_value=0.0))
    initialized(net, (1, 3, 6, 6), rng)
    with pytest.raises(ConversionError, match="Nothing to convert.*2-bit input in exact mode"):
        convert_block(net, output_dir=str(tmp_path / "out"), input_shape=(1, 3, 6, 6), exact=True)
