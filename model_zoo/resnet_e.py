"""ResNet-E (Bethge et al., "Back to Simplicity: How to Train Accurate BNNs from Scratch?", 2019).

Bi-Real-style: every binary 3x3 convolution gets its own shortcut, so a stage of ``n`` basic units becomes
``2 n`` single-convolution blocks

    x -> sign -> QConv3x3(stride) -> BN -> (+) shortcut(x)

with the identity as shortcut, or, where the shape changes, a full-precision downsampling
``avg-pool 2x2/2 -> conv 1x1 (no bias) -> BN`` (the paper's choice: binary 1x1 downsampling loses too much
information). Stem: conv 7x7/2, BN, ReLU, max-pool 3x3/2, BN; head: ReLU, global average pool, FC.

``resnet_e18`` has 11,689,640 parameters; with the 9,728 BatchNorm running statistics that is the
11,699,368 Larq Zoo publishes for its ``BinaryResNetE18``.
"""
from mxnet.gluon import HybridBlock, nn

from .common import activation, batch_norm, imagenet_stem, qconv, thumbnail_stem
from .registry import register_model

__all__ = ["ResNetE", "ResNetEBlock", "resnet_e", "resnet_e18", "resnet_e34"]


class ResNetEBlock(HybridBlock):
    """One binary 3x3 convolution with its own shortcut.

    ``(N, in_channels, H, W) -> (N, channels, H / stride, W / stride)``.
    """

    def __init__(self, channels, in_channels, stride, bits, bits_a, pad_value=None, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.act = activation(bits_a)
            self.conv = qconv(channels, 3, in_channels, bits, stride, 1, pad_value, prefix="conv_")
            self.bn = batch_norm(channels, prefix="bn_")
            self.downsample = None
            if stride != 1 or channels != in_channels:
                self.downsample = nn.HybridSequential(prefix="downsample_")
                with self.downsample.name_scope():
                    if stride != 1:
                        self.downsample.add(nn.AvgPool2D(stride, strides=stride))
                    self.downsample.add(nn.Conv2D(channels, 1, use_bias=False, in_channels=in_channels,
                                                  prefix="conv_"),
                                        batch_norm(channels, prefix="bn_"))

    def hybrid_forward(self, F, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.bn(self.conv(self.act(x))) + shortcut


class ResNetE(HybridBlock):
    """ResNet-E for ``units`` basic units per stage (each split into two :class:`ResNetEBlock`).

    Parameters
    ----------
    units : sequence of int
    filters : sequence of int
        ``len(units) + 1`` widths: the stem, then each stage.
    thumbnail : bool, default False
        CIFAR stem (conv 3x3/1 only).
    classes, bits, bits_a, pad_value, in_channels :
        As :class:`model_zoo.resnet.ResNetV2`.

    Input ``(N, in_channels, H, W)``, output ``(N, classes)``.
    """

    def __init__(self, units, filters, thumbnail=False, classes=1000, bits=1, bits_a=1, pad_value=None,
                 in_channels=3, **kwargs):
        super().__init__(**kwargs)
        if len(filters) != len(units) + 1:
            raise ValueError(f"Expected `filters` to have len(units) + 1 = {len(units) + 1} entries, got "
                             f"{len(filters)}: {tuple(filters)}.")
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            if thumbnail:
                self.features.add(thumbnail_stem(filters[0], in_channels))
            else:
                self.features.add(imagenet_stem(filters[0], in_channels), batch_norm(filters[0], prefix="bn_stem_"))
            channels = filters[0]
            for stage, (count, width) in enumerate(zip(units, filters[1:]), start=1):
                for block in range(1, 2 * count + 1):
                    stride = 2 if stage > 1 and block == 1 else 1
                    self.features.add(ResNetEBlock(width, channels, stride, bits, bits_a, pad_value,
                                                   prefix=f"stage{stage}_block{block}_"))
                    channels = width
            self.output = nn.HybridSequential(prefix="")
            self.output.add(nn.Activation("relu"), nn.GlobalAvgPool2D(),
                            nn.Dense(classes, in_units=channels, prefix="fc_"))

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def resnet_e(units, filters=(64, 64, 128, 256, 512), thumbnail=False, classes=1000, bits=1, bits_a=1, **kwargs):
    """A :class:`ResNetE` for any ``units`` / ``filters``."""
    return ResNetE(units, filters, thumbnail=thumbnail, classes=classes, bits=bits, bits_a=bits_a, **kwargs)


@register_model
def resnet_e18(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """ResNet-E 18, units [2, 2, 2, 2]: 11,689,640 parameters (58.1 % top-1 in the paper)."""
    return resnet_e([2, 2, 2, 2], classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)


@register_model
def resnet_e34(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """ResNet-E 34, units [3, 4, 6, 3]: 21,797,800 parameters (no published count to compare)."""
    return resnet_e([3, 4, 6, 3], classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)
