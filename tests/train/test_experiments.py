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
           "densenet": ["--configs", "4x1,2x2"], "bottleneck": [], "precision": ["--precisions", "W1A1,W32A32"]}


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
