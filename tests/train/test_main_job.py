"""The main job end to end in a tiny configuration (needs the converter and the built native operators)."""
import re

import pytest

pytest.importorskip("tools.model_converter")


@pytest.mark.slow
def test_main_job_trains_converts_runs_natively_and_compares(tmp_path, capsys):
    from bmxnet_ext import ops

    try:
        ops.load()
    except ImportError as err:
        pytest.skip(str(err))
    from tools.main_job import main

    assert main(["--epochs", "1", "--limit-batches", "3", "--latency-runs", "5", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for expected in ("Model size packed", "BmxBinaryDense", "smaller", "speed-up of the converted binary"):
        assert expected in out
    agreement = float(re.search(r"identical predictions on ([\d.]+) %", out).group(1))
    assert agreement >= 99.0  # float rounding in folded BatchNorms may flip a near-tie, nothing more
    assert (tmp_path / "converted").is_dir() and (tmp_path / "binary" / "learning_curves.png").is_file()
