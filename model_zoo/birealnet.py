"""Bi-Real Net-18 (Liu et al., "Bi-Real Net: Enhancing the Performance of 1-bit CNNs with Improved
Representational Capability and Advanced Training Algorithm", ECCV 2018), as Larq Zoo builds it
(``larq_zoo/literature/birealnet.py``).

A real-valued shortcut around every binary convolution: each of the 16 blocks is

    x -> approx_sign -> QConv3x3(stride) -> BN -> (+) shortcut(x)

with the identity as shortcut, or, where the width doubles, ``avg-pool 2x2/2 -> conv 1x1 (FP) -> BN``.
Weights are binarized magnitude-aware: ``sign(W)`` scaled per output channel by ``mean |W|`` (``scaling
"xnor"``), latent weights clipped to [-1, 1] (``weight_clip``). Stem: conv 7x7/2 (FP, no bias), BN, max-pool 3x3/2, no ReLU; head: global average pool, FC.

Counts (Larq's summary conventions, which equal this project's: BatchNorm counts gamma and beta):
10,985,472 1-bit and 704,040 32-bit parameters; 1,676,279,808 binary and 137,793,536 32-bit MACs per
224x224 image. With the 9,600 BatchNorm running statistics that is Larq Zoo's published 11,699,112.
Binary convolutions pad with -1 (``docs/conventions.md``); Larq pads with 0.
"""
from mxnet.gluon import HybridBlock

from .common import StemStagesNet, activation, avgpool_shortcut, batch_norm, qconv
from .registry import register_model

__all__ = ["BiRealNet", "BiRealBlock", "birealnet18"]

BN_MOMENTUM = 0.8  # Larq Zoo's Bi-Real Net
BN_EPSILON = 1e-3  # Keras' default


def _bn(channels, prefix):
    return batch_norm(channels, prefix=prefix, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


class BiRealBlock(HybridBlock):
    """One binary 3x3 convolution with its real-valued shortcut.

    ``(N, in_channels, H, W) -> (N, channels, H / stride, W / stride)``; ``stride = 2`` exactly where the
    width changes.
    """

    def __init__(self, channels, in_channels, bits, bits_a, pad_value=None, **kwargs):
        super().__init__(**kwargs)
        stride = 1 if channels == in_channels else 2
        with self.name_scope():
            self.act = activation(bits_a, method="approx_sign", gradient_cancel_threshold=float("inf"))
            self.conv = qconv(channels, 3, in_channels, bits, stride, 1, pad_value, prefix="conv_",
                              scaling="xnor", kernel_constraint="weight_clip")
            self.bn = _bn(channels, "bn_")
            self.downsample = None if stride == 1 else avgpool_shortcut(channels, in_channels, _bn)

    def hybrid_forward(self, F, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.bn(self.conv(self.act(x))) + shortcut


class BiRealNet(StemStagesNet):
    """Bi-Real Net with ``units`` single-convolution blocks per stage and ``filters`` (stem, then each stage).

    Input ``(N, in_channels, H, W)``, output ``(N, classes)``. ``bits`` / ``bits_a`` apply to the 3x3
    convolutions of the blocks; stem, shortcut projections and classifier are full precision.
    """

    def stem_norm(self, channels):
        return [_bn(channels, "bn0_")]

    def block(self, channels, in_channels, prefix):
        return BiRealBlock(channels, in_channels, self.bits, self.bits_a, self.pad_value, prefix=prefix)


@register_model
def birealnet18(classes=1000, bits=1, bits_a=1, **kwargs):
    """Bi-Real Net-18: 11,689,512 parameters, 10,985,472 of them 1-bit (Larq Zoo: 57.47 % top-1)."""
    return BiRealNet(classes=classes, bits=bits, bits_a=bits_a, **kwargs)
