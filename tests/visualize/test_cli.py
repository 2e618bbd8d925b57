"""``bmxnet-visualize``: PNGs written atomically, run folders and zoo models, one error line for bad names."""
import json
import os
import re

import cv2
import numpy as np
import pytest

from bmxnet_ext.cli import run
from tools.visualize import load_model
from tools.visualize.__main__ import PROG, main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _cli(argv, capsys):
    """Exit code, stdout and stderr of ``bmxnet-visualize argv`` (argparse's usage errors exit via SystemExit)."""
    try:
        code = run(PROG, main, argv)
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def _png(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 50 and image.shape[1] > 50
    return image


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A finished bmxnet-train run: binary LeNet, one epoch of two batches on the offline digits."""
    from tools.train.cli import main as train_main

    folder = str(tmp_path_factory.mktemp("runs") / "lenet-digits")
    assert train_main(["--model", "lenet", "--dataset", "digits", "--epochs", "1", "--limit-batches", "2",
                       "--run-dir", folder, "--no-progress"]) == 0
    return folder


def test_compare_writes_one_png_with_a_row_per_model(tmp_path, capsys):
    out = tmp_path / "compare.png"
    code, stdout, _ = _cli(["compare", "--method", "grad-cam", "--model", "lenet", "--model", "lenet:bits=32",
                            "--image", "digits:0", "--image", "digits:7", "-o", str(out), "--no-progress"], capsys)
    assert code == 0 and f"wrote {out}" in stdout
    two_rows = _png(out)
    assert sorted(os.listdir(tmp_path)) == ["compare.png"]  # no temporary left behind
    single = tmp_path / "single.png"
    assert _cli(["visual-backprop", "--model", "lenet", "--image", "digits:0", "-o", str(single), "--no-progress"],
                capsys)[0] == 0
    one_row = _png(single)
    assert two_rows.shape[0] > 1.5 * one_row.shape[0] and two_rows.shape[1] > 1.5 * one_row.shape[1]


def test_deep_dream_and_saliency_commands(tmp_path, capsys):
    out = tmp_path / "dream.png"
    code, stdout, _ = _cli(["deep-dream", "--model", "lenet:bits=32", "--objective", "class:3", "--objective",
                            "layer", "--steps", "3", "--octaves", "2", "-o", str(out), "--no-progress"], capsys)
    assert code == 0 and "class 3: objective" in stdout
    _png(out)
    image = tmp_path / "digit.png"
    cv2.imwrite(str(image), np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (30, 1)))
    out = tmp_path / "saliency.png"
    assert _cli(["saliency", "--model", "lenet", "--image", str(image), "--target", "2", "-o", str(out),
                 "--no-progress"], capsys)[0] == 0
    _png(out)


def test_run_folder_model_uses_its_args_and_export(run_folder, tmp_path, capsys):
    model = load_model(run_folder)
    assert model.input_shape == (1, 28, 28) and model.label == "lenet W1A1 (digits)"
    assert model.class_names[3] == "3"
    code, stdout, _ = _cli(["layers", "--model", run_folder], capsys)
    assert code == 0
    stages = [line.split()[1] for line in stdout.splitlines() if line.startswith("*")]
    assert stages == ["activation0", "qactivation0", "batchnorm1", "pooling1"]
    out = tmp_path / "run.png"
    assert _cli(["visual-backprop", "--model", run_folder, "--image", "digits:3", "--layers",
                 "qactivation0,pooling1", "-o", str(out), "--no-progress"], capsys)[0] == 0
    _png(out)


def test_an_incomplete_run_folder_is_one_error_line(run_folder, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    with open(os.path.join(run_folder, "args.json")) as f:
        (broken / "args.json").write_text(json.dumps(json.load(f)))
    code, _, err = _cli(["layers", "--model", str(broken)], capsys)
    assert code == 1
    assert err.count("\n") == 1
    assert "is not a finished bmxnet-train run folder: missing model-symbol.json, model-0000.params" in err


@pytest.mark.parametrize("argv, expected", [
    (["layers", "--model", "lenett"], "zoo models: alexnet, "),
    (["layers", "--model", "lenet:bits=x"], "Expected model options like 'bits=32'"),
    (["visual-backprop", "--model", "lenet", "--image", "digits:0", "--layers", "pooling1,pool9"],
     "got 'pool9'; valid names (with or without the model prefix): convolution0, activation0, pooling0,"),
    (["grad-cam", "--model", "lenet", "--image", "digits:0", "--layers", "fc"], "valid names"),
    (["deep-dream", "--model", "lenet", "--objective", "filter:pooling1:64"], r"F in [0, 64)"),
    (["saliency", "--model", "lenet", "--image", "nope.png"], "No image file 'nope.png'; expected a file path, "
                                                              "sklearn:china.jpg, sklearn:flower.jpg or digits:N"),
    (["visual-backprop", "--model", "lenet", "--image", "digits:0", "--target", "1"], "--target applies to"),
    (["deep-dream", "--model", "lenet", "--objective", "class:3", "--steps", "0"], "expected a positive integer"),
])
def test_bad_input_is_one_error_line_listing_what_is_valid(tmp_path, capsys, argv, expected):
    output = [] if argv[0] == "layers" else ["-o", str(tmp_path / "out.png")]
    code, _, err = _cli(argv + output, capsys)
    assert code in (1, 2)
    assert re.match(rf"{PROG}( [a-z-]+)?: error: ", err) and err.count("\n") == 1
    assert expected in err
    assert not (tmp_path / "out.png").exists()
