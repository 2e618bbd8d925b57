"""``python -m tools.experiments visualization`` in a tiny configuration: trained twins, every figure, the report."""
import json

import pytest

from tools.experiments.__main__ import main

TINY = ["--epochs", "1", "--lenet-epochs", "1", "--limit-batches", "2", "--batch-size", "16", "--dream-steps", "1",
        "--images", "1", "--lenet-dataset", "digits"]
FIGURES = ("lenet", "digits", "gradcam", "dream")


@pytest.mark.slow
def test_visualization_experiment_writes_its_figures_and_report(tmp_path):
    assert main(["visualization", "--out-dir", str(tmp_path), "--model-root", str(tmp_path / "store"),
                 "--v1-dir", str(tmp_path / "no-v1")] + TINY) == 0
    rows = json.loads((tmp_path / "visualization.json").read_text())
    assert [row["label"] for row in rows] == ["LeNet W32A32", "LeNet W1A1", "ResNet W32A32", "ResNet W1A1",
                                              "DenseNet W32A32", "DenseNet W1A1"]
    assert all(0 <= row["mean"] <= 1 and row["parameters"] > 0 for row in rows)
    table = (tmp_path / "visualization.md").read_text()
    for name in FIGURES:
        assert (tmp_path / f"visualization-{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"visualization-{name}.png" in table
    assert "no ImageNet figures" in table and not (tmp_path / "visualization-imagenet.png").exists()
    # --reuse-runs takes the finished runs instead of training again: same accuracies
    assert main(["visualization", "--out-dir", str(tmp_path), "--model-root", str(tmp_path / "store"),
                 "--v1-dir", str(tmp_path / "no-v1"), "--reuse-runs"] + TINY) == 0
    assert json.loads((tmp_path / "visualization.json").read_text())[1]["accuracies"] == rows[1]["accuracies"]
