"""``bmxnet-convert`` refuses bad files, shapes and output paths with one line, and writes nothing.

Inputs: a binary LeNet exported by Gluon and a small BMXNet v1 model written here (data -> float Convolution ->
QActivation -> QConvolution with packed float64 words -> FullyConnected -> SoftmaxOutput); each case damages
one thing in a copy.
"""
import json
import os
import shutil

import mxnet as mx
import numpy as np
import pytest

from bmxnet_ext import bmxnet_v1, ops
from model_zoo import get_model
from tools.model_converter.__main__ import main

pytestmark = pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")

PROG = "bmxnet-convert"
LENET = (1, 1, 28, 28)
V1_SHAPE = (1, 1, 8, 8)


@pytest.fixture(scope="module")
def lenet_files(tmp_path_factory):
    """(symbol, params) of an exported binary LeNet, outside every test's working folder."""
    folder = tmp_path_factory.mktemp("lenet")
    net = get_model("lenet")
    net.initialize(mx.init.Xavier(), force_reinit=True)
    net.hybridize()
    net(mx.nd.zeros(LENET))
    net.export(str(folder / "lenet"), 0)
    return str(folder / "lenet-symbol.json"), str(folder / "lenet-0000.params")


def _v1_graph(qconv_filters=64, fc_hidden=10):
    def node(op, name, inputs=(), **attrs):
        return {"op": op, "name": name, "attrs": {k: str(v) for k, v in attrs.items()},
                "inputs": [[i, 0, 0] for i in inputs]}
    nodes = [node("null", "data"), node("null", "conv0_weight"), node("null", "conv0_bias"),
             node("Convolution", "conv0", (0, 1, 2), kernel="(3, 3)", num_filter=64),
             node("QActivation", "qact0", (3,), act_bit=1),
             node("null", "qconv0_weight"),
             node("QConvolution", "qconv0", (4, 5), kernel="(3, 3)", num_filter=qconv_filters, no_bias="True",
                  binarized_weights_only="True", act_bit=1, weight_bit=1),
             node("Flatten", "flat0", (6,)), node("null", "fc0_weight"), node("null", "fc0_bias"),
             node("FullyConnected", "fc0", (7, 8, 9), num_hidden=fc_hidden),
             node("null", "softmax_label"), node("SoftmaxOutput", "softmax", (10, 11))]
    return {"nodes": nodes, "arg_nodes": [0, 1, 2, 5, 8, 9, 11], "heads": [[12, 0, 0]]}


def _v1_params(rng):
    return {"arg:conv0_weight": rng.standard_normal((64, 1, 3, 3)).astype(np.float32),
            "arg:conv0_bias": rng.standard_normal(64).astype(np.float32),
            "arg:qconv0_weight": bmxnet_v1.pack_v1_words(rng.standard_normal(64 * 64 * 9)),
            "arg:fc0_weight": rng.standard_normal((10, 64 * 4 * 4)).astype(np.float32),
            "arg:fc0_bias": rng.standard_normal(10).astype(np.float32)}


def write_v1(folder, graph=None, params=None, rng=None):
    """Write a v1 model into ``folder``; returns (symbol, params) paths."""
    symbol_file, params_file = str(folder / "v1-symbol.json"), str(folder / "v1-0001.params")
    with open(symbol_file, "w") as f:
        json.dump(graph or _v1_graph(), f)
    arrays = params if params is not None else _v1_params(rng or np.random.default_rng(0))
    mx.nd.save(params_file, {k: mx.nd.array(v, dtype=v.dtype) for k, v in arrays.items()})
    return symbol_file, params_file


@pytest.fixture(scope="module")
def v1_files(tmp_path_factory):
    return write_v1(tmp_path_factory.mktemp("v1"))


def test_the_inputs_themselves_convert(lenet_files, v1_files, tmp_path, capsys):
    """The suite's inputs are valid: the failures below come from the one thing each case damages."""
    assert main([*lenet_files, "-o", str(tmp_path / "lenet"), "--input-shape", "1,1,28,28"]) == 0
    assert main([*v1_files, "-o", str(tmp_path / "v1"), "--input-shape", "1,1,8,8"]) == 0
    assert "1 binary layers" in capsys.readouterr().out


def _copy(files, folder):
    return [str(shutil.copy(path, folder / os.path.basename(path))) for path in files]


def _save_params(path, arrays):
    mx.nd.save(path, {k: mx.nd.array(v, dtype=v.dtype) for k, v in arrays.items()})


def _load_params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(path).items()}


# ---- input files ---------------------------------------------------------------------------------------------

def test_missing_symbol_file(bad, lenet_files):
    bad(main, ["absent-symbol.json", lenet_files[1], "-o", "out"], 1, "absent-symbol.json", "not found", prog=PROG)


def test_missing_params_file(bad, lenet_files):
    bad(main, [lenet_files[0], "absent-0000.params", "-o", "out"], 1, "absent-0000.params", "not found",
        prog=PROG)


def test_symbol_path_is_a_folder(bad, lenet_files, tmp_path):
    (tmp_path / "model-symbol.json").mkdir()
    bad(main, ["model-symbol.json", lenet_files[1], "-o", "out"], 1, "model-symbol.json", "is a folder", prog=PROG)


def test_params_path_is_a_folder(bad, lenet_files, tmp_path):
    (tmp_path / "model-0000.params").mkdir()
    bad(main, [lenet_files[0], "model-0000.params", "-o", "out"], 1, "model-0000.params", "is a folder", prog=PROG)


@pytest.mark.parametrize("text, fragment", [
    ("", "not an MXNet symbol JSON"),
    ("{\"nodes\": [", "not an MXNet symbol JSON"),
    ("[1, 2, 3]", "not an MXNet symbol JSON"),
    ("{\"heads\": [[0, 0, 0]]}", "not an MXNet symbol JSON"),
    ("{\"nodes\": [{\"op\": \"null\", \"name\": \"data\", \"inputs\": []}]}", "not an MXNet symbol JSON"),
    ("\udcff", "not an MXNet symbol JSON"),
])
def test_symbol_file_that_is_not_a_symbol(bad, lenet_files, tmp_path, text, fragment):
    (tmp_path / "bad-symbol.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    bad(main, ["bad-symbol.json", lenet_files[1], "-o", "out"], 1, "bad-symbol.json", fragment, prog=PROG)


def _edit_symbol(lenet_files, tmp_path, edit):
    symbol, params = _copy(lenet_files, tmp_path)
    graph = json.load(open(symbol))
    edit(graph)
    json.dump(graph, open(symbol, "w"))
    return os.path.basename(symbol), os.path.basename(params)


@pytest.mark.parametrize("edit, fragments", [
    (lambda g: g.update(heads=[[999, 0, 0]]), ["[999, 0]", "names no node"]),
    (lambda g: g.update(heads=[[-1, 0, 0]]), ["[-1, 0]", "names no node"]),
    (lambda g: g.update(heads=[]), ["no outputs"]),
    (lambda g: g["nodes"][-1].update(inputs=[[len(g["nodes"]) + 5, 0, 0]]), ["reads a later or nonexistent node"]),
    (lambda g: g["nodes"][-1].update(op="NoSuchOperator"), ["NoSuchOperator", "does not know"]),
    (lambda g: g["nodes"][-1].pop("op"), ["not an MXNet symbol JSON", "'op'"]),
    (lambda g: next(n for n in g["nodes"] if n["op"] == "Convolution")["attrs"].update(kernel="(x, y)"),
     ["MXNet cannot load the symbol", "lenet-symbol.json"]),
])
def test_corrupt_symbol_graph(bad, lenet_files, tmp_path, edit, fragments):
    symbol, params = _edit_symbol(lenet_files, tmp_path, edit)
    bad(main, [symbol, params, "-o", "out"], 1, *fragments, prog=PROG)


@pytest.mark.parametrize("damage", ["truncate", "empty", "random", "text"])
def test_unreadable_params(bad, lenet_files, tmp_path, damage):
    symbol, params = _copy(lenet_files, tmp_path)
    data = open(params, "rb").read()
    content = {"truncate": data[:len(data) // 2], "empty": b"",
               "random": np.random.default_rng(1).bytes(4096), "text": b"hello"}[damage]
    open(params, "wb").write(content)
    line = bad(main, [symbol, params, "-o", "out"], 1, "lenet-0000.params", "truncated or corrupt", prog=PROG)
    assert "Traceback" not in line and "Stack trace" not in line


def _edit_params(lenet_files, tmp_path, edit):
    symbol, params = _copy(lenet_files, tmp_path)
    arrays = _load_params(params)
    edit(arrays)
    _save_params(params, arrays)
    return symbol, params


def _first_weight(arrays):
    return next(k for k in arrays if k.endswith("weight"))


@pytest.mark.parametrize("value, count", [(np.nan, 1), (np.inf, 3), (-np.inf, 2), (1e39, 4)])
def test_non_finite_parameters_are_refused_by_name_and_count(bad, lenet_files, tmp_path, value, count):
    name = {}

    def poison(arrays):
        key = _first_weight(arrays)
        name["key"] = key
        array = arrays[key].astype(np.float64)
        array.reshape(-1)[:count] = value
        arrays[key] = array
    symbol, params = _edit_params(lenet_files, tmp_path, poison)
    bad(main, [symbol, params, "-o", "out", "--input-shape", "1,1,28,28"], 1, name["key"].split(":")[-1],
        f"holds {count} non-finite value", prog=PROG)


def test_params_with_a_stranger_array(bad, lenet_files, tmp_path):
    symbol, params = _edit_params(lenet_files, tmp_path,
                                  lambda a: a.update({"arg:stranger_weight": np.ones(3, np.float32)}))
    bad(main, [symbol, params, "-o", "out"], 1, "stranger_weight", "does not use", prog=PROG)


def test_params_missing_a_weight(bad, lenet_files, tmp_path):
    symbol, params = _edit_params(lenet_files, tmp_path, lambda a: a.pop(_first_weight(a)))
    bad(main, [symbol, params, "-o", "out"], 1, "exactly one data input", prog=PROG)


def test_params_of_the_wrong_shape(bad, lenet_files, tmp_path):
    symbol, params = _edit_params(lenet_files, tmp_path,
                                  lambda a: a.update({_first_weight(a): np.ones((3, 3), np.float32)}))
    bad(main, [symbol, params, "-o", "out", "--input-shape", "1,1,28,28"], 1, "(1, 1, 28, 28)", prog=PROG)


def test_wrong_classifier_shape_is_named_without_input_shape(bad, lenet_files, tmp_path):
    """Without --input-shape the export's recorded input is used, and the mismatch names the layer."""
    def wrong_classifier(arrays):
        key = [k for k in arrays if k.endswith("weight")][-1]
        arrays[key] = np.ones((arrays[key].shape[0], arrays[key].shape[1] + 7), np.float32)
    symbol, params = _edit_params(lenet_files, tmp_path, wrong_classifier)
    bad(main, [symbol, params, "-o", "out"], 1, "Symbol/params mismatch", "fullyconnected0_weight", "(10, 1007)",
        prog=PROG)


def test_params_of_another_model(bad, lenet_files, v1_files):
    bad(main, [lenet_files[0], v1_files[1], "-o", "out"], 1, "does not use", prog=PROG)


def test_params_saved_as_a_list(bad, lenet_files, tmp_path):
    mx.nd.save(str(tmp_path / "list.params"), [mx.nd.ones(3)])
    bad(main, [lenet_files[0], "list.params", "-o", "out"], 1, "named arrays", prog=PROG)


# ---- shapes and flags ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, fragments", [
    ("1000000,1,28,28", ["--input-shape", "elements", "smaller batch"]),
    ("0,1,28,28", ["--input-shape", "'0,1,28,28'"]),
    ("1,-1,28,28", ["--input-shape", "'1,-1,28,28'"]),
    ("abc", ["--input-shape", "'abc'"]),
    ("28", ["--input-shape", "'28'"]),
    ("1,,28", ["--input-shape", "'1,,28'"]),
])
def test_bad_input_shape_flag(bad, lenet_files, shape, fragments):
    bad(main, [*lenet_files, "-o", "out", "--input-shape", shape], 2, *fragments, prog=PROG)


def test_input_shape_the_model_refuses(bad, lenet_files):
    bad(main, [*lenet_files, "-o", "out", "--input-shape", "1,3,28,28"], 1, "(1, 3, 28, 28)", prog=PROG)


def test_verification_batch_beyond_memory_is_refused_before_allocation(bad, lenet_files):
    bad(main, [*lenet_files, "-o", "out", "--input-shape", "80000,1,28,28"], 1, "GiB", "--input-shape 1,1,28,28",
        prog=PROG)


@pytest.mark.parametrize("argv, fragments", [
    ([], ["required"]),
    (["only-one-file"], ["required"]),
    (["a-symbol.json", "a-0000.params"], ["-o/--output-dir", "required"]),
    (["a-symbol.json", "a-0000.params", "-o", "out", "--format", "onnx"], ["--format", "'onnx'"]),
    (["a-symbol.json", "a-0000.params", "-o", "out", "--bmxnet-v1", "maybe"], ["--bmxnet-v1", "'maybe'"]),
    (["a-symbol.json", "a-0000.params", "-o", "out", "--fast"], ["unrecognized arguments: --fast"]),
])
def test_bad_command_lines(bad, argv, fragments):
    bad(main, argv, 2, *fragments, prog=PROG)


def test_prefix_with_a_folder(bad, lenet_files):
    bad(main, [*lenet_files, "-o", "out", "--prefix", "a/b"], 1, "prefix", "'a/b'", prog=PROG)


@pytest.mark.parametrize("labels, count", [("imagenet1k", "1000"), ("three.txt", "3")])
def test_class_names_that_do_not_number_the_outputs(bad, lenet_files, tmp_path, labels, count):
    """LeNet has 10 outputs: 1000 or 3 class names would name its classes wrongly, and are refused."""
    (tmp_path / "three.txt").write_text("cat\ndog\nbird\n")
    bad(main, [*lenet_files, "-o", "out", "--labels", labels], 1, f"{count} class names", "10 outputs", "--labels",
        prog=PROG)


@pytest.mark.parametrize("labels, reason", [("missing.txt", "No such file"), ("folder", "Is a directory")])
def test_labels_that_are_no_file(bad, lenet_files, tmp_path, labels, reason):
    (tmp_path / "folder").mkdir()
    bad(main, [*lenet_files, "-o", "out", "--labels", labels], 1, f"--labels '{labels}'", reason, "imagenet1k",
        prog=PROG)


def test_v1_requested_for_a_gluon_model(bad, lenet_files):
    bad(main, [*lenet_files, "-o", "out", "--bmxnet-v1", "yes", "--input-shape", "1,1,28,28"], 1,
        "no QConvolution", prog=PROG)


def test_v1_model_without_input_shape(bad, v1_files):
    """A usage error (exit 2): a v1 model records no input shape, and the fix is a flag, named with an example."""
    bad(main, [*v1_files, "-o", "out"], 2, "BMXNet v1", "--input-shape 1,3,224,224", prog=PROG)


# ---- output paths --------------------------------------------------------------------------------------------

def test_existing_output_folder_without_force(bad, lenet_files, tmp_path):
    """A usage error (exit 2): the fix is a flag, as for bmxnet-train's run folder without --resume/--force."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    bad(main, [*lenet_files, "-o", "out"], 2, "already exists", "--force", prog=PROG)


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_output_path_that_is_a_file(bad, lenet_files, tmp_path, force):
    (tmp_path / "out").write_text("a file")
    bad(main, [*lenet_files, "-o", "out", *force], 1, "out", "file", prog=PROG)


def test_output_parent_missing(bad, lenet_files):
    bad(main, [*lenet_files, "-o", "no/such/out"], 1, "no/such", "does not exist", prog=PROG)


def test_output_parent_is_a_file(bad, lenet_files, tmp_path):
    (tmp_path / "blocker").write_text("")
    bad(main, [*lenet_files, "-o", "blocker/out"], 1, "blocker", "is a file", prog=PROG)


def test_json_into_a_missing_folder_is_refused_before_converting(bad, lenet_files):
    bad(main, [*lenet_files, "-o", "out", "--json", "reports/r.json"], 1, "reports", "does not exist", prog=PROG)


def test_json_onto_a_folder(bad, lenet_files, tmp_path):
    (tmp_path / "r.json").mkdir()
    bad(main, [*lenet_files, "-o", "out", "--json", "r.json"], 1, "r.json", "is a folder", prog=PROG)


def test_json_inside_the_output_folder(bad, lenet_files):
    bad(main, [*lenet_files, "-o", "out", "--json", "out/r.json"], 2, "inside the output folder", prog=PROG)


# ---- BMXNet v1 models ----------------------------------------------------------------------------------------

def _v1_case(tmp_path, graph=None, edit_params=None):
    params = _v1_params(np.random.default_rng(0))
    if edit_params:
        edit_params(params)
    return write_v1(tmp_path, graph=graph, params=params)


def _v1_argv(files):
    return [os.path.basename(files[0]), os.path.basename(files[1]), "-o", "out", "--input-shape", "1,1,8,8"]


def _graph_with(edit):
    graph = _v1_graph()
    edit(graph)
    return graph


def _node(graph, name):
    return next(n for n in graph["nodes"] if n["name"] == name)


@pytest.mark.parametrize("graph, fragments", [
    (_v1_graph(qconv_filters=32), ["qconv0", "QConvolution", "qconv0_weight", "(32, 64, 3, 3)"]),
    (_v1_graph(qconv_filters=128), ["qconv0", "64 input channels per word"]),
    (_v1_graph(qconv_filters=7), ["qconv0", "do not fit num_filter=7"]),
    (_v1_graph(fc_hidden=20), ["fc0", "FullyConnected", "fc0_weight"]),
    (_graph_with(lambda g: _node(g, "conv0")["attrs"].update(num_filter="32")), ["conv0", "conv0_weight"]),
    (_graph_with(lambda g: _node(g, "qconv0")["attrs"].pop("num_filter")), ["qconv0", "num_filter"]),
    (_graph_with(lambda g: _node(g, "qconv0")["attrs"].update(num_filter="-64")), ["qconv0", "num_filter"]),
    (_graph_with(lambda g: _node(g, "qconv0")["attrs"].update(binarized_weights_only="False")),
     ["qconv0", "binarized_weights_only"]),
    (_graph_with(lambda g: _node(g, "qconv0")["attrs"].update(weight_bit="2")), ["qconv0", "weight_bit=2"]),
    (_graph_with(lambda g: _node(g, "qact0")["attrs"].update(act_bit="2")), ["qact0", "act_bit=2"]),
    (_graph_with(lambda g: _node(g, "qconv0").update(inputs=[[4, 0, 0]])), ["qconv0", "weight input"]),
    (_graph_with(lambda g: _node(g, "flat0").update(op="NoSuchOp")), ["flat0", "unknown operator 'NoSuchOp'"]),
    (_graph_with(lambda g: g.update(heads=[[42, 0, 0]])), ["v1-symbol.json", "name no node"]),
    (_graph_with(lambda g: _node(g, "fc0").update(inputs=[[7, 0, 0], [80, 0, 0]])),
     ["v1-symbol.json", "nonexistent node"]),
])
def test_v1_symbol_disagreeing_with_its_params_names_the_layer(bad, tmp_path, graph, fragments):
    files = _v1_case(tmp_path, graph=graph)
    bad(main, _v1_argv(files), 1, *fragments, prog=PROG)


@pytest.mark.parametrize("edit, fragments", [
    (lambda p: p.pop("arg:qconv0_weight"), ["qconv0", "qconv0_weight", "missing"]),
    (lambda p: p.update({"arg:qconv0_weight": p["arg:qconv0_weight"].astype(np.float32)}), ["qconv0", "float64"]),
    (lambda p: p.update({"arg:qconv0_weight": p["arg:qconv0_weight"][:100]}), ["qconv0", "100 packed words"]),
    (lambda p: p.update({"weird:conv0_weight": p.pop("arg:conv0_weight")}), ["'weird:conv0_weight'"]),
    (lambda p: p["arg:conv0_weight"].reshape(-1).__setitem__(slice(0, 5), np.nan),
     ["conv0_weight", "holds 5 non-finite values"]),
])
def test_v1_params_that_do_not_fit(bad, tmp_path, edit, fragments):
    files = _v1_case(tmp_path, edit_params=edit)
    bad(main, _v1_argv(files), 1, *fragments, prog=PROG)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.99])
def test_corrupt_v1_params_give_the_reason_not_a_traceback_header(bad, tmp_path, cut):
    files = _v1_case(tmp_path)
    data = open(files[1], "rb").read()
    open(files[1], "wb").write(data[:int(len(data) * cut)])
    line = bad(main, _v1_argv(files), 1, "v1-0001.params", "truncated or corrupt", prog=PROG)
    assert not line.rstrip().endswith("Traceback (most recent call last):")
