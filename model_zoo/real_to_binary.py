"""Real-to-Binary Net (Martinez et al., "Training Binary Neural Networks with Real-to-Binary Convolutions",
ICLR 2020): the final binary student, as Larq Zoo builds it (``larq_zoo/literature/real_to_bin_nets.py``,
``RealToBinNetBNNFactory``).

A ResNet-18 layout in which each binary 3x3 convolution has its own shortcut and a data-dependent
(squeeze-and-excite style) scaling of its output:

    c = BN(x);  y = QConv3x3(sign(c)) * sigmoid(FC(ReLU(FC(global-pool(c)))));  x -> PReLU(y) + shortcut(x)

The two FC layers (no bias) reduce the input channels by 8 and expand to the output channels; they are
1x1 convolutions of the pooled ``(N, C, 1, 1)`` map (the same weights and MACs). The
shortcut is the identity, or, where the width doubles, ``avg-pool 2x2/2 -> conv 1x1 (FP) -> BN``. Stem:
conv 7x7/2 (no bias), BN, PReLU, max-pool 3x3/2; head: global average pool, FC. PReLU slopes are per
channel.

Counts (Larq's summary conventions): 10,985,472 1-bit and 1,001,448 32-bit parameters; 1,676,279,808
binary and 138,087,936 32-bit MACs per 224x224 image. With the 8,704 BatchNorm running statistics that is
Larq Zoo's published 11,995,624.
"""
from mxnet import init
from mxnet.gluon import HybridBlock, nn

from .common import StemStagesNet, activation, avgpool_shortcut, batch_norm, qconv
from .registry import register_model

__all__ = ["RealToBinaryNet", "RealToBinaryBlock", "real_to_binary_net"]

BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3  # Keras' default
STE_CLIP = 1.0  # Larq's ste_sign
SCALING_REDUCTION = 8


def _bn(channels, prefix):
    return batch_norm(channels, prefix=prefix, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


def _prelu(channels, prefix):
    """Per-channel PReLU, slopes initialized to 0.25 (Gluon's and PyTorch's default; Keras starts at 0, where
    MXNet's oneDNN backward of a hybridized PReLU gives the slopes no gradient)."""
    return nn.PReLU(alpha_initializer=init.Constant(0.25), in_channels=channels, prefix=prefix)


class RealToBinaryBlock(HybridBlock):
    """One binary 3x3 convolution with data-dependent output scaling, PReLU and a shortcut.

    ``(N, in_channels, H, W) -> (N, channels, H / stride, W / stride)``; ``stride = 2`` exactly where the
    width changes.
    """

    def __init__(self, channels, in_channels, bits, bits_a, pad_value=None, **kwargs):
        super().__init__(**kwargs)
        stride = 1 if channels == in_channels else 2
        with self.name_scope():
            self.bn = _bn(in_channels, "bn_")
            self.act = activation(bits_a, gradient_cancel_threshold=STE_CLIP)
            self.conv = qconv(channels, 3, in_channels, bits, stride, 1, pad_value, prefix="conv_",
                              kernel_constraint="weight_clip")
            self.scale = nn.HybridSequential(prefix="scale_")
            with self.scale.name_scope():
                self.scale.add(nn.GlobalAvgPool2D(),
                               nn.Conv2D(in_channels // SCALING_REDUCTION, 1, use_bias=False,
                                         in_channels=in_channels, prefix="reduce_"),
                               nn.Activation("relu"),
                               nn.Conv2D(channels, 1, use_bias=False, in_channels=in_channels // SCALING_REDUCTION,
                                         prefix="expand_"),
                               nn.Activation("sigmoid"))
            self.prelu = _prelu(channels, "prelu_")
            self.downsample = None if stride == 1 else avgpool_shortcut(channels, in_channels, _bn)

    def hybrid_forward(self, F, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        normed = self.bn(x)
        y = F.broadcast_mul(self.conv(self.act(normed)), self.scale(normed))  # scale (N, C, 1, 1)
        return self.prelu(y) + shortcut


class RealToBinaryNet(StemStagesNet):
    """Real-to-Binary Net with ``units`` binary blocks per stage and ``filters`` (stem, then each stage).

    Input ``(N, in_channels, H, W)``, output ``(N, classes)``. ``bits`` / ``bits_a`` apply to the binary
    3x3 convolutions; everything else is full precision.
    """

    def stem_norm(self, channels):
        return [_bn(channels, "bn0_"), _prelu(channels, "prelu0_")]

    def block(self, channels, in_channels, prefix):
        return RealToBinaryBlock(channels, in_channels, self.bits, self.bits_a, self.pad_value, prefix=prefix)


@register_model
def real_to_binary_net(classes=1000, bits=1, bits_a=1, **kwargs):
    """Real-to-Binary Net (binary student): 11,986,920 parameters, 10,985,472 of them 1-bit
    (Larq Zoo: 65.01 % top-1)."""
    return RealToBinaryNet(classes=classes, bits=bits, bits_a=bits_a, **kwargs)
