"""summary(): totals against hand-computed values on LeNet, the paper's model sizes, errors, the CLI."""
import json
import math
import os

import pytest
from mxnet.gluon import nn

from bmxnet_ext import summary
from model_zoo import default_input_shape, get_model
from tools import summary as summary_cli


def ls_h(num_bytes):
    """Size as ``ls -lh`` prints it (the paper's Table 3 convention): MiB rounded up, one decimal below 10."""
    mib = num_bytes / 2 ** 20
    return math.ceil(mib * 10) / 10 if mib < 10 else math.ceil(mib)


def test_lenet_totals_by_hand():
    s = summary(get_model("lenet"), (1, 1, 28, 28), print_fn=None)
    conv0, bn = 64 * 1 * 5 * 5 + 64, 2 * (64 + 64 + 1000)
    qconv, qfc, fc = 64 * 64 * 5 * 5, 1024 * 1000, 1000 * 10 + 10
    assert s.binary_params == qconv + qfc == 1_126_400
    assert s.fp_params == conv0 + bn + fc == 13_930
    assert s.total_params == 1_140_330
    assert s.state_params == 2 * (64 + 64 + 1000)
    assert s.float_bytes == 4 * (1_140_330 + 2_256)
    # 1-bit weights as 64-bit words along the 64 / 1024 input channels: exactly one bit each here.
    assert s.packed_bytes == (qconv + qfc) // 8 + 4 * (13_930 + 2_256)
    assert s.compression_ratio == pytest.approx(s.float_bytes / s.packed_bytes)
    # MACs per sample: conv0 24x24x64 outputs of 25, qconv 8x8x64 of 64*25, qfc 1000 of 1024, fc 10 of 1000.
    assert s.macs_by_bits == {32: 24 * 24 * 64 * 25 + 10 * 1000, 1: 8 * 8 * 64 * 64 * 25 + 1000 * 1024}
    assert s.binary_mac_share == pytest.approx(7_577_600 / 8_509_200)
    shapes = {layer.name: layer.output_shape for layer in s.layers}
    assert shapes["qconvolution0"] == (1, 64, 8, 8) and shapes["fullyconnected0"] == (1, 10)
    qfc_layer = next(layer for layer in s.layers if layer.name == "qfullyconnected0")
    assert (qfc_layer.weight_bits, qfc_layer.activation_bits, qfc_layer.memory_bytes) == (1, 1, 128_000)
    # The paper: 202 KB binary / 4.4 MB float (Table 2).
    assert ls_h(s.float_bytes) == 4.4 and math.ceil(s.packed_bytes / 1024) == 201


@pytest.mark.parametrize("name, packed, float_", [
    ("resnet18", 3.4, 45), ("resnet34_wide", 15, 329), ("resnet68_wide", 25, 635), ("inception_bn", 8.0, 44),
    ("densenet21_cifar", 1.9, 51), ("densenet21_k140", None, 44), ("densenet45", None, 250),
    ("alexnet", 22, None), ("resnet34_thin", 4.7, 84),
])
def test_model_sizes_reproduce_the_paper(name, packed, float_):
    """Table 2 / 3 / 4 sizes (resnet34_thin: the paper says 4.8 MB; see docs/model_zoo.md)."""
    s = summary(get_model(name), default_input_shape(name), print_fn=None)
    if packed is not None:
        assert ls_h(s.packed_bytes) == packed
    if float_ is not None:
        assert ls_h(s.float_bytes) == float_


def test_resnet18_packed_size_matches_the_released_file(bmxnet_v1_dir):
    s = summary(get_model("resnet18"), print_fn=None)
    released = os.path.getsize(os.path.join(bmxnet_v1_dir, "binarized_imagenet-resnet18-64bit-0040.params"))
    assert released == 3_553_824
    assert 0 < released - s.packed_bytes < 8 * 1024  # the difference is the params file's headers and names


def test_full_precision_twin_has_no_binary_part():
    s = summary(get_model("resnet18", bits=32), (1, 3, 64, 64), print_fn=None)
    assert s.binary_params == 0 and s.compression_ratio == 1.0 and s.binary_mac_share == 0.0


def test_deferred_shapes_need_an_input_shape():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3), nn.Dense(10))
    with pytest.raises(ValueError, match="input_shape"):
        summary(net, print_fn=None)
    s = summary(net, (2, 3, 10, 10), print_fn=None)
    assert s.total_params == 8 * 3 * 9 + 8 + 8 * 8 * 8 * 10 + 10
    assert s.layers[0].macs == {32: 8 * 8 * 8 * 27}


def test_wrong_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Cannot run LeNet on input_shape=\(1, 1, 32, 32\)"):
        summary(get_model("lenet"), (1, 1, 32, 32), print_fn=None)


def test_table_is_printed():
    lines = []
    summary(get_model("lenet"), (1, 1, 28, 28), print_fn=lines.append)
    text = "\n".join(lines)
    assert "qconvolution0" in text and "Total params            1,140,330" in text
    assert "Compression ratio" in text and "Binary share of MACs" in text


def test_cli_prints_and_writes_json(tmp_path, capsys):
    path = tmp_path / "lenet.json"
    assert summary_cli.main(["lenet", "--json", str(path)]) == 0
    assert "Total params" in capsys.readouterr().out
    totals = json.loads(path.read_text())
    assert totals["total_params"] == 1_140_330 and totals["binary_params"] == 1_126_400
    assert totals["input_shape"] == [1, 1, 28, 28]


def test_cli_rejects_unknown_models(capsys):
    with pytest.raises(SystemExit) as stop:
        summary_cli.main(["resnet19"])
    assert stop.value.code == 2
    assert "resnet18" in capsys.readouterr().err


class TwiceDense(nn.HybridBlock):
    """One Dense layer applied twice (shared weights)."""

    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.dense = nn.Dense(6, in_units=6)

    def hybrid_forward(self, F, x):
        return self.dense(self.dense(x))


def test_shared_layers_count_parameters_once_and_macs_per_call():
    s = summary(TwiceDense(), (1, 6), print_fn=None)
    assert s.total_params == 6 * 6 + 6 and len(s.layers) == 2
    assert s.macs_by_bits == {32: 2 * 36}


def test_initialized_hybridized_model_after_a_forward_pass():
    import mxnet as mx

    net = get_model("lenet")
    net.initialize()
    net.hybridize()
    net(mx.nd.zeros((1, 1, 28, 28)))
    assert summary(net, (1, 1, 28, 28), print_fn=None).total_params == 1_140_330
