"""Larq Zoo's literature and SOTA models and ReActNet-A: counts by precision equal to the references, forward
and backward with a gradient for every parameter, hybridize, export and re-import.

Sources of the numbers
----------------------
- ``PUBLISHED``: the "Parameters" column of the "ImageNet Metrics" table in each model's docstring in
  larq/zoo (``larq_zoo/literature/*.py`` at commit 77c5853; QuickNet, -Large, -XL: ``larq_zoo/sota/quicknet.py``
  of Larq Zoo 1.0, commit 59caa83^). Larq Zoo takes them from Keras' ``count_params``, which counts a
  BatchNorm's running mean and variance and no gamma where ``scale=False`` - except QuickNet-XL's, which is
  its ``larq.models.summary`` total, and QuickNet-Large's, which is the count of an earlier variant.
- ``BY_PRECISION``: the 1-bit and 32-bit columns of ``larq.models.summary`` (larq/larq ``larq/models.py``: a
  BatchNorm's parameters count 2 per channel, a layer's MACs are ``weights x output pixels`` at the larger of
  its input quantizer's and kernel quantizer's precision), worked out layer by layer from the reference
  code at 224x224, not from this project's models; for ReActNet-A the reference is the authors' PyTorch
  model (``mobilenet/2_step2/reactnet.py`` of liuzechun/ReActNet): its ``parameters()`` split by whether
  ``HardBinaryConv`` binarizes them.
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from bmxnet_ext import summary
from model_zoo import default_input_shape, get_model
from model_zoo.quicknet import QuickNet

PUBLISHED = {
    "birealnet18": 11_699_112,
    "binary_alexnet": 61_859_192,
    "xnornet": 62_396_768,
    "dorefanet": 62_403_912,
    "quicknet": 10_518_528,
    "real_to_binary_net": 11_995_624,
    "binary_densenet37_dilated": 8_734_120,
}

BY_PRECISION = {  # name: ({bits: parameters}, {bits: MACs per 224x224 image})
    "birealnet18": ({1: 10_985_472, 32: 704_040}, {1: 1_676_279_808, 32: 137_793_536}),
    "binary_alexnet": ({1: 61_827_776, 32: 20_944}, {1: 768_512_000, 32: 72_855_552}),
    "xnornet": ({1: 58_236_928, 32: 4_150_176}, {1: 1_025_744_896, 32: 113_379_328}),
    "dorefanet": ({1: 58_236_928, 32: 4_157_512}, {2: 2_924_609_536, 32: 125_028_352}),
    "quicknet": ({1: 9_990_144, 32: 521_088}, {1: 1_242_759_168, 32: 5_027_840}),
    "quicknet_large": ({1: 10_985_472, 32: 833_664}, {1: 1_676_279_808, 32: 24_433_664}),
    "quicknet_xl": ({1: 21_086_208, 32: 972_160}, {1: 3_525_967_872, 32: 24_564_736}),
    "real_to_binary_net": ({1: 10_985_472, 32: 1_001_448}, {1: 1_676_279_808, 32: 138_087_936}),
    "binary_densenet37_dilated": ({1: 7_593_984, 32: 1_108_264}, {1: 7_774_470_144, 32: 452_625_408}),
    "reactnet_a": ({1: 28_253_184, 32: 1_090_408}, {1: 4_816_896_000, 32: 11_862_016}),
}

ALEXNETS = {"binary_alexnet", "xnornet", "dorefanet"}
"""224x224 only (their classifiers take the 6x6 feature map) and 60 M parameters: slow."""


def keras_count(net):
    """Keras' ``count_params``: every parameter Gluon trains plus BatchNorm running statistics (a BatchNorm
    with ``scale=False`` has no gamma in Keras; Gluon keeps a fixed one that it does not train)."""
    return sum(int(np.prod(p.shape)) for name, p in net.collect_params().items()
               if p.grad_req != "null" or name.endswith(("running_mean", "running_var")))


@pytest.mark.parametrize("name", sorted(BY_PRECISION))
def test_parameters_and_macs_by_precision_equal_the_reference(name):
    """Traced symbolically at 224x224: no weights are allocated."""
    params, macs = BY_PRECISION[name]
    s = summary(get_model(name), default_input_shape(name), print_fn=None)
    assert s.params_by_bits == params
    assert s.macs_by_bits == macs


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_count(name):
    assert keras_count(get_model(name)) == PUBLISHED[name]


def test_quicknet_large_and_xl_published_counts():
    """Larq Zoo 1.0 publishes 22,058,368 for QuickNet-XL (its summary total) and 11,837,696 for
    QuickNet-Large: the Keras count of QuickNet-Large with squeeze-and-excite in all four sections, the
    variant its code had before "reduce number of SE blocks"."""
    assert summary(get_model("quicknet_xl"), print_fn=None).total_params == 22_058_368
    all_sections = QuickNet((4, 4, 4, 4), (True,) * 4, "pointwise")
    assert keras_count(all_sections) == 11_837_696
    assert keras_count(get_model("quicknet_large")) == 11_828_736


def test_rounded_figures_published_beside_the_references():
    """Larq's docs: BinaryDenseNet37Dilated 8.23 B MACs, 0.9450 of them binary. ReActNet paper, Table:
    ReActNet-A 4.82 x 10^9 BOPs and 0.12 x 10^8 FLOPs."""
    dilated = summary(get_model("binary_densenet37_dilated"), default_input_shape("binary_densenet37"),
                      print_fn=None)
    assert round(dilated.total_macs / 1e9, 2) == 8.23 and round(dilated.binary_mac_share, 4) == 0.9450
    reactnet = summary(get_model("reactnet_a"), default_input_shape("reactnet_a"), print_fn=None)
    assert round(reactnet.macs_by_bits[1] / 1e9, 2) == 4.82 and round(reactnet.macs_by_bits[32] / 1e8, 2) == 0.12


def test_dorefanet_quantizes_activations_to_two_bits_by_default():
    blocks = []
    get_model("dorefanet").apply(blocks.append)
    bits = {b.bits for b in blocks if type(b).__name__ == "QActivation"}
    assert bits == {2}
    twin = []
    get_model("dorefanet", bits=32).apply(twin.append)
    assert not any(type(b).__name__ == "QActivation" for b in twin)


def _input(name, batch=2):
    size = 224 if name in ALEXNETS else 64
    return mx.nd.array(np.random.default_rng(0).standard_normal((batch, 3, size, size)), dtype="float32")


def _params(name):
    if name in ALEXNETS:
        return pytest.param(name, marks=pytest.mark.slow)
    return name


@pytest.mark.parametrize("name", [_params(name) for name in sorted(BY_PRECISION)])
def test_forward_and_backward_give_every_parameter_a_gradient(name):
    mx.random.seed(1)
    net = get_model(name, classes=10)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = _input(name)
    with autograd.record():
        out = net(x)
        loss = (out * mx.nd.array(np.random.default_rng(1).standard_normal(out.shape))).sum()
    loss.backward()
    assert out.shape == (2, 10) and np.isfinite(out.asnumpy()).all()
    trained = {n: p for n, p in net.collect_params().items() if p.grad_req != "null"}
    assert trained
    without = [n for n, p in trained.items() if not np.any(p.grad().asnumpy() != 0)]
    assert not without, f"no gradient reaches {without}"


@pytest.mark.parametrize("name", [_params(name) for name in sorted(BY_PRECISION)])
def test_hybridized_export_reimports_with_equal_outputs(name, tmp_path):
    mx.random.seed(2)
    net = get_model(name, classes=10)
    net.initialize(mx.init.Xavier())
    x = _input(name, batch=1)
    imperative = net(x).asnumpy()
    net.hybridize()
    hybrid = net(x).asnumpy()
    np.testing.assert_allclose(hybrid, imperative, rtol=1e-5, atol=1e-5)
    net.export(str(tmp_path / name))
    loaded = mx.gluon.SymbolBlock.imports(str(tmp_path / f"{name}-symbol.json"), ["data"],
                                          str(tmp_path / f"{name}-0000.params"))
    np.testing.assert_array_equal(loaded(x).asnumpy(), hybrid)


CONVERTED = ["birealnet18", "quicknet", "real_to_binary_net", "reactnet_a"] + [
    pytest.param(name, marks=pytest.mark.slow)
    for name in ("quicknet_large", "quicknet_xl", "binary_densenet37_dilated", "binary_alexnet", "xnornet",
                 "dorefanet")]
"""Every model with binary layers (DoReFa-Net's 1-bit weights meet 2-bit activations, packed as 3 binary planes)."""
CONVERT_SIZE = {"dorefanet": 204}
"""Verification input size where the default (224 for the AlexNets, else 64) is not the smallest valid one."""


def _trained_like(net, seed):
    """Random BatchNorm statistics and affines and ReActNet's RSign / RPReLU shifts, as training leaves them (a
    fresh model's beta = 0 after a ReLU makes exact zeros the rule: every folded sign decision then sits on its
    rounding boundary, which the checks accept but which says little about the folding;
    test_fresh_quicknet_converts_without_exact_mode covers that case)."""
    rng = np.random.default_rng(seed)
    for name, param in net.collect_params().items():
        if name.endswith("running_var") or ("bn" in name and name.endswith("gamma")):
            param.set_data(mx.nd.array(rng.uniform(0.5, 1.5, param.shape)))
        elif name.endswith(("beta", "running_mean", "threshold", "zeta")) or (
                "rprelu" in name and name.endswith("gamma")):
            param.set_data(mx.nd.array(rng.normal(0, 0.2, param.shape)))


@pytest.mark.parametrize("name", CONVERTED)
def test_converts_bit_exactly_and_runs_on_the_runtime_like_mxnet(name, tmp_path):
    """The converter proves every binary layer bit-exact before it writes (it raises otherwise); the converted
    model inside MXNet and the standalone runtime then give the original's outputs."""
    from bmxnet_ext import runtime
    from tools.model_converter import convert_block
    from tools.model_converter.rewrite import MAX_PLANE_BITS
    import bmxnet_ext.ops  # noqa: F401  registers the Bmx* operators in MXNet
    try:
        runtime.load_library()
    except ImportError as err:
        pytest.skip(str(err))
    mx.random.seed(3)
    net = get_model(name, classes=10)
    net.initialize(mx.init.Xavier())
    _trained_like(net, seed=7)
    size = CONVERT_SIZE.get(name, 224 if name in ALEXNETS else 64)
    shape = (1, 3, size, size)
    reports = {fmt: convert_block(net, output_dir=str(tmp_path / fmt), input_shape=shape, output_format=fmt,
                                  prefix="model") for fmt in ("mxnet", "bmx")}
    packable = [layer for layer in summary(net, print_fn=None).layers
                if layer.weight_bits == 1 and layer.activation_bits <= MAX_PLANE_BITS]
    assert len(reports["mxnet"].binary_layers) == len(packable) > 0
    assert reports["mxnet"].verification.binary_ops_checked == sum(r.planes for r in reports["mxnet"].binary_layers)
    assert all(r.planes == (3 if name == "dorefanet" else 1) for r in reports["mxnet"].binary_layers)
    converted = mx.gluon.SymbolBlock.imports(str(tmp_path / "mxnet" / "model-symbol.json"), ["data"],
                                             str(tmp_path / "mxnet" / "model-0000.params"))
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    original = net(mx.nd.array(x)).asnumpy()
    inside_mxnet = converted(mx.nd.array(x)).asnumpy()
    with runtime.Model(str(tmp_path / "bmx" / "model.bmx"), threads=2) as model:
        standalone = model.run(x)
    scale = max(1.0, float(np.abs(original).max()))
    np.testing.assert_allclose(inside_mxnet, original, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(standalone, inside_mxnet, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("name", [name if name in ("birealnet18", "reactnet_a") else
                                  pytest.param(name, marks=pytest.mark.slow) for name in sorted(BY_PRECISION)])
def test_two_batch_training_run(name, tmp_path):
    """``bmxnet-train``'s pipeline on two batches of random images: trains, evaluates, checkpoints, exports."""
    from tools.train.data import ArraySplit
    from tools.train.pipeline import train
    size = 224 if name in ALEXNETS else 64
    rng = np.random.default_rng(0)
    images, labels = rng.standard_normal((4, 3, size, size)).astype(np.float32), np.array([0, 1, 2, 3])
    splits = (ArraySplit(images, labels), ArraySplit(images[:2], labels[:2]), 4)
    bits_a = 2 if name == "dorefanet" else 1
    run = train(model=name, dataset="imagenet", run_dir=str(tmp_path), splits=splits, bits_a=bits_a,
                batch_size=2, epochs=1, limit_batches=2, progress=False)
    assert len(run["history"]) == 1 and np.isfinite(run["history"][0]["train_loss"])
    assert (tmp_path / "model-symbol.json").exists() and (tmp_path / "model-0000.params").exists()


def test_runtime_benchmark_takes_any_zoo_name(capsys):
    """``python -m tools.benchmark runtime --models ...``: zoo names are checked before anything is built."""
    from tools.benchmark.__main__ import main, parse_args
    from tools.benchmark.runtime import _model_names
    args = parse_args(["runtime", "--models", "QuickNet", "reactnet_a", "--model", "birealnet18"])
    assert _model_names(args) == ["birealnet18", "quicknet", "reactnet_a"]
    assert _model_names(parse_args(["runtime"])) == ["resnet18", "densenet21_k140"]
    with pytest.raises(SystemExit) as stop:
        main(["runtime", "--models", "quicknet", "resnet19", "--bmx-run", "/nonexistent"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1, err
    assert "--models: unknown model 'resnet19'; did you mean resnet18" in err[0]


def test_fresh_quicknet_converts_without_exact_mode(tmp_path):
    """A fresh QuickNet's signs read exact zeros (BatchNorm beta 0 after a ReLU) through +1-padded convolutions,
    which the converter packs negated: its negated affine must keep det_sign(0) = +1, or the outputs differ."""
    from bmxnet_ext import runtime
    from tools.model_converter import convert_block
    import bmxnet_ext.ops  # noqa: F401  registers the Bmx* operators in MXNet
    mx.random.seed(3)
    net = get_model("quicknet", classes=10)
    net.initialize(mx.init.Xavier())
    shape = (1, 3, 64, 64)
    report = convert_block(net, output_dir=str(tmp_path / "out"), input_shape=shape)
    assert len(report.binary_layers) == 13 and report.verification.max_output_difference < 1e-3
    try:
        runtime.load_library()
    except ImportError:
        return  # the MXNet-format conversion above is the test; the runtime is optional
    convert_block(net, output_dir=str(tmp_path / "bmx"), input_shape=shape, output_format="bmx", prefix="model")
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with runtime.Model(str(tmp_path / "bmx" / "model.bmx")) as model:
        standalone = model.run(x)
    original = net(mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(standalone, original, rtol=0, atol=1e-5 * max(1.0, float(np.abs(original).max())))
