"""Every experiment runs end to end in a tiny configuration and writes its table, plot and results."""
import json
import os

import pytest

from tools.experiments.__main__ import EXPERIMENTS, main
from tools.experiments.common import run_dir_for
from tools.train.fit import LOG_NAME
from tools.train.pipeline import build_model
from tools.experiments.models import small_densenet, small_resnet
from bmxnet_ext import QActivation
from bmxnet_ext.layers import _QConv

TINY = ["--epochs", "1", "--seeds", "0", "--limit-batches", "2", "--batch-size", "16"]
OPTIONS = {"clip": ["--thresholds", "0.25,1.0"], "scaling": ["--modes", "N,FB"],
           "densenet": ["--configs", "4x1,2x2"], "bottleneck": [], "precision": ["--precisions", "W1A1,W32A32"],
           "connections": ["--dataset", "digits"]}


def _epoch_log(run_dir):
    with open(os.path.join(run_dir, LOG_NAME)) as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(EXPERIMENTS) - {"visualization"}))  # tests/visualize/test_experiment.py
def test_experiment_writes_table_plot_and_results(tmp_path, name):
    assert main([name, "--out-dir", str(tmp_path)] + TINY + OPTIONS[name]) == 0
    table = (tmp_path / f"{name}.md").read_text()
    rows = json.loads((tmp_path / f"{name}.json").read_text())
    assert "**Protocol.**" in table and "1 epochs" in table and "seed in [0]" in table
    assert len(rows) == 2 and all(0 <= r["mean"] <= 1 and r["parameters"] > 0 for r in rows)
    for row in rows:
        assert f"| {row['label']} |" in table
    assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    # Each row reports its own run's final evaluation accuracy, and the variants really trained differently.
    logs = [_epoch_log(run_dir_for(str(tmp_path), name, row["label"], seed=0)) for row in rows]
    assert [row["accuracies"] for row in rows] == [[log[-1]["eval_accuracy"]] for log in logs]
    assert logs[0][-1]["train_loss"] != logs[1][-1]["train_loss"]


def _blocks(net, cls):
    found = [net] if isinstance(net, cls) else []
    for child in net._children.values():
        found += _blocks(child, cls)
    return found


def test_variant_settings_reach_every_quantized_layer():
    net = build_model(small_resnet(), classes=10, clip_threshold=0.3, scaling="backward")
    assert {a.threshold for a in _blocks(net, QActivation)} == {0.3}
    assert {c.scaling for c in _blocks(net, _QConv)} == {"backward"}
    dense = build_model(small_densenet(4, 2), classes=10)
    assert len(_blocks(dense, _QConv)) == 4 * 2 + 3  # 8 dense blocks + 3 transitions


def test_quick_shortens_the_protocol_and_progress_tells_the_time_left(tmp_path, capsys):
    from tools.experiments.__main__ import parse_args
    from tools.experiments.common import apply_quick

    args = apply_quick(parse_args(["connections", "--quick", "--seeds", "3,4,5", "--epochs", "9"]))
    assert (args.epochs, args.limit_batches, args.seeds, args.dataset) == (2, 25, [3], "mnist-test-split")
    assert apply_quick(parse_args(["clip", "--quick", "--epochs", "1", "--limit-batches", "5"])).limit_batches == 5
    assert main(["clip", "--out-dir", str(tmp_path), "--thresholds", "0.5,1.0", "--seeds", "0,1", "--epochs", "1",
                 "--limit-batches", "1", "--batch-size", "8"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    assert lines[0] == "[1/4] clip: t_clip=0.5, seed 0 ..."
    assert lines[-1].startswith("[4/4] eval accuracy ") and lines[-1].endswith("about 0 s left")
    assert " elapsed, about " in lines[1] and " left" in lines[1]


def test_connections_compares_the_two_families_at_a_matched_size():
    """Within 3 % of each other, as the paper's ResNet-18 (11.69 M) and DenseNet-21 (11.50 M)."""
    import mxnet as mx

    from tools.experiments.common import count_parameters

    sizes = []
    for model in (small_resnet(), small_densenet(24, 2)):
        net = build_model(model, classes=10, in_channels=1)
        net.initialize()
        net(mx.nd.zeros((1, 1, 28, 28)))
        sizes.append(count_parameters(net))
    assert sizes == [308_715, 301_211]
    assert abs(sizes[0] - sizes[1]) / sizes[0] < 0.03
