"""``bmxnet-train --input-quantizer / --kernel-quantizer / --kernel-constraint``: checked when parsed, recorded in
``args.json``, applied to every quantized layer of the zoo model (replacing its own choice), and the trained
model still converts when the quantizers pack."""
import json

import mxnet as mx
import numpy as np
import pytest

from bmxnet_ext import QActivation, QConv2D, QDense, RSign, ops, quantizers
from bmxnet_ext.constraints import WeightClip
from tools.train.__main__ import main
from tools.train.pipeline import build_model

CLIP = 0.02  # below the largest Xavier-initialised latent weight of LeNet's binary layers, so the clip binds
FLAGS = ["--input-quantizer", "approx_sign", "--kernel-quantizer", "magnitude_aware_sign",
         "--kernel-constraint", json.dumps({"name": "weight_clip", "clip_value": CLIP})]


def _blocks(net, kind):
    found = []
    net.apply(lambda block: found.append(block) if isinstance(block, kind) else None)
    return found


@pytest.mark.parametrize("argv, fragments", [
    (["--kernel-quantizer", "sign"], ["argument --kernel-quantizer", "unknown quantizer 'sign'",
                                      ", ".join(sorted(quantizers.REGISTRY))]),
    (["--input-quantizer", '{"name": "nope"}'], ["argument --input-quantizer", "unknown quantizer 'nope'",
                                                 "approx_sign", "ste_tern"]),
    (["--input-quantizer", '{"name": ["ste_sign"]}'], ["--input-quantizer", "unknown quantizer ['ste_sign']"]),
    (["--input-quantizer", "{name: ste_sign}"], ["argument --input-quantizer", "invalid JSON"]),
    (["--kernel-quantizer", '{"name": "ste_sign", "clip_value": -1}'], ["--kernel-quantizer", "clip_value", "-1"]),
    (["--kernel-quantizer", '{"name": "ste_sign", "beta": 2}'], ["--kernel-quantizer", "beta"]),
    (["--kernel-constraint", "clip"], ["argument --kernel-constraint", "unknown constraint 'clip'", "weight_clip"]),
    (["--kernel-constraint", '{"name": "weight_clip", "clip_value": 0}'], ["--kernel-constraint", "clip_value"]),
    (["--kernel-quantizer", "ste_sign", "--bits", "32"], ["--kernel-quantizer", "--bits 32"]),
    (["--kernel-constraint", "weight_clip", "--bits", "2"], ["--kernel-constraint", "--bits 2"]),
    (["--kernel-quantizer", "ste_sign", "--scaling", "xnor"], ["--kernel-quantizer", "--scaling xnor"]),
    (["--input-quantizer", "approx_sign", "--bits-a", "32"], ["--input-quantizer", "--bits-a 32"]),
    (["--input-quantizer", "approx_sign", "--bits", "32"], ["--input-quantizer", "--bits-a 32"]),
    (["--input-quantizer", "ste_sign", "--activation-method", "approx_sign"],
     ["--input-quantizer", "--activation-method"]),
    (["--input-quantizer", "ste_sign", "--clip-threshold", "1"], ["--input-quantizer", "--clip-threshold"]),
])
def test_bad_quantizer_flags_are_one_line_usage_errors(capsys, tmp_path, monkeypatch, argv, fragments):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith("bmxnet-train: error: "), err
    for fragment in fragments:
        assert fragment in err[0], (fragment, err[0])
    assert list(tmp_path.iterdir()) == []  # refused before anything is written


def test_unset_flags_keep_the_shorthands():
    net = build_model("lenet", classes=10)
    assert [a.quantizer for a in _blocks(net, QActivation)] == [quantizers.ACTIVATION_METHODS["det_sign"]] * 2
    layers = _blocks(net, QConv2D) + _blocks(net, QDense)
    assert [(layer.kernel_quantizer, layer.kernel_constraint) for layer in layers] == \
        [(quantizers.SteSign(clip_value=None), None)] * 2


def test_chosen_quantizers_replace_a_models_own():
    """Bi-Real Net's own approx_sign / magnitude-aware kernels / weight_clip(1) and ReActNet's RSign quantizer
    give way to the chosen ones in every quantized layer; the full-precision stem and head stay float."""
    settings = dict(input_quantizer={"name": "ste_sign", "clip_value": 1.5}, kernel_quantizer="ste_sign",
                    kernel_constraint={"name": "weight_clip", "clip_value": 0.5})
    net = build_model("birealnet18", classes=10, **settings)
    convs = _blocks(net, QConv2D)
    assert len(convs) == 16 and len(_blocks(net, QActivation)) == 16
    assert {a.quantizer for a in _blocks(net, QActivation)} == {quantizers.SteSign(clip_value=1.5)}
    assert {(c.kernel_quantizer, c.scaling, c.weight.constraint) for c in convs} == \
        {(quantizers.SteSign(), "none", WeightClip(0.5))}
    reactnet = build_model("reactnet_a", classes=10, input_quantizer="swish_sign")
    assert {r.quantizer for r in _blocks(reactnet, RSign)} == {quantizers.SwishSign()}
    assert {r.quantizer for r in _blocks(build_model("reactnet_a", classes=10), RSign)} == \
        {quantizers.ApproxSign()}  # the model's own without a choice
    # binary convolutions pad with the low level of a chosen {0, 1} input quantizer, as they pad with -1 for signs
    resnet = build_model("resnet18", classes=10, input_quantizer="ste_heaviside")
    assert {c.pad_value for c in _blocks(resnet, QConv2D)} == {0.0}
    assert {c.pad_value for c in _blocks(build_model("resnet18", classes=10), QConv2D)} == {-1.0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two batches of binary LeNet on digits, trained through the command line with the three flags."""
    run_dir = tmp_path_factory.mktemp("quantizer-flags") / "run"
    assert main(["--model", "lenet", "--dataset", "digits", "--epochs", "1", "--limit-batches", "2",
                 "--batch-size", "16", "--no-progress", "--run-dir", str(run_dir), *FLAGS]) == 0
    return run_dir


def test_flags_are_recorded_and_build_the_trained_layers(trained):
    args = json.loads((trained / "args.json").read_text())
    assert args["input_quantizer"] == {"name": "approx_sign"}
    assert args["kernel_quantizer"] == {"name": "magnitude_aware_sign", "clip_value": 1.0}
    assert args["kernel_constraint"] == {"name": "weight_clip", "clip_value": CLIP}
    # the exported graph says how each quantized layer of the trained net was configured
    graph = json.loads((trained / "model-symbol.json").read_text())
    configs = {n["attrs"]["__bmx_layer__"]: json.loads(n["attrs"]["__bmx_config__"])
               for n in graph["nodes"] if "__bmx_layer__" in n.get("attrs", {})}
    inputs = {k: c["quantizer"] for k, c in configs.items() if k.startswith("QActivation:")}
    kernels = {k: (c["kernel_quantizer"], c["scaling"]) for k, c in configs.items() if not k.startswith("QAct")}
    assert list(inputs.values()) == [{"name": "approx_sign"}] * 2
    assert sorted(k.split(":")[0] for k in kernels) == ["QConv2D", "QDense"]
    assert set(map(json.dumps, kernels.values())) == {json.dumps(({"clip_value": 1.0, "name":
                                                                   "magnitude_aware_sign"}, "xnor"))}


def test_constraint_clips_the_latent_weights_after_training(trained):
    params = mx.nd.load(str(trained / "model-0000.params"))
    binary = {k: v.asnumpy() for k, v in params.items() if "qconvolution" in k or "qfullyconnected" in k}
    assert len(binary) == 2, sorted(binary)
    for name, weight in binary.items():
        assert abs(weight).max() == np.float32(CLIP), name  # within [-c, c], and the bound was reached
    float_weights = [abs(v.asnumpy()).max() for k, v in params.items() if k.endswith("fullyconnected0_weight")
                     and "qfully" not in k]
    assert float_weights and max(float_weights) > CLIP  # the full-precision head is not constrained


@pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")
def test_trained_model_converts_bit_exactly(trained, tmp_path):
    from tools.model_converter import convert_files

    report = convert_files(str(trained / "model-symbol.json"), str(trained / "model-0000.params"),
                           output_dir=str(tmp_path / "converted"))
    assert [r.converted_as for r in report.layers] == ["binary", "binary"]
    assert report.verification.binary_ops_checked == 2
