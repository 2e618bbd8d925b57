"""Training in stages: --init-from a trained run (float, partly binary or binary) and distillation from a teacher."""
import json

import mxnet as mx
import numpy as np
import pytest

from bmxnet_ext.cli import ToolError
from tools.train import train
from tools.train.cli import main
from tools.train.data import load_dataset
from tools.train.pipeline import create_net
from tools.train.stages import distillation_loss, init_from, load_teacher

TINY = dict(model="lenet", dataset="digits", epochs=1, batch_size=16, limit_batches=3, progress=False, seed=5)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def stage1(tmp_path_factory, digits):
    """Stage 1 of the two-stage recipe: binary activations, real-valued weights (W32A1)."""
    run_dir = tmp_path_factory.mktemp("stage1")
    train(run_dir=str(run_dir), splits=digits, bits=32, bits_a=1, **TINY)
    return run_dir


def _values(net):
    return {name: p.data().asnumpy() for name, p in net._collect_params_with_prefix().items()}


@pytest.mark.parametrize("source", ["run folder", "checkpoint file", "exported file"])
def test_stage2_binary_net_starts_from_every_stage1_parameter(stage1, source):
    path = {"run folder": stage1, "checkpoint file": stage1 / "checkpoints" / "epoch-0001" / "net.params",
            "exported file": stage1 / "model-0000.params"}[source]
    trained = mx.gluon.SymbolBlock.imports(str(stage1 / "model-symbol.json"), ["data"],
                                           str(stage1 / "model-0000.params"))
    expected = {name.split("_", 1)[1]: p.data().asnumpy() for name, p in trained.collect_params().items()}
    net = create_net("lenet", classes=10, seed=9, ctx=[mx.cpu()], input_shape=(1, 1, 28, 28), bits=1, bits_a=1)
    report = init_from(net, str(path))
    assert not report["missing"] and not report["mismatched"] and not report["unused"]
    for param in net.collect_params().values():
        np.testing.assert_array_equal(param.data().asnumpy(), expected[param.name[len(net.prefix):]], param.name)


def test_a_different_head_is_reported_and_keeps_its_initialisation(stage1):
    net = create_net("lenet", classes=5, seed=9, ctx=[mx.cpu()], input_shape=(1, 1, 28, 28))
    before = _values(net)
    report = init_from(net, str(stage1))
    assert set(report["mismatched"]) == {"output.weight", "output.bias"}
    assert report["mismatched"]["output.weight"] == ((10, 1000), (5, 1000))
    after = _values(net)
    np.testing.assert_array_equal(after["output.weight"], before["output.weight"])
    assert not np.array_equal(after["features.0.weight"], before["features.0.weight"])


def test_another_architecture_is_refused_in_one_line(stage1):
    net = create_net("resnet18_cifar", classes=10, seed=9, ctx=[mx.cpu()], input_shape=(1, 1, 8, 8))
    with pytest.raises(ToolError, match="none of its .* parameters matches"):
        init_from(net, str(stage1))


def test_a_folder_without_a_run_is_refused_before_the_run_folder_is_made(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToolError, match="holds neither checkpoints/ nor model-0000.params"):
        main(["--init-from", str(tmp_path / "empty"), "--run-dir", str(tmp_path / "run")])
    with pytest.raises(ToolError, match="--teacher .*: no model-symbol.json"):
        main(["--teacher", str(tmp_path / "empty"), "--run-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_distillation_loss_is_gluoncvs_soft_and_hard_cross_entropy(stage1, digits):
    """(1 - h) T^2 CE(softmax(z / T), softmax(z_t / T)) + h CE(softmax(z), y), by hand in NumPy."""
    teacher = load_teacher(str(stage1), [mx.cpu()])
    data, labels = digits[1].batch(np.arange(8))
    x = mx.nd.array(data)
    logits = mx.nd.array(np.random.default_rng(0).standard_normal((8, 10)).astype(np.float32))
    t, h = 3.0, 0.25
    actual = distillation_loss(teacher, temperature=t, hard_weight=h)(logits, mx.nd.array(labels), x).asnumpy()

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    z, z_t = logits.asnumpy(), teacher(x).asnumpy()
    soft = -(np.exp(log_softmax(z_t / t)) * log_softmax(z / t)).sum(axis=1)
    hard = -log_softmax(z)[np.arange(8), labels]
    np.testing.assert_allclose(actual, (1 - h) * t * t * soft + h * hard, rtol=1e-5)


def test_the_command_line_runs_both_recipes(stage1, tmp_path):
    common = ["--epochs", "1", "--limit-batches", "2", "--batch-size", "16", "--no-progress"]
    assert main(common + ["--init-from", str(stage1), "--run-dir", str(tmp_path / "stage2")]) == 0
    assert main(common + ["--teacher", str(stage1), "--distill-temperature", "2", "--run-dir",
                          str(tmp_path / "student")]) == 0
    for run in ("stage2", "student"):
        record = json.loads((tmp_path / run / "log.jsonl").read_text().splitlines()[0])
        assert np.isfinite(record["train_loss"])
    log = (tmp_path / "stage2" / "train.log").read_text()
    assert "--init-from" in log and "loaded 18 of 18 parameters" in log
