"""FlipRatio on known updates: per layer, overall, averaged over steps."""
import mxnet as mx
import numpy as np
from mxnet import gluon

from bmxnet_ext import QConv2D, QDense
from bmxnet_ext.flip_ratio import FlipRatio


def _layers():
    conv = QConv2D(2, 1, in_channels=2, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                   kernel_constraint="weight_clip")          # 4 binary weights
    dense = QDense(3, in_units=4)                             # 12 binary weights (shorthand bits=1)
    fp = QDense(2, in_units=3, bits=32)                       # not tracked
    for layer in (conv, dense, fp):
        layer.initialize()
    conv.weight.set_data(mx.nd.array(np.float32([1, -1, 0.5, 0.0]).reshape(2, 2, 1, 1)))
    dense.weight.set_data(mx.nd.ones((3, 4)))
    params = {**conv.collect_params(), **dense.collect_params(), **fp.collect_params()}
    return conv, dense, fp, params


def test_flip_ratio_counts_sign_changes_per_layer_and_overall():
    conv, dense, fp, params = _layers()
    flips = FlipRatio(params)
    assert [p.name for p in flips.params] == [conv.weight.name, dense.weight.name]
    assert flips.get() == ("flip_ratio", 0.0)
    # step 1: conv flips 1 of 4 (-0.0 stays +1, 0.5 -> 0.25 keeps its sign); dense flips 3 of 12
    conv.weight.set_data(mx.nd.array(np.float32([-1, -1, 0.25, -0.0]).reshape(2, 2, 1, 1)))
    w = np.ones((3, 4), np.float32)
    w[0, :3] = -1
    dense.weight.set_data(mx.nd.array(w))
    fp.weight.set_data(-fp.weight.data())
    flips.update()
    assert flips.last() == {conv.weight.name: 0.25, dense.weight.name: 0.25, "overall": 4 / 16}
    # step 2: nothing changes in conv; dense flips all 12
    dense.weight.set_data(mx.nd.array(-w))
    flips.update()
    assert flips.last()["overall"] == 12 / 16
    assert flips.get() == ("flip_ratio", (4 / 16 + 12 / 16) / 2)
    assert flips.per_layer() == {conv.weight.name: 0.125, dense.weight.name: (0.25 + 1.0) / 2}
    flips.reset()
    assert flips.get()[1] == 0.0 and flips.per_layer()[dense.weight.name] == 0.0


def test_flip_ratio_of_uninitialized_parameters_starts_at_the_first_update():
    net = gluon.nn.HybridSequential()
    net.add(QDense(3))
    flips = FlipRatio(net.collect_params())
    net.initialize()
    net(mx.nd.ones((1, 5)))
    flips.update()  # records the signs only
    assert flips.num_inst == 0
    w = net[0].weight.data()
    net[0].weight.set_data(1 - 2 * (w >= 0))  # every sign changes
    flips.update()
    assert flips.get()[1] == 1.0
