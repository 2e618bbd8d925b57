"""Layers found in the traced graph: one per quantized layer, stages per resolution, names with or without prefix."""
import mxnet as mx
import numpy as np
import pytest

from model_zoo import densenet
from tools.visualize import LayerNameError, VisualModel, layers_of, stage_layers
from tools.visualize.graph import Probe, find_layers

from .conftest import TINY_SHAPE, tiny_resnet


def test_a_quantized_layer_is_one_layer_named_by_its_block():
    layers = tiny_resnet(1).layers
    names = [layer.name for layer in layers]
    # the STE's BlockGrad arithmetic, the weight sign and the -1 padding do not appear as layers of their own
    assert names[:6] == ["bn_data", "conv0", "stage1_unit1_bn1", "stage1_unit1_qactivation0", "stage1_unit1_conv1",
                         "stage1_unit1_bn2"]
    assert not any("blockgrad" in name or "pad" in name for name in names)
    kinds = {layer.name: layer.kind for layer in layers}
    assert kinds["stage1_unit1_qactivation0"] == "activation" and kinds["stage1_unit1_conv1"] == "convolution"
    assert {layer.shape[2] for layer in layers} == {16, 8}  # the 1 x 1 pooled map is no feature map


def test_float_twin_has_the_same_stages_with_relu_where_the_binary_net_has_sign():
    binary = [layer.name for layer in stage_layers(tiny_resnet(1).layers)]
    float_twin = [layer.name for layer in stage_layers(tiny_resnet(32).layers)]
    assert binary == ["stage2_unit1_qactivation0", "relu1"]
    assert float_twin == ["stage2_unit1_relu0", "relu1"]


def test_densenet_stages_are_the_activations_that_open_each_transition():
    mx.random.seed(0)
    net = densenet(4, [1, 1, 1], thumbnail=True, in_channels=1, classes=10)
    net.initialize()
    model = VisualModel(net=net, label="dense", input_shape=(1, 16, 16))
    assert [layer.name for layer in stage_layers(model.layers)] == ["transition1_qactivation0",
                                                                   "transition2_qactivation0", "relu1"]
    assert [layer.shape[1:] for layer in stage_layers(model.layers)] == [(12, 16, 16), (16, 8, 8), (20, 4, 4)]


def test_names_work_with_and_without_the_prefix_and_bad_ones_list_the_valid():
    model = tiny_resnet(1)
    prefix = model.net.prefix
    (plain,), (prefixed,), (node,) = (find_layers(model.layers, [name]) for name in
                                      ("relu1", prefix + "relu1", prefix + "relu1_fwd_output"))
    assert plain == prefixed == node
    with pytest.raises(LayerNameError) as error:
        find_layers(model.layers, ["relu9"])
    message = str(error.value)
    assert "\n" not in message and all(layer.name in message for layer in model.layers)


@pytest.mark.parametrize("differentiable", [False, True])
def test_probes_return_the_logits_and_maps_of_the_plain_network(rng, differentiable):
    model = tiny_resnet(1, hybridize=True)
    data = mx.nd.array(rng.uniform(0, 1, (2,) + TINY_SHAPE))
    layers = stage_layers(model.layers)
    logits, maps, zeros = Probe(model.net, layers, differentiable=differentiable).forward(data)
    np.testing.assert_array_equal(logits.asnumpy(), model.net(data).asnumpy())
    assert [m.shape for m in maps] == [(2,) + layer.shape[1:] for layer in layers]
    assert len(zeros) == (len(layers) if differentiable else 0)
    head = model.net.output[0](model.net.features(data))  # bn1 of the head, whose ReLU is the last stage
    np.testing.assert_allclose(maps[-1].asnumpy(), np.maximum(head.asnumpy(), 0), rtol=1e-5, atol=1e-6)


def test_layers_of_a_symbol_block_match_the_gluon_net(tmp_path):
    model = tiny_resnet(1, hybridize=True)
    model.net.export(str(tmp_path / "tiny"))
    imported = mx.gluon.SymbolBlock.imports(str(tmp_path / "tiny-symbol.json"), ["data"],
                                            str(tmp_path / "tiny-0000.params"))
    assert [(layer.name, layer.kind, layer.shape) for layer in layers_of(imported, TINY_SHAPE)] == \
        [(layer.name, layer.kind, layer.shape) for layer in model.layers]
