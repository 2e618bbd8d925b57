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
    rows = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(converted|standalone) .*? ([\d.]+)% ", out, re.M)}
    assert abs(rows["standalone"] - rows["converted"]) <= 0.6  # the same graph: at most a near-tie differs
    top3 = re.search(r"top-3:\n((?:  +\d\. class .*\n){3})", out)
    assert top3 and all(line.split()[-1] in "0123456789" for line in top3.group(1).splitlines())
    assert list(tmp_path.glob("held-out-digit-*.png")) and list((tmp_path / "converted-bmx").glob("*.bmx"))
