"""XNOR-Net (Rastegari et al., "XNOR-Net: ImageNet Classification Using Binary Convolutional Neural
Networks", ECCV 2016), as Larq Zoo builds it (``larq_zoo/literature/xnornet.py``).

AlexNet-based; binary weights are scaled per output channel by ``mean |W|`` (``scaling "xnor"``), latent
weights clipped to [-1, 1] (``weight_clip``):

    conv 11x11/4, 96 (FP, no bias); BN; ReLU; max-pool 3x3/2; BN
    sign; conv 5x5, 256; max-pool 3x3/2; BN
    sign; conv 3x3, 384; BN
    sign; conv 3x3, 384; BN
    sign; conv 3x3, 256; max-pool 3x3/2; BN          -> (N, 256, 6, 6) at 224x224
    sign; conv 6x6 (valid), 4096; BN                  -> (N, 4096, 1, 1)
    sign; conv 1x1, 4096; BN; ReLU; flatten; FC classes (FP, no bias)

Every BatchNorm has a fixed scale. Counts (Larq's summary conventions): 58,236,928 1-bit and 4,150,176
32-bit parameters; 1,025,744,896 binary and 113,379,328 32-bit MACs per 224x224 image. With the 9,664
BatchNorm running means that is Larq Zoo's published 62,396,768.
"""
from mxnet.gluon import HybridBlock, nn

from .common import activation, batch_norm, qconv
from .registry import register_model

__all__ = ["XNORNet", "xnornet"]

BN_MOMENTUM = 0.9
STE_CLIP = 1.0  # Larq's ste_sign


def _bn(channels, prefix, epsilon=1e-4):
    return batch_norm(channels, prefix=prefix, scale=False, momentum=BN_MOMENTUM, epsilon=epsilon)


class XNORNet(HybridBlock):
    """Larq Zoo's XNOR-Net for 224x224 input (the 6x6 convolution consumes the whole 6x6 feature map).

    Input ``(N, in_channels, 224, 224)``, output ``(N, classes)``. ``bits`` / ``bits_a`` apply to the six
    binary convolutions; the first convolution and the classifier are full precision.
    """

    def __init__(self, classes=1000, bits=1, bits_a=1, pad_value=None, in_channels=3, **kwargs):
        super().__init__(**kwargs)
        sign = dict(gradient_cancel_threshold=STE_CLIP)
        binary = dict(scaling="xnor", kernel_constraint="weight_clip")
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(96, 11, strides=4, padding=4, use_bias=False, in_channels=in_channels,
                                        prefix="conv1_"),
                              _bn(96, "bn1_", epsilon=1e-5), nn.Activation("relu"), nn.MaxPool2D(3, strides=2),
                              _bn(96, "bn1b_"))
            channels = 96
            layers = [(256, 5, True), (384, 3, False), (384, 3, False), (256, 3, True)]
            for index, (width, kernel, pool) in enumerate(layers, start=2):
                self.features.add(activation(bits_a, **sign),
                                  qconv(width, kernel, channels, bits, padding=kernel // 2, pad_value=pad_value,
                                        prefix=f"conv{index}_", **binary))
                if pool:
                    self.features.add(nn.MaxPool2D(3, strides=2))
                self.features.add(_bn(width, f"bn{index}_"))
                channels = width
            self.features.add(activation(bits_a, **sign),
                              qconv(4096, 6, channels, bits, prefix="conv6_", **binary),
                              _bn(4096, "bn6_"),
                              activation(bits_a, **sign),
                              qconv(4096, 1, 4096, bits, prefix="conv7_", **binary),
                              _bn(4096, "bn7_", epsilon=1e-3),
                              nn.Activation("relu"))
            self.output = nn.Dense(classes, use_bias=False, in_units=4096, prefix="fc8_")

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


@register_model
def xnornet(classes=1000, bits=1, bits_a=1, **kwargs):
    """XNOR-Net: 62,387,104 parameters, 58,236,928 of them 1-bit (Larq Zoo: 44.96 % top-1)."""
    return XNORNet(classes=classes, bits=bits, bits_a=bits_a, **kwargs)
