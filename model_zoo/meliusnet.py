"""MeliusNet (Bethge et al., "MeliusNet: Can Binary Neural Networks Achieve MobileNet-level Accuracy?", 2020).

Each block is a dense block followed by an improvement block, both with 64 binary 3x3 filters:

    dense:        x -> concat(x, QConv3x3_64(sign(BN(x))))
    improvement:  x -> x + pad(QConv3x3_64(sign(BN(x))))     (the sum touches only the last 64 channels)

Stem: the paper's grouped stem (conv 3x3/2 32, BN, ReLU, conv 3x3 32 groups 4, BN, ReLU, conv 3x3 64
groups 8, BN, ReLU, max-pool 3x3/2), full precision. Transitions: full precision, as BinaryDenseNet's
(:func:`model_zoo.binary_densenet.fp_transition`). Head: BN, ReLU, global pool, FC.

``meliusnet22``: 6,944,584 parameters, the figure Larq Zoo publishes for its MeliusNet22.
"""
from mxnet.gluon import HybridBlock, nn

from .binary_densenet import fp_transition
from .common import activation, batch_norm, classifier, qconv
from .densenet import DenseBlock
from .registry import register_model

__all__ = ["MeliusNet", "ImprovementBlock", "grouped_stem", "meliusnet", "meliusnet22", "meliusnet29"]


class ImprovementBlock(HybridBlock):
    """Adds a binary 3x3 convolution's ``channels`` outputs to the last ``channels`` input channels.

    ``(N, in_channels, H, W) -> (N, in_channels, H, W)``.
    """

    def __init__(self, channels, in_channels, bits, bits_a, pad_value=None, **kwargs):
        super().__init__(**kwargs)
        if channels > in_channels:
            raise ValueError(f"An improvement block refines existing channels: expected channels <= in_channels, "
                             f"got channels={channels}, in_channels={in_channels}.")
        self._kept = in_channels - channels
        with self.name_scope():
            self.bn = batch_norm(in_channels, prefix="bn_")
            self.act = activation(bits_a)
            self.conv = qconv(channels, 3, in_channels, bits, padding=1, pad_value=pad_value, prefix="conv_")

    def hybrid_forward(self, F, x):
        improvement = self.conv(self.act(self.bn(x)))
        if self._kept == 0:
            return x + improvement
        kept = F.slice_axis(x, axis=1, begin=0, end=self._kept)
        improved = F.slice_axis(x, axis=1, begin=self._kept, end=None) + improvement
        return F.concat(kept, improved, dim=1)


def grouped_stem(channels=64, in_channels=3):
    """MeliusNet's full-precision grouped stem: ``(N, in_channels, H, W) -> (N, channels, H/4, W/4)``."""
    width = channels // 2
    stem = nn.HybridSequential(prefix="stem_")
    with stem.name_scope():
        stem.add(nn.Conv2D(width, 3, strides=2, padding=1, use_bias=False, in_channels=in_channels, prefix="conv0_"),
                 batch_norm(width, prefix="bn0_"), nn.Activation("relu"),
                 nn.Conv2D(width, 3, padding=1, groups=4, use_bias=False, in_channels=width, prefix="conv1_"),
                 batch_norm(width, prefix="bn1_"), nn.Activation("relu"),
                 nn.Conv2D(channels, 3, padding=1, groups=8, use_bias=False, in_channels=width, prefix="conv2_"),
                 batch_norm(channels, prefix="bn2_"), nn.Activation("relu"),
                 nn.MaxPool2D(3, strides=2, padding=1))
    return stem


class MeliusNet(HybridBlock):
    """MeliusNet with ``units`` (dense + improvement) blocks per stage and explicit transition widths.

    Input ``(N, in_channels, H, W)``, output ``(N, classes)``; ``bits`` / ``bits_a`` apply to the binary
    3x3 convolutions.
    """

    def __init__(self, units, transitions, growth_rate=64, stem_channels=64, classes=1000, bits=1, bits_a=1,
                 pad_value=None, in_channels=3, **kwargs):
        super().__init__(**kwargs)
        if len(transitions) != len(units) - 1:
            raise ValueError(f"Expected one transition width per stage boundary ({len(units) - 1}), got "
                             f"{len(transitions)}.")
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(grouped_stem(stem_channels, in_channels))
            channels = stem_channels
            for stage, blocks in enumerate(units, start=1):
                for block in range(1, blocks + 1):
                    self.features.add(
                        DenseBlock(growth_rate, channels, bits, bits_a, pad_value,
                                   prefix=f"stage{stage}_dense{block}_"),
                        ImprovementBlock(growth_rate, channels + growth_rate, bits, bits_a, pad_value,
                                         prefix=f"stage{stage}_improve{block}_"))
                    channels += growth_rate
                if stage < len(units):
                    self.features.add(fp_transition(channels, transitions[stage - 1], prefix=f"transition{stage}_"))
                    channels = transitions[stage - 1]
            self.output = classifier(channels, classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def meliusnet(units, transitions, classes=1000, bits=1, bits_a=1, **kwargs):
    """A :class:`MeliusNet` for any ``units`` and transition widths."""
    return MeliusNet(units, transitions, classes=classes, bits=bits, bits_a=bits_a, **kwargs)


@register_model
def meliusnet22(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """MeliusNet22: units [4, 5, 4, 4], transitions 160, 224, 256; 6,944,584 parameters."""
    return meliusnet([4, 5, 4, 4], [160, 224, 256], classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels,
                     **kwargs)


@register_model
def meliusnet29(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """MeliusNet29: units [4, 6, 8, 6], transitions 128, 192, 256; 11,328,328 parameters."""
    return meliusnet([4, 6, 8, 6], [128, 192, 256], classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels,
                     **kwargs)
