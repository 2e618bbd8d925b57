"""Binary DenseNets without bottlenecks (paper Section 3.3, Fig. 1d, Fig. 3, Table 4).

Growth ``k`` and blocks per unit ``b`` are free: ``densenet(k, b)`` builds any point of the paper's
k-vs-b study; ``densenet13/21/37/69`` are Fig. 3's four models (``n = 8 b + 5`` layers).

Structure: input BN (3 channels, fixed gamma), full-precision ImageNet stem with ``2 k`` filters
(conv 7x7/2, BN, ReLU, max-pool 3x3/2), four dense units, head BN, ReLU, global average pool,
full-precision FC. A dense block adds ``k`` channels:

    x -> concat(x, QConv3x3_k(sign(BN(x))))

and a transition between units keeps every channel (no compression) and halves the resolution:

    x -> BN -> sign -> QConv1x1_c -> avg-pool 2x2/2
"""
from mxnet.gluon import HybridBlock, nn

from .common import activation, batch_norm, classifier, imagenet_stem, input_norm, qconv, thumbnail_stem
from .registry import register_model

__all__ = ["DenseNet", "DenseBlock", "densenet", "densenet13", "densenet21", "densenet37", "densenet69",
           "densenet21_k140", "densenet45", "densenet21_cifar"]


class DenseBlock(HybridBlock):
    """BN, activation, quantized 3x3 convolution to ``growth_rate`` channels, concatenated to the input.

    ``dilation`` dilates the convolution (padded by as much, so the size is kept).
    ``(N, in_channels, H, W) -> (N, in_channels + growth_rate, H, W)``.
    """

    def __init__(self, growth_rate, in_channels, bits, bits_a, pad_value=None, dilation=1, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.bn = batch_norm(in_channels, prefix="bn_")
            self.act = activation(bits_a)
            self.conv = qconv(growth_rate, 3, in_channels, bits, padding=dilation, pad_value=pad_value,
                              prefix="conv_", dilation=dilation)

    def hybrid_forward(self, F, x):
        return F.concat(x, self.conv(self.act(self.bn(x))), dim=1)


def transition(channels, bits, bits_a, prefix):
    """BN, activation, quantized 1x1 convolution keeping all ``channels``, average-pool 2x2/2.

    ``(N, C, H, W) -> (N, C, H/2, W/2)``.
    """
    block = nn.HybridSequential(prefix=prefix)
    with block.name_scope():
        block.add(batch_norm(channels, prefix="bn_"), activation(bits_a),
                  qconv(channels, 1, channels, bits, prefix="conv_"),
                  nn.AvgPool2D(2, strides=2, prefix="pool_"))
    return block


class DenseNet(HybridBlock):
    """Binary DenseNet without bottleneck or compression (Bethge et al., "Learning to train a binary neural
    network", 2018; Huang et al., "Densely Connected Convolutional Networks", 2017).

    Parameters
    ----------
    growth_rate : int
        ``k``: channels each dense block adds.
    units : sequence of int
        Dense blocks per unit (the paper's ``b`` repeated four times, or any list); a transition follows
        every unit but the last.
    stem_channels : int, optional
        Filters of the full-precision stem; default ``2 * growth_rate``.
    thumbnail : bool, default False
        CIFAR stem (one 3x3/1 convolution) instead of the ImageNet stem.
    classes : int, default 1000
    bits, bits_a : int, default 1
    pad_value : float, optional
        Padding of the quantized 3x3 convolutions; default -1 at 1 bit.
    in_channels : int, default 3

    Input ``(N, in_channels, H, W)``, output ``(N, classes)``; the final feature map has
    ``stem_channels + growth_rate * sum(units)`` channels.
    """

    def __init__(self, growth_rate, units, stem_channels=None, thumbnail=False, classes=1000, bits=1, bits_a=1,
                 pad_value=None, in_channels=3, **kwargs):
        super().__init__(**kwargs)
        channels = 2 * growth_rate if stem_channels is None else stem_channels
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(input_norm(in_channels))
            stem = thumbnail_stem if thumbnail else imagenet_stem
            self.features.add(stem(channels, in_channels))
            for unit, blocks in enumerate(units, start=1):
                for block in range(1, blocks + 1):
                    self.features.add(DenseBlock(growth_rate, channels, bits, bits_a, pad_value,
                                                 prefix=f"unit{unit}_block{block}_"))
                    channels += growth_rate
                if unit < len(units):
                    self.features.add(transition(channels, bits, bits_a, prefix=f"transition{unit}_"))
            self.output = classifier(channels, classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def densenet(k, units, stem_channels=None, thumbnail=False, classes=1000, bits=1, bits_a=1, **kwargs):
    """A binary :class:`DenseNet` with growth ``k`` and ``units`` blocks per unit (an int ``b`` means
    ``[b] * 4``, the paper's ``n = 8 b + 5`` layers)."""
    units = [units] * 4 if isinstance(units, int) else list(units)
    return DenseNet(k, units, stem_channels=stem_channels, thumbnail=thumbnail, classes=classes, bits=bits,
                    bits_a=bits_a, **kwargs)


@register_model
def densenet13(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """DenseNet-13, k = 256, b = 1: 13,164,014 parameters (paper Fig. 3)."""
    return densenet(256, 1, classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)


@register_model
def densenet21(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """DenseNet-21, k = 128, b = 2: 9,726,190 parameters (paper Fig. 3)."""
    return densenet(128, 2, classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)


@register_model
def densenet37(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """DenseNet-37, k = 64, b = 4: 8,160,878 parameters (paper Fig. 3)."""
    return densenet(64, 4, classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)


@register_model
def densenet69(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """DenseNet-69, k = 32, b = 8: 7,427,374 parameters (paper Fig. 3)."""
    return densenet(32, 8, classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)


@register_model
def densenet21_k140(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """DenseNet-21 of the paper's Table 4, k = 140, b = 2: 11,498,086 parameters (50.0 % top-1)."""
    return densenet(140, 2, classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)


@register_model
def densenet45(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """DenseNet-45, k = 160, units [2, 4, 8, 6]: 65,251,886 parameters (paper Table 4 states 62,611,886)."""
    return densenet(160, [2, 4, 8, 6], classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)


@register_model(input_shape=(3, 32, 32))
def densenet21_cifar(classes=10, bits=1, bits_a=1, in_channels=3, **kwargs):
    """DenseNet-21 for 32x32 CIFAR-10 (paper Table 2: 87.1 %, 1.9 MB / 51 MB): k = 160, b = 2, thumbnail
    stem; 13,154,896 parameters. The paper gives only the sizes; k = 160 is the growth rate that
    reproduces both (see ``docs/model_zoo.md``)."""
    return densenet(160, 2, thumbnail=True, classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels,
                    **kwargs)
