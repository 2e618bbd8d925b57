"""Binary pre-activation ResNets (ResNet v2), exactly BMXNet v1's ImageNet and CIFAR-10 networks.

Structure (from BMXNet v1's ``binarized_imagenet-resnet18`` symbol): input BN (3 channels, fixed gamma),
full-precision stem, four stages of residual units, head BN, ReLU, global average pool, full-precision FC.
A basic unit is

    x -> BN -> sign -> QConv3x3(stride) -> BN -> sign -> QConv3x3 -> (+) shortcut

where the shortcut of the *first unit of every stage* (stage 1 included, even at stride 1) is a binary
1x1 projection of the same ``sign(BN(x))``, and the identity ``x`` elsewhere. Parameter names mirror the
released symbol (``stage1_unit1_conv1_weight``, ...).
"""
from mxnet.gluon import HybridBlock, nn

from .common import activation, classifier, imagenet_stem, input_norm, batch_norm, qconv, thumbnail_stem
from .registry import register_model

__all__ = ["ResNetV2", "BasicUnit", "BottleneckUnit", "resnet", "resnet18", "resnet34_thin", "resnet34_wide",
           "resnet68_wide", "resnet26_bottleneck", "resnet18_cifar"]

THIN_FILTERS = (64, 64, 128, 256, 512)
WIDE_FILTERS = (64, 128, 256, 512, 1024)
BOTTLENECK_FILTERS = (64, 256, 512, 1024, 2048)


class BasicUnit(HybridBlock):
    """Pre-activation unit of two 3x3 quantized convolutions.

    ``(N, in_channels, H, W) -> (N, channels, H / stride, W / stride)``. With ``projection`` the shortcut
    is a quantized 1x1 convolution (stride ``stride``) of the unit's first activation; otherwise the input.
    """

    def __init__(self, channels, in_channels, stride, projection, bits, bits_a, pad_value=None, **kwargs):
        super().__init__(**kwargs)
        if not projection and (stride != 1 or channels != in_channels):
            raise ValueError(f"A unit without projection keeps the shape: expected stride 1 and channels == "
                             f"in_channels, got stride={stride}, channels={channels}, in_channels={in_channels}.")
        with self.name_scope():
            self.bn1 = batch_norm(in_channels, prefix="bn1_")
            self.act1 = activation(bits_a)
            self.conv1 = qconv(channels, 3, in_channels, bits, stride, 1, pad_value, prefix="conv1_")
            self.bn2 = batch_norm(channels, prefix="bn2_")
            self.act2 = activation(bits_a)
            self.conv2 = qconv(channels, 3, channels, bits, 1, 1, pad_value, prefix="conv2_")
            self.sc = qconv(channels, 1, in_channels, bits, stride, prefix="sc_") if projection else None

    def hybrid_forward(self, F, x):
        a = self.act1(self.bn1(x))
        y = self.conv2(self.act2(self.bn2(self.conv1(a))))
        return y + (self.sc(a) if self.sc is not None else x)


class BottleneckUnit(HybridBlock):
    """Pre-activation bottleneck unit: quantized 1x1 (channels/4), 3x3 (channels/4, stride), 1x1 (channels).

    Shapes and shortcut as :class:`BasicUnit`.
    """

    def __init__(self, channels, in_channels, stride, projection, bits, bits_a, pad_value=None, **kwargs):
        super().__init__(**kwargs)
        if not projection and (stride != 1 or channels != in_channels):
            raise ValueError(f"A unit without projection keeps the shape: expected stride 1 and channels == "
                             f"in_channels, got stride={stride}, channels={channels}, in_channels={in_channels}.")
        inner = channels // 4
        with self.name_scope():
            self.bn1 = batch_norm(in_channels, prefix="bn1_")
            self.act1 = activation(bits_a)
            self.conv1 = qconv(inner, 1, in_channels, bits, prefix="conv1_")
            self.bn2 = batch_norm(inner, prefix="bn2_")
            self.act2 = activation(bits_a)
            self.conv2 = qconv(inner, 3, inner, bits, stride, 1, pad_value, prefix="conv2_")
            self.bn3 = batch_norm(inner, prefix="bn3_")
            self.act3 = activation(bits_a)
            self.conv3 = qconv(channels, 1, inner, bits, prefix="conv3_")
            self.sc = qconv(channels, 1, in_channels, bits, stride, prefix="sc_") if projection else None

    def hybrid_forward(self, F, x):
        a = self.act1(self.bn1(x))
        y = self.conv2(self.act2(self.bn2(self.conv1(a))))
        y = self.conv3(self.act3(self.bn3(y)))
        return y + (self.sc(a) if self.sc is not None else x)


class ResNetV2(HybridBlock):
    """Binary pre-activation ResNet (He et al., "Identity Mappings in Deep Residual Networks", 2016) as
    trained by BMXNet v1 (Bethge et al., "Learning to train a binary neural network", 2018).

    Parameters
    ----------
    units : sequence of int
        Residual units per stage; stage ``i`` has stride 1 (``i = 0``) or 2.
    filters : sequence of int
        ``len(units) + 1`` widths: the stem, then each stage's output channels.
    bottleneck : bool, default False
        :class:`BottleneckUnit` instead of :class:`BasicUnit`.
    thumbnail : bool, default False
        CIFAR stem (one 3x3/1 convolution, no pooling) instead of the ImageNet stem (7x7/2 conv, BN, ReLU,
        3x3/2 max-pool).
    classes : int, default 1000
    bits, bits_a : int, default 1
        Weight / activation bits of the quantized layers (stem and classifier stay full precision).
    pad_value : float, optional
        Padding of the quantized 3x3 convolutions; default -1 at 1 bit (see ``docs/conventions.md``).
    in_channels : int, default 3

    Input ``(N, in_channels, H, W)``, output ``(N, classes)``. The ImageNet stem downsamples by 4 and every
    stage after the first by 2 (224 -> 7 before the global pool).
    """

    def __init__(self, units, filters, bottleneck=False, thumbnail=False, classes=1000, bits=1, bits_a=1,
                 pad_value=None, in_channels=3, **kwargs):
        super().__init__(**kwargs)
        if len(filters) != len(units) + 1:
            raise ValueError(f"Expected `filters` to have len(units) + 1 = {len(units) + 1} entries (stem, then "
                             f"one per stage), got {len(filters)}: {tuple(filters)}.")
        unit_type = BottleneckUnit if bottleneck else BasicUnit
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(input_norm(in_channels))
            stem = thumbnail_stem if thumbnail else imagenet_stem
            self.features.add(stem(filters[0], in_channels))
            channels = filters[0]
            for stage, (count, width) in enumerate(zip(units, filters[1:]), start=1):
                for unit in range(1, count + 1):
                    stride = 2 if stage > 1 and unit == 1 else 1
                    self.features.add(unit_type(width, channels, stride, projection=unit == 1, bits=bits,
                                                bits_a=bits_a, pad_value=pad_value,
                                                prefix=f"stage{stage}_unit{unit}_"))
                    channels = width
            self.output = classifier(channels, classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def resnet(units, filters=THIN_FILTERS, bottleneck=False, thumbnail=False, classes=1000, bits=1, bits_a=1,
           **kwargs):
    """A binary :class:`ResNetV2` for any ``units`` and ``filters`` (e.g. the paper's width/depth study)."""
    return ResNetV2(units, filters, bottleneck=bottleneck, thumbnail=thumbnail, classes=classes, bits=bits,
                    bits_a=bits_a, **kwargs)


@register_model
def resnet18(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """ResNet-18, units [2, 2, 2, 2], filters 64..512: 11,691,950 parameters (paper Tables 3 and 4)."""
    return resnet([2, 2, 2, 2], THIN_FILTERS, classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels,
                  **kwargs)


@register_model
def resnet34_thin(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """ResNet-34-thin, units [3, 4, 6, 3], filters 64..512: 21,800,110 parameters (paper Table 3)."""
    return resnet([3, 4, 6, 3], THIN_FILTERS, classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels,
                  **kwargs)


@register_model
def resnet34_wide(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """ResNet-34-wide, units [3, 4, 6, 3], filters 64..1024: 86,032,302 parameters (paper: 86,049,198)."""
    return resnet([3, 4, 6, 3], WIDE_FILTERS, classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels,
                  **kwargs)


@register_model
def resnet68_wide(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """ResNet-68-wide, units [3, 4, 23, 3], filters 64..1024: 166,283,182 parameters (paper Table 4)."""
    return resnet([3, 4, 23, 3], WIDE_FILTERS, classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels,
                  **kwargs)


@register_model
def resnet26_bottleneck(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """ResNet-26 bottleneck, units [2, 2, 2, 2] of bottleneck units, filters 64, 256..2048 (MXNet's
    bottleneck widths): 15,987,630 parameters. The paper gives no count or size; see ``docs/model_zoo.md``."""
    return resnet([2, 2, 2, 2], BOTTLENECK_FILTERS, bottleneck=True, classes=classes, bits=bits, bits_a=bits_a,
                  in_channels=in_channels, **kwargs)


@register_model(input_shape=(3, 32, 32))
def resnet18_cifar(classes=10, bits=1, bits_a=1, in_channels=3, **kwargs):
    """ResNet-18 for 32x32 CIFAR-10, BMXNet v1's released ``binarized_cifar10-resnet18`` network: the 3x3
    thumbnail stem, then ResNet-18's stages (32 -> 4 before the global pool)."""
    return resnet([2, 2, 2, 2], THIN_FILTERS, thumbnail=True, classes=classes, bits=bits, bits_a=bits_a,
                  in_channels=in_channels, **kwargs)
