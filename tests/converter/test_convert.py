"""Convert -> load -> compare for zoo models and hand-built networks, and every bad input of the converter."""
import json
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

import bmxnet_ext as bx
from bmxnet_ext import ops
from model_zoo import get_model
from tools.model_converter import ConversionError, VerificationError, convert_block, convert_files
from tools.model_converter.__main__ import main

pytestmark = pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")


def randomize_batchnorm(net, rng):
    """Non-trivial BatchNorm statistics, so that folding them actually moves thresholds."""
    for name, param in net.collect_params().items():
        if name.endswith("running_var"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 2.0, param.shape)))
        elif name.endswith(("running_mean", "beta")):
            param.set_data(mx.nd.array(rng.normal(0.0, 0.5, param.shape)))
        elif name.endswith("gamma"):
            param.set_data(mx.nd.array(rng.normal(1.0, 0.4, param.shape)))


def initialized(net, shape, rng):
    net.initialize(mx.init.Xavier(magnitude=2))
    net(mx.nd.zeros(shape))
    randomize_batchnorm(net, rng)
    return net


def load_converted(report):
    prefix = os.path.join(report.output_dir, report.files[0].rsplit("-symbol.json", 1)[0])
    return mx.gluon.SymbolBlock.imports(f"{prefix}-symbol.json", ["data"], f"{prefix}-0000.params")


def assert_converted_matches(net, shape, tmp_path, rng, exact=False):
    report = convert_block(net, output_dir=str(tmp_path / "out"), input_shape=shape, exact=exact)
    converted = load_converted(report)
    x = mx.nd.array(rng.standard_normal(shape).astype(np.float32))
    expected, got = net(x).asnumpy(), converted(x).asnumpy()
    if exact:
        assert np.array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(expected).max()))
    return report


def odd_channel_net():
    """Odd channel counts, groups, stride, every scaling mode, k-bit and 32-bit quantized layers."""
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(37, 3, padding=1), nn.BatchNorm(), bx.QActivation(),
                bx.QConv2D(70, 3, strides=2, padding=1, scaling="xnor"), nn.BatchNorm(), bx.QActivation(),
                bx.QConv2D(66, 3, padding=1, groups=2, scaling="forward_backward"), nn.BatchNorm(),
                bx.QActivation(), bx.QConv2D(33, 1, scaling="backward"), nn.BatchNorm(),
                bx.QActivation(bits=2), bx.QConv2D(20, 3, padding=1, bits=2), nn.BatchNorm(),
                bx.QActivation(), bx.QDense(65), nn.BatchNorm(), bx.QActivation(), bx.QDense(7),
                bx.QDense(5, bits=32, use_bias=True))
    return net


def test_lenet_converts_matches_and_shrinks(tmp_path, rng):
    net = initialized(get_model("lenet"), (2, 1, 28, 28), rng)
    report = assert_converted_matches(net, (2, 1, 28, 28), tmp_path, rng)
    assert [r.converted_as for r in report.layers] == ["binary", "binary"]
    assert report.verification.binary_ops_checked == 2
    assert report.bytes_after < report.bytes_before / 20


def test_resnet18_converts_to_paper_size(tmp_path, rng):
    net = initialized(get_model("resnet18"), (1, 3, 64, 64), rng)
    report = assert_converted_matches(net, (1, 3, 64, 64), tmp_path, rng)
    assert len(report.binary_layers) == 20 and report.verification.binary_ops_checked == 20
    assert report.folded_batchnorms > 0 and report.verification.sign_decisions_checked > 0
    assert report.bytes_after <= 3.4 * 2 ** 20  # the paper's 3.4 MB binary ResNet-18
    assert "compression" in report.format()


def test_densenet_converts_and_matches(tmp_path, rng):
    net = initialized(get_model("densenet13"), (1, 3, 64, 64), rng)
    report = assert_converted_matches(net, (1, 3, 64, 64), tmp_path, rng)
    assert report.binary_layers and report.verification.binary_ops_checked == len(report.binary_layers)


def test_odd_channels_scaling_modes_and_k_bit_layers(tmp_path, rng):
    net = initialized(odd_channel_net(), (2, 3, 9, 9), rng)
    report = assert_converted_matches(net, (2, 3, 9, 9), tmp_path, rng)
    kinds = {r.name.split("_")[-1]: (r.bits, r.converted_as) for r in report.layers}
    assert sorted(kinds.values()) == [(1, "binary")] * 5 + [(2, "float"), (32, "float")]


def test_exact_mode_reproduces_outputs_bit_for_bit(tmp_path, rng):
    net = initialized(odd_channel_net(), (2, 3, 9, 9), rng)
    report = assert_converted_matches(net, (2, 3, 9, 9), tmp_path, rng, exact=True)
    assert report.exact and report.folded_batchnorms == 0 and report.verification.max_output_difference == 0


def test_negated_pack_affine_keeps_the_sign_of_zero():
    """``_pack_affine(..., negated=True)`` sets a bit exactly where ``det_sign(scale x + bias) = +1``: at exact
    zeros (x = 0 with bias 0 or -0.0, x = -bias / scale) too, and one float either side."""
    from tools.model_converter.rewrite import _pack_affine
    for scale, bias in [(1.5, 0.0), (0.75, -0.0), (-2.0, 0.0), (0.5, 0.25), (3.0, -1.5), (1e-3, 7.0)]:
        root = np.float32(-bias / scale)
        x = np.array([0.0, -0.0, 1e-45, -1e-45, root, np.nextafter(root, np.float32(1e9)),
                      np.nextafter(root, np.float32(-1e9)), 1.0, -1.0, 3e38, -3e38], np.float32)
        s, b = (np.float32(v) for v in (scale, bias))
        v = np.add(np.multiply(s, x, dtype=np.float32), b, dtype=np.float32)
        ns, nb = _pack_affine(np.array([scale]), np.array([bias]), negated=True)
        bits = np.add(np.multiply(ns[0], x, dtype=np.float32), nb[0], dtype=np.float32) < 0
        np.testing.assert_array_equal(bits, v >= 0)
        if (v == 0).any():  # the plain negation -bias would give v > 0 there
            plain = np.add(np.multiply(-s, x, dtype=np.float32), -b, dtype=np.float32) < 0
            assert (plain != bits).any()


# ---- bad input -----------------------------------------------------------------------------------------------


@pytest.fixture
def exported(tmp_path, rng):
    """An exported binary LeNet: (symbol file, params file)."""
    net = initialized(get_model("lenet"), (1, 1, 28, 28), rng)
    net.hybridize()
    net(mx.nd.zeros((1, 1, 28, 28)))
    net.export(str(tmp_path / "lenet"), 0)
    return str(tmp_path / "lenet-symbol.json"), str(tmp_path / "lenet-0000.params")


def convert_expecting_error(symbol, params, out, error=ConversionError, match=None, **kwargs):
    with pytest.raises(error, match=match):
        convert_files(symbol, params, output_dir=out, input_shape=(1, 1, 28, 28), **kwargs)
    assert not os.path.exists(out)
    assert not [f for f in os.listdir(os.path.dirname(out)) if f.startswith(".tmp-")]  # no temp leftovers


def test_truncated_params_are_rejected(exported, tmp_path):
    symbol, params = exported
    data = open(params, "rb").read()
    with open(params, "wb") as f:
        f.write(data[: len(data) // 2])
    convert_expecting_error(symbol, params, str(tmp_path / "out"), match="truncated or corrupt")


def test_corrupt_symbol_is_rejected(exported, tmp_path):
    symbol, params = exported
    with open(symbol, "w") as f:
        f.write('{"nodes": [')
    convert_expecting_error(symbol, params, str(tmp_path / "out"), match="not an MXNet symbol JSON")


def test_params_of_another_model_are_a_mismatch(exported, tmp_path):
    symbol, params = exported
    arrays = mx.nd.load(params)
    arrays["arg:stranger_weight"] = mx.nd.ones(3)
    mx.nd.save(params, arrays)
    convert_expecting_error(symbol, params, str(tmp_path / "out"), match="does not use.*stranger_weight")


def test_missing_param_is_a_mismatch(exported, tmp_path):
    symbol, params = exported
    arrays = mx.nd.load(params)
    del arrays[next(k for k in arrays if k.endswith("weight"))]
    mx.nd.save(params, arrays)
    convert_expecting_error(symbol, params, str(tmp_path / "out"), match="exactly one data input")


def test_param_of_wrong_shape_is_a_mismatch(exported, tmp_path):
    symbol, params = exported
    arrays = mx.nd.load(params)
    key = next(k for k in arrays if k.endswith("weight"))
    arrays[key] = mx.nd.ones((3, 3))
    mx.nd.save(params, arrays)
    convert_expecting_error(symbol, params, str(tmp_path / "out"), match="mismatch|does not accept")


def test_unknown_operator_is_rejected(exported, tmp_path):
    symbol, params = exported
    graph = json.load(open(symbol))
    graph["nodes"][-1]["op"] = "NoSuchOperator"
    json.dump(graph, open(symbol, "w"))
    convert_expecting_error(symbol, params, str(tmp_path / "out"), match="NoSuchOperator")


def test_custom_activation_method_is_refused(tmp_path, rng):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3), bx.QActivation(method=lambda F, x: F.sign(x)), bx.QConv2D(8, 3))
    initialized(net, (1, 3, 8, 8), rng)
    with pytest.raises(ConversionError, match="unknown 1-bit activation method"):
        convert_block(net, output_dir=str(tmp_path / "out"), input_shape=(1, 3, 8, 8))


def test_float_model_has_nothing_to_convert(tmp_path, rng):
    net = initialized(get_model("lenet", bits=32), (1, 1, 28, 28), rng)
    with pytest.raises(ConversionError, match="Nothing to convert"):
        convert_block(net, output_dir=str(tmp_path / "out"), input_shape=(1, 1, 28, 28))
    assert not os.path.exists(tmp_path / "out")


def test_failed_verification_writes_nothing(exported, tmp_path, monkeypatch):
    from tools.model_converter import packing, rewrite

    monkeypatch.setattr(rewrite, "pack_conv_weight", lambda w: ~packing.pack_conv_weight(w))  # every bit wrong
    convert_expecting_error(*exported, str(tmp_path / "out"), error=VerificationError, match="differs")


@pytest.mark.parametrize("exact", [False, True])
def test_end_to_end_difference_fails_and_writes_nothing(exported, tmp_path, monkeypatch, exact):
    """Check 3 on its own: binary operators and sign decisions pass, but the converted model's outputs are
    shifted (by 1 % of their range, above the 0.1 % tolerance; any shift in exact mode)."""
    from tools.model_converter import verify

    original_run = verify.run_symbol

    def run_shifting_the_converted_outputs(symbol, params, aux_names, data_name, data):
        outputs = original_run(symbol, params, aux_names, data_name, data)
        if "BmxBinary" not in symbol.tojson():
            return outputs
        return [o + np.float32(0.01 * max(1.0, float(np.abs(o).max()))) for o in outputs]

    monkeypatch.setattr(verify, "run_symbol", run_shifting_the_converted_outputs)
    convert_expecting_error(*exported, str(tmp_path / "out"), error=VerificationError,
                            match="Converted outputs differ from the original", exact=exact)


def test_existing_output_dir_is_kept_unless_forced(exported, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConversionError, match="already exists"):
        convert_files(*exported, output_dir=str(out), input_shape=(1, 1, 28, 28))
    assert (out / "keep.txt").read_text() == "mine"
    report = convert_files(*exported, output_dir=str(out), input_shape=(1, 1, 28, 28), overwrite=True)
    assert sorted(os.listdir(out)) == sorted(report.files) == ["MANIFEST.json", "lenet-0000.params",
                                                              "lenet-symbol.json"]


@pytest.mark.parametrize("options,match", [
    ({"input_shape": (1, 0, 28, 28)}, "input_shape"),
    ({"input_shape": "1,1,28,28"}, "input_shape"),
    ({"output_format": "onnx"}, "output_format"),
    ({"exact": "yes"}, "exact"),
])
def test_bad_options_are_rejected_before_any_work(exported, tmp_path, options, match):
    kwargs = {"output_dir": str(tmp_path / "out"), "input_shape": (1, 1, 28, 28), **options}
    with pytest.raises(ValueError, match=match):
        convert_files(*exported, **kwargs)


def test_command_line_converts_and_reports(exported, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main([*exported, "-o", out, "--json", str(tmp_path / "r.json")]) == 0
    printed = capsys.readouterr().out
    assert "binary layers (packed)" in printed and "(1, 1, 28, 28) recorded in the export" in printed
    assert json.load(open(tmp_path / "r.json"))["binary_layers"] == 2
    assert main([*exported, "-o", out, "--input-shape", "1,1,28,28"]) == 2  # usage: --force is missing
    assert "already exists" in capsys.readouterr().err
