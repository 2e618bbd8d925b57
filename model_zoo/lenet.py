"""Binary LeNet for MNIST, exactly BMXNet v1's released ``binarized_mnist`` network (paper Table 2).

Parameter names mirror the released symbol (``convolution0``, ``qconvolution0``, ``qfullyconnected0``, ...)
so its weights load by name.
"""
from mxnet.gluon import HybridBlock, nn

from .common import activation, batch_norm, qconv, qdense
from .registry import register_model

__all__ = ["LeNet", "lenet"]


class LeNet(HybridBlock):
    r"""Binary LeNet (Courbariaux/Hubara's BNN LeNet as trained by BMXNet v1).

    =========================  ==========================  =================
    layer                      precision                   output (28x28 in)
    =========================  ==========================  =================
    conv 5x5, 64, bias         full                        (N, 64, 24, 24)
    tanh, max-pool 2x2/2, BN                               (N, 64, 12, 12)
    sign, conv 5x5, 64         ``bits`` / ``bits_a``       (N, 64, 8, 8)
    BN, max-pool 2x2/2                                     (N, 64, 4, 4)
    sign, FC 1000              ``bits`` / ``bits_a``       (N, 1000)
    BN, tanh
    FC ``classes``, bias       full                        (N, classes)
    =========================  ==========================  =================

    1,140,330 parameters with 10 classes. Input ``(N, in_channels, 28, 28)``: the binary FC expects
    64 * 4 * 4 = 1024 inputs.
    """

    def __init__(self, classes=10, bits=1, bits_a=1, in_channels=1, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(
                nn.Conv2D(64, 5, in_channels=in_channels, prefix="convolution0_"),
                nn.Activation("tanh", prefix="activation0_"),
                nn.MaxPool2D(2, strides=2, prefix="pooling0_"),
                batch_norm(64, prefix="batchnorm0_"),
                activation(bits_a, prefix="qactivation0_"),
                qconv(64, 5, in_channels=64, bits=bits, prefix="qconvolution0_"),
                batch_norm(64, prefix="batchnorm1_"),
                nn.MaxPool2D(2, strides=2, prefix="pooling1_"),
                nn.Flatten(prefix="flatten0_"),
                activation(bits_a, prefix="qactivation1_"),
                qdense(1000, 64 * 4 * 4, bits, prefix="qfullyconnected0_"),
                batch_norm(1000, prefix="batchnorm2_"),
                nn.Activation("tanh", prefix="activation1_"))
            self.output = nn.Dense(classes, in_units=1000, prefix="fullyconnected0_")

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


@register_model(input_shape=(1, 28, 28))
def lenet(classes=10, bits=1, bits_a=1, in_channels=1, **kwargs):
    """Binary LeNet for 28x28 MNIST digits (paper Table 2: 99.3 %, 202 KB binary / 4.4 MB float)."""
    return LeNet(classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)
