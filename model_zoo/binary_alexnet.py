"""Binary AlexNet (Hubara et al., "Binarized Neural Networks", NIPS 2016), as Larq Zoo builds it
(``larq_zoo/literature/binary_alex_net.py``).

Unlike the paper's models, *every* convolution and FC layer has 1-bit weights, the first and the last
included; only the first layer's input is not binarized (its MACs are 32-bit):

    conv 11x11/4, 64 (1-bit weights, real input, zero padding); max-pool 3x3/2; BN
    sign; conv 5x5, 192; max-pool 3x3/2; BN
    sign; conv 3x3, 384; BN
    sign; conv 3x3, 384; BN
    sign; conv 3x3, 256; max-pool 3x3/2; BN          -> (N, 256, 6, 6) at 224x224
    flatten; sign; FC 4096; BN;  sign; FC 4096; BN;  sign; FC classes; BN

Every BatchNorm has a fixed scale (``scale=False``) and latent weights are clipped to [-1, 1]
(``weight_clip``), as in the reference. Counts (Larq's summary
conventions): 61,827,776 1-bit and 20,944 32-bit parameters; 768,512,000 binary and 72,855,552 32-bit MACs
per 224x224 image. With the 10,472 BatchNorm running means (Keras counts beta, mean and variance of a
scale-free BatchNorm) that is Larq Zoo's published 61,859,192.
"""
from mxnet.gluon import HybridBlock, nn

from bmxnet_ext import QConv2D, QDense

from .common import activation, batch_norm
from .registry import register_model

__all__ = ["BinaryAlexNet", "binary_alexnet"]

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-3  # Keras' default
STE_CLIP = 1.0  # Larq's ste_sign


def _bn(channels, prefix):
    return batch_norm(channels, prefix=prefix, scale=False, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


class BinaryAlexNet(HybridBlock):
    """Larq Zoo's Binary AlexNet for 224x224 input (the flattened features are ``256 * 6 * 6``).

    Input ``(N, in_channels, 224, 224)``, output ``(N, classes)``. ``bits`` / ``bits_a`` apply to every
    convolution and FC layer (``bits_a`` not to the first layer's input).
    """

    def __init__(self, classes=1000, bits=1, bits_a=1, pad_value=None, in_channels=3, **kwargs):
        super().__init__(**kwargs)
        sign = dict(gradient_cancel_threshold=STE_CLIP)
        clip = dict(kernel_constraint="weight_clip" if bits == 1 else None)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(QConv2D(64, 11, strides=4, padding=4, in_channels=in_channels, bits=bits,
                                      pad_value=0.0, prefix="conv1_", **clip),
                              nn.MaxPool2D(3, strides=2), _bn(64, "bn1_"))
            channels = 64
            for index, (width, kernel, pool) in enumerate(
                    [(192, 5, True), (384, 3, False), (384, 3, False), (256, 3, True)], start=2):
                self.features.add(activation(bits_a, **sign),
                                  QConv2D(width, kernel, padding=kernel // 2, in_channels=channels, bits=bits,
                                          pad_value=pad_value, prefix=f"conv{index}_", **clip))
                if pool:
                    self.features.add(nn.MaxPool2D(3, strides=2))
                self.features.add(_bn(width, f"bn{index}_"))
                channels = width
            self.features.add(nn.Flatten())
            self.output = nn.HybridSequential(prefix="")
            units = channels * 6 * 6
            for index, width in enumerate([4096, 4096, classes], start=6):
                self.output.add(activation(bits_a, **sign),
                                QDense(width, in_units=units, bits=bits, prefix=f"fc{index}_", **clip),
                                _bn(width, f"bn{index}_"))
                units = width

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


@register_model
def binary_alexnet(classes=1000, bits=1, bits_a=1, **kwargs):
    """Binary AlexNet: 61,848,720 parameters, 61,827,776 of them 1-bit (Larq Zoo: 36.30 % top-1)."""
    return BinaryAlexNet(classes=classes, bits=bits, bits_a=bits_a, **kwargs)
