"""``python -m tools.web``: bad input ends in one error line and the documented exit code."""
import pytest

from bmxnet_ext.cli import run
from tools.web.__main__ import PROG, main


def test_bad_flag_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(PROG, main, ["serve", "--port", "70000"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == ("python -m tools.web: error: argument --port: expected a port in "
                                               "0..65535, got 70000 (see python -m tools.web --help)")
    with pytest.raises(SystemExit) as exit_info:
        run(PROG, main, ["models", "--model", "vgg"])
    assert exit_info.value.code == 2 and "argument --model: invalid choice: 'vgg'" in capsys.readouterr().err


def test_missing_model_source_is_one_line(tmp_path, capsys):
    """A source folder without the model's files (a missing folder is a usage error: tests/bad_inputs)."""
    (tmp_path / "empty").mkdir()
    code = run(PROG, main, ["models", "--models-dir", str(tmp_path / "models"), "--models-source",
                            str(tmp_path / "empty"), "--model", "lenet"])
    assert code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m tools.web: error: BMXNet v1 model file ")
    assert "binarized_mnist_64bit-symbol.json not found: pass --models-source" in lines[0]
