"""The converter's operator fusion (tools/model_converter/fuse.py): which nodes merge, that the fused model still
gives the trained model's outputs, and that a fused node that does not reproduce the unfused ones is refused."""
import json
import os

import mxnet as mx
import pytest

from bmxnet_ext import ops
from model_zoo import get_model
from tools.model_converter import VerificationError, convert_block
from tools.model_converter.fuse import fuse, verify_fusion
from tools.model_converter.graph import read_mxnet_model
from tools.model_converter.layers import collapse_quantized_layers
from tools.model_converter.rewrite import rewrite
from tools.model_converter.writers import to_mxnet_symbol

from test_convert import assert_converted_matches, initialized

pytestmark = pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")


def written_ops(report):
    symbol = next(f for f in report.files if f.endswith("-symbol.json"))
    with open(os.path.join(report.output_dir, symbol)) as f:
        return [n["op"] for n in json.load(f)["nodes"] if n["op"] != "null"]


def test_lenet_binary_layers_are_one_call_each(tmp_path, rng):
    net = initialized(get_model("lenet"), (2, 1, 28, 28), rng)
    report = assert_converted_matches(net, (2, 1, 28, 28), tmp_path, rng)
    # the float tanh moves after the max pooling: tanh(max) = max(tanh), on a quarter of the values
    assert written_ops(report) == ["Convolution", "Pooling", "Activation", "BmxBinaryConv2D", "BmxBinaryDense",
                                   "FullyConnected"]
    assert [(f.ops, f.reordered) for f in report.fusions] == [
        (["Activation(tanh)", "Pooling(max)"], True),
        (["BmxPack", "BmxBinaryConv2D", "Pooling(max)"], False),
        (["Flatten", "BmxPack", "BmxBinaryDense", "Activation(tanh)"], False)]
    assert "fused: 7 operators into 2" in report.format() and "reordered: tanh after max pooling" in report.format()


def test_resnet18_residual_additions_and_single_reader_packs_fuse(tmp_path, rng):
    net = initialized(get_model("resnet18"), (1, 3, 32, 32), rng)
    report = assert_converted_matches(net, (1, 3, 32, 32), tmp_path, rng)
    written = written_ops(report)
    assert "elemwise_add" not in written and written.count("BmxBinaryConv2D") == 20
    # a pack read by a unit's first convolution and its shortcut stays one BmxPack: 4 of the 8 units
    assert written.count("BmxPack") == 4
    assert all(f.bit_exact for f in report.fusions)


def test_exact_mode_fuses_only_bit_exact_steps(tmp_path, rng):
    net = initialized(get_model("lenet"), (1, 1, 28, 28), rng)
    report = assert_converted_matches(net, (1, 1, 28, 28), tmp_path, rng, exact=True)
    assert "Activation" in written_ops(report)[3:]  # the tanh after the dense layer stays MXNet's
    assert report.fusions and all(f.bit_exact for f in report.fusions)


def test_runtime_format_is_not_fused(tmp_path, rng):
    net = initialized(get_model("lenet"), (1, 1, 28, 28), rng)
    report = convert_block(net, output_dir=str(tmp_path / "bmx"), input_shape=(1, 1, 28, 28), output_format="bmx")
    assert report.fusions == []


def test_a_fused_node_that_differs_from_the_unfused_ones_is_refused(tmp_path, rng):
    net = initialized(get_model("lenet"), (1, 1, 28, 28), rng)
    net.hybridize()
    net(mx.nd.zeros((1, 1, 28, 28)))
    net.export(str(tmp_path / "m"))
    layers = collapse_quantized_layers(read_mxnet_model(str(tmp_path / "m-symbol.json"),
                                                        str(tmp_path / "m-0000.params")))
    graph = rewrite(layers).graph
    fused, fusions = fuse(graph)
    assert len([f for f in fusions if not f.reordered]) == 2 and len(fused.nodes) < len(graph.nodes)
    verify_fusion(to_mxnet_symbol(graph), to_mxnet_symbol(fused), fused, fusions, "data", (1, 1, 28, 28))
    conv = next(n for n in fused.nodes if n.op == "BmxBinaryConv2D")
    conv.attrs["act_type"] = "relu"  # a step the unfused graph does not take
    with pytest.raises(VerificationError, match="differs from the unfused operators"):
        verify_fusion(to_mxnet_symbol(graph), to_mxnet_symbol(fused), fused, fusions, "data", (1, 1, 28, 28))


def test_fusing_can_be_switched_off(tmp_path, rng):
    net = initialized(get_model("lenet"), (1, 1, 28, 28), rng)
    report = convert_block(net, output_dir=str(tmp_path / "plain"), input_shape=(1, 1, 28, 28), fuse=False)
    assert report.fusions == [] and written_ops(report).count("BmxPack") == 2
    assert "folded BatchNorm outputs equal MXNet's BatchNorm" in report.format()
