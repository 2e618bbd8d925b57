"""``bmx-run`` (the packaged native executable) refuses bad input with one line ``bmx-run: error: ...``: exit
code 2 for a bad flag or flag value, 1 for a missing or unusable file; paths named by flags are checked
before the model is loaded, and nothing is written. No MXNet in the processes, so each case takes
milliseconds."""
import os
import subprocess

import mxnet as mx
import numpy as np
import pytest
from bad_inputs.conftest import snapshot

from bmxnet_ext import bmx_format, model_metadata


@pytest.fixture(scope="module")
def bmx_run():
    from tools import bmx_run as shim

    try:
        return shim.executable()
    except FileNotFoundError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A 1-channel 12x12 classifier with 10 outputs and the digits class names."""
    rng = np.random.default_rng(0)
    symbol = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=10, name="fc")
    params = {"fc_weight": rng.standard_normal((10, 144)).astype(np.float32), "fc_bias": np.zeros(10, np.float32)}
    path = str(tmp_path_factory.mktemp("model") / "digits.bmx")
    bmx_format.write_bmx(path, symbol.tojson(), params, {"data": (1, 1, 12, 12)}, model_metadata.for_dataset("digits"))
    return path


@pytest.mark.parametrize("args, code, fragments", [
    ([], 2, ["MODEL is required", "--help"]),
    (["--benchmark", "--frob"], 2, ["unknown option --frob"]),
    (["--benchmark", "--threads", "0"], 2, ["--threads", "'0'"]),
    (["--benchmark", "--repeat", "1e3"], 2, ["--repeat", "'1e3'"]),
    (["--benchmark", "--mean", "nan"], 2, ["--mean", "'nan'"]),
    (["--benchmark", "--mean", "1,2,3"], 2, ["--mean/--std need 1 value for this model"]),
    (["--benchmark", "--input", "x.npy"], 2, ["exactly one of --input FILE and --benchmark"]),
    (["--input", "folder"], 1, ["--input 'folder' is a folder"]),
    (["--input", "missing.npy"], 1, ["--input 'missing.npy' does not exist"]),
    (["--benchmark", "--labels", "folder"], 1, ["--labels 'folder' is a folder"]),
    (["--benchmark", "--labels", "three.txt"], 1, ["'three.txt' holds 3 class names", "10 classes"]),
    (["--input", "x.npy", "--save-outputs", "no/such"], 1, ["--save-outputs 'no/such' does not exist"]),
    (["--input", "x.npy", "--save-outputs", "x.npy"], 1, ["--save-outputs 'x.npy' is a file"]),
])
def test_bad_bmx_run(bmx_run, model, tmp_path, args, code, fragments):
    (tmp_path / "folder").mkdir()
    (tmp_path / "three.txt").write_text("zero\none\ntwo\n")
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 12, 12), np.float32))
    before = snapshot(tmp_path)
    argv = [bmx_run, *([model] if args else []), *args]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bmx-run: error: "), proc.stderr
    assert proc.returncode == code, (proc.returncode, lines[0])
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert proc.stdout == "" and snapshot(tmp_path) == before


def test_matching_labels_and_outputs_still_run(bmx_run, model, tmp_path):
    (tmp_path / "ten.txt").write_text("".join(f"digit {i}\n" for i in range(10)))
    np.save(tmp_path / "x.npy", np.ones((1, 1, 12, 12), np.float32))
    proc = subprocess.run([bmx_run, model, "--input", "x.npy", "--labels", "ten.txt", "--save-outputs", ".",
                           "--repeat", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "digit " in proc.stdout and os.path.exists(tmp_path / "output_0.npy")


@pytest.mark.parametrize("values, shape, dtype, fragments", [
    ({(0, 0, 3, 4): np.nan, (0, 0, 11, 0): np.nan}, (1, 1, 12, 12), np.float32,
     ["holds 2 NaN or infinite values", "first at index (0, 0, 3, 4)"]),
    ({(0, 7, 1): -np.inf}, (1, 12, 12), np.float32, ["holds 1 NaN or infinite value ", "first at index (0, 7, 1)"]),
    ({(0, 0, 0, 5): 1e300}, (1, 1, 12, 12), np.float64, ["holds 1 NaN or infinite value ", "(0, 0, 0, 5)"]),
])
def test_non_finite_input_runs_with_a_warning(bmx_run, model, tmp_path, values, shape, dtype, fragments):
    """NaN or infinities in an --input array (a float64 beyond float32's range included) run as MXNet runs them
    (the runtime's NaN semantics are tested through bmx-run), but not silently: one warning line on stderr
    names the file, the count and the first index, and the scores are still printed."""
    x = np.zeros(shape, dtype)
    for index, value in values.items():
        x[index] = value
    np.save(tmp_path / "bad.npy", x)
    proc = subprocess.run([bmx_run, model, "--input", "bad.npy"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert lines[0].startswith("bmx-run: warning: --input 'bad.npy' holds "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "top-" in proc.stdout, proc.stdout
