"""What the converter records besides the graph (input convention, class names, from args.json / v1 / flags),
zoo exports that carry their input shape, quiet output, and the error of a converted model loaded without
``import bmxnet_ext``."""
import json
import os
import subprocess
import sys

import mxnet as mx
import pytest

from bmxnet_ext import bmx_format, model_metadata
from model_zoo import get_model
from tools.model_converter import convert_files
from tools.model_converter.__main__ import main
from tools.model_converter.graph import guess_input_shape, read_mxnet_model
from tools.model_converter.writers import IMPORT_HINT


def export_lenet(folder, rng, record_args=None):
    net = get_model("lenet")
    net.initialize(mx.init.Uniform(1.0))
    for name, param in net.collect_params().items():
        if name.endswith("running_var"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 2.0, param.shape)))
    net.hybridize()
    net(mx.nd.zeros((1, 1, 28, 28)))
    net.export(str(folder / "model"), 0)
    if record_args is not None:
        (folder / "args.json").write_text(json.dumps(record_args))
    return str(folder / "model-symbol.json"), str(folder / "model-0000.params")


def test_training_run_args_give_the_convention_and_labels(tmp_path, rng):
    run = tmp_path / "run"
    run.mkdir()
    files = export_lenet(run, rng, {"dataset": "digits", "preprocessing": model_metadata.training_record("digits")})
    report = convert_files(*files, output_dir=str(tmp_path / "bmx"), output_format="bmx")
    meta = bmx_format.read_bmx(str(tmp_path / "bmx" / "model.bmx")).metadata
    assert meta == model_metadata.for_dataset("digits")
    assert meta.color == "GRAY" and meta.labels == tuple("0123456789") and meta.scale == pytest.approx(1 / 255)
    assert any("args.json" in note for note in report.notes)
    convert_files(*files, output_dir=str(tmp_path / "mx"))
    assert model_metadata.read_metadata_file(str(tmp_path / "mx" / "model-metadata.json")) == meta


def test_flags_replace_recorded_fields(tmp_path, rng, capsys):
    run = tmp_path / "run"
    run.mkdir()
    files = export_lenet(run, rng, {"dataset": "mnist"})  # an older run: convention from the dataset name
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"digit {i}\n" for i in range(10)))
    assert main([*files, "-o", str(tmp_path / "out"), "--format", "bmx", "--mean", "0.5", "--std", "0.25",
                 "--scale", "1", "--labels", str(labels)]) == 0
    meta = bmx_format.read_bmx(str(tmp_path / "out" / "model.bmx")).metadata
    assert (meta.mean, meta.std, meta.scale, meta.color) == ((0.5,), (0.25,), 1.0, "GRAY")
    assert meta.labels == tuple(f"digit {i}" for i in range(10))
    assert "mean, scale, std given" in capsys.readouterr().out


def test_no_metadata_without_a_source(tmp_path, rng):
    files = export_lenet(tmp_path, rng)
    convert_files(*files, output_dir=str(tmp_path / "out"), output_format="bmx")
    assert bmx_format.read_bmx(str(tmp_path / "out" / "model.bmx")).metadata is None


def test_zoo_exports_record_their_input_shape(tmp_path):
    net = get_model("resnet18")
    net.initialize()
    net.hybridize()
    net(mx.nd.zeros((1, 3, 224, 224)))
    net.export(str(tmp_path / "r18"), 0)
    graph = read_mxnet_model(str(tmp_path / "r18-symbol.json"), str(tmp_path / "r18-0000.params"))
    symbol = mx.sym.load(str(tmp_path / "r18-symbol.json"))
    assert guess_input_shape(graph, symbol) == ((1, 3, 224, 224), "recorded in the export")


def test_command_line_prints_no_mxnet_log_lines(tmp_path, rng, capfd):
    """Shape guessing (infer_shape on wrong sizes) and verification (binding) stay silent."""
    symbol_file, params_file = export_lenet(tmp_path, rng)
    graph = json.load(open(symbol_file))
    for node in graph["nodes"]:
        node.get("attrs", {}).pop("__shape__", None)  # an export without a recorded shape: guessed
    json.dump(graph, open(symbol_file, "w"))
    capfd.readouterr()
    assert main([symbol_file, params_file, "-o", str(tmp_path / "out")]) == 0
    out, err = capfd.readouterr()
    assert "guessed from the first layer" in out
    assert "infer_shape error" not in out and "graph_executor" not in err and "[" not in err


def test_loading_without_bmxnet_ext_names_the_import(tmp_path, rng):
    files = export_lenet(tmp_path, rng)
    convert_files(*files, output_dir=str(tmp_path / "out"))
    prefix = str(tmp_path / "out" / "model")
    code = ("import mxnet as mx\n"
            f"mx.gluon.SymbolBlock.imports({prefix + '-symbol.json'!r}, ['data'], {prefix + '-0000.params'!r})\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ""}, cwd=str(tmp_path))
    assert proc.returncode != 0 and IMPORT_HINT in proc.stderr and "import bmxnet_ext" in proc.stderr
    net = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")  # imported here
    assert net(mx.nd.array(rng.standard_normal((3, 1, 28, 28)))).shape == (3, 10)
