"""bmx-run as a user meets it: the executable `pip install` ships (through the `bmx-run` console script's
shim, tools/bmx_run.py) and the CMake build; images prepared by the model's convention with class names from the file, greyscale for 1-channel
models, overrides, --benchmark without input, and the batch size chosen at run time."""
import json
import subprocess
import sys

import numpy as np
import pytest

from bmx_graphs import Graph, small_resnet
from bmxnet_ext import bmx_format, model_metadata
from cmake_builds import build_cli

pytestmark = pytest.mark.slow


def packaged_cli():
    """The console script's entry point run from this checkout: it finds and executes the packaged binary."""
    from tools import bmx_run

    try:
        bmx_run.executable()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    return [sys.executable, "-m", "tools.bmx_run"]


@pytest.fixture(scope="module", params=["packaged", "cmake"])
def cli(request):
    return packaged_cli() if request.param == "packaged" else [build_cli("runtime-host")]


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """A 1-channel 12x12 classifier with 10 outputs and the digits convention and class names."""
    rng = np.random.default_rng(5)
    g = Graph()
    x = g.input("data", (1, 1, 12, 12))
    w = g.param("fc_weight", rng.standard_normal((10, 144)).astype(np.float32))
    b = g.param("fc_bias", np.zeros(10, np.float32))
    g.output(g.op("FullyConnected", "fc", [x, w, b], num_hidden=10))
    path = tmp_path_factory.mktemp("digits") / "digits.bmx"
    bmx_format.write_bmx(str(path), g.symbol_text(), g.params, g.input_shapes, model_metadata.for_dataset("digits"))
    return str(path)


def run(cli, *args):
    proc = subprocess.run([*cli, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_colour_photo_into_a_grey_model_gives_named_classes(cli, digits_model, tmp_path, runtime):
    import cv2

    rng = np.random.default_rng(2)
    photo = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "photo.png"), photo[:, :, ::-1])  # OpenCV writes BGR
    report = json.loads(run(cli, digits_model, "--input", tmp_path / "photo.png", "--top", "3", "--json"))
    with runtime.Model(digits_model) as model:
        expected = model.classify(photo, top=3)
    assert [(t["class"], t["label"]) for t in report["top"]] == [(k, name) for k, _, name in expected]
    text = run(cli, digits_model, "--input", tmp_path / "photo.png", "--repeat", "1")
    assert "GRAY, stretched" in text and "(from the model file)" in text and "top-5:" in text


def test_flags_override_the_recorded_convention(cli, digits_model, tmp_path, runtime):
    import cv2

    image = np.random.default_rng(3).integers(0, 256, (12, 12), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "digit.png"), image)
    report = json.loads(run(cli, digits_model, "--input", tmp_path / "digit.png", "--mean", "0.5", "--std", "0.25",
                            "--json", "--top", "10"))
    with runtime.Model(digits_model) as model:
        model.set_convention(mean=(0.5,), std=(0.25,))
        expected = model.classify(image, top=10)
    assert [t["class"] for t in report["top"]] == [k for k, _, _ in expected]
    np.testing.assert_allclose([t["score"] for t in report["top"]], [s for _, s, _ in expected], rtol=1e-5)


def test_benchmark_and_batch_sizes(cli, tmp_path):
    rng = np.random.default_rng(4)
    g = small_resnet(rng, channels=64, size=16)
    model = tmp_path / "resnet.bmx"
    bmx_format.write_bmx(str(model), g.symbol_text(), g.params, g.input_shapes)
    report = json.loads(run(cli, model, "--benchmark", "--batch", "3", "--repeat", "2", "--json"))
    assert report["batch"] == 3 and report["input"] == "random" and report["median_ms"] > 0
    x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    out.mkdir()
    report = json.loads(run(cli, model, "--input", tmp_path / "x.npy", "--save-outputs", out, "--json"))
    assert report["batch"] == 2  # the array's batch size
    reference = g.reference({"data": x})
    np.testing.assert_allclose(np.load(out / "output_2.npy"), reference[2], rtol=1e-4, atol=1e-4)
    text = run(cli, model, "--benchmark", "--repeat", "1")
    assert "latency over 1 runs" in text and "top-" not in text


def test_usage_errors(cli, digits_model):
    for args, message in ((["--benchmark", "--input", "x.png"], "exactly one of --input FILE and --benchmark"),
                          (["--benchmark", "--batch", "0"], "--batch"),
                          (["--input", "x.png", "--mean", "1,2"], "one or three"),
                          (["--input", "x.png", "--scale", "-1"], "--scale must be positive")):
        proc = subprocess.run([*cli, digits_model, *args], capture_output=True, text=True)
        assert proc.returncode == 2 and message in proc.stderr and proc.stderr.startswith("bmx-run: error:")
