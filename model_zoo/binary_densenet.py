"""BinaryDenseNet (Bethge et al., "BinaryDenseNet: Developing an Architecture for Binary Neural Networks",
2019, and "Back to Simplicity", 2019).

Dense blocks as the paper's DenseNets (``BN -> sign -> QConv3x3(64) -> concat``), growth rate 64, 64 stem
filters (conv 7x7/2, BN, ReLU, max-pool 3x3/2), and full-precision transitions that reduce the channels:

    x -> BN -> max-pool 2x2/2 -> ReLU -> conv 1x1 (full precision, no bias)

to ``round(floor(C / r) / 32) * 32`` channels for reduction ``r``. Head: BN, ReLU, global pool, FC.
Parameter counts (BN running statistics excluded; Larq Zoo's published counts include them):
``binary_densenet28`` 5,131,496 (Larq: 5,150,504), ``binary_densenet37`` 8,702,248 (8,734,120),
``binary_densenet45`` 13,889,512 (13,939,240).

``binary_densenet37_dilated`` (Larq Zoo's ``BinaryDenseNet37Dilated``) keeps the resolution of stage 2 in
stages 3 and 4: their transitions drop the max-pool, and their binary convolutions are dilated by 2 and 4.
Same parameters as ``binary_densenet37``; 7,774,470,144 binary and 452,625,408 32-bit MACs per 224x224 image
(Larq's summary conventions; its docs round them to 8.23 B MACs, 0.9450 binary).
"""
from mxnet.gluon import HybridBlock, nn

from .common import batch_norm, classifier, imagenet_stem
from .densenet import DenseBlock
from .registry import register_model

__all__ = ["BinaryDenseNet", "fp_transition", "transition_channels", "binary_densenet", "binary_densenet28",
           "binary_densenet37", "binary_densenet37_dilated", "binary_densenet45"]


def transition_channels(channels, reduction):
    """Channels after a transition: ``channels // reduction`` rounded to a multiple of 32."""
    return int(round(channels // reduction / 32)) * 32


def fp_transition(in_channels, channels, prefix, pool=True):
    """BN, max-pool 2x2/2, ReLU, full-precision 1x1 conv: ``(N, in_channels, H, W) -> (N, channels, H/2, W/2)``.

    ``pool=False`` drops the max-pool and keeps the resolution.
    """
    block = nn.HybridSequential(prefix=prefix)
    with block.name_scope():
        block.add(batch_norm(in_channels, prefix="bn_"))
        if pool:
            block.add(nn.MaxPool2D(2, strides=2))
        block.add(nn.Activation("relu"),
                  nn.Conv2D(channels, 1, use_bias=False, in_channels=in_channels, prefix="conv_"))
    return block


class BinaryDenseNet(HybridBlock):
    """BinaryDenseNet with ``units`` dense blocks per stage and a transition ``reduction`` per stage boundary.

    Input ``(N, in_channels, H, W)``, output ``(N, classes)``. ``bits`` / ``bits_a`` apply to the dense
    blocks; stem, transitions and classifier are full precision by design. ``dilation`` (one per stage,
    default all 1) dilates a stage's binary convolutions; a stage with dilation > 1 is not downsampled.
    """

    def __init__(self, units, reduction, growth_rate=64, stem_channels=64, classes=1000, bits=1, bits_a=1,
                 pad_value=None, in_channels=3, dilation=None, **kwargs):
        super().__init__(**kwargs)
        if len(reduction) != len(units) - 1:
            raise ValueError(f"Expected one `reduction` per transition ({len(units) - 1}), got {len(reduction)}.")
        dilation = [1] * len(units) if dilation is None else list(dilation)
        if len(dilation) != len(units):
            raise ValueError(f"Expected one `dilation` per stage ({len(units)}), got {len(dilation)}.")
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(imagenet_stem(stem_channels, in_channels))
            channels = stem_channels
            for stage, blocks in enumerate(units, start=1):
                for block in range(1, blocks + 1):
                    self.features.add(DenseBlock(growth_rate, channels, bits, bits_a, pad_value,
                                                 dilation=dilation[stage - 1],
                                                 prefix=f"stage{stage}_block{block}_"))
                    channels += growth_rate
                if stage < len(units):
                    out = transition_channels(channels, reduction[stage - 1])
                    self.features.add(fp_transition(channels, out, prefix=f"transition{stage}_",
                                                    pool=dilation[stage] == 1))
                    channels = out
            self.output = classifier(channels, classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def binary_densenet(units, reduction, classes=1000, bits=1, bits_a=1, **kwargs):
    """A :class:`BinaryDenseNet` for any ``units`` and ``reduction``."""
    return BinaryDenseNet(units, reduction, classes=classes, bits=bits, bits_a=bits_a, **kwargs)


@register_model
def binary_densenet28(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """BinaryDenseNet28: units [6, 6, 6, 5], reduction [2.7, 2.7, 2.2]; 5,131,496 parameters."""
    return binary_densenet([6, 6, 6, 5], [2.7, 2.7, 2.2], classes=classes, bits=bits, bits_a=bits_a,
                           in_channels=in_channels, **kwargs)


@register_model
def binary_densenet37(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """BinaryDenseNet37: units [6, 8, 12, 6], reduction [3.3, 3.3, 4]; 8,702,248 parameters."""
    return binary_densenet([6, 8, 12, 6], [3.3, 3.3, 4], classes=classes, bits=bits, bits_a=bits_a,
                           in_channels=in_channels, **kwargs)


@register_model
def binary_densenet37_dilated(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """BinaryDenseNet37 with dilation 1, 1, 2, 4 and no downsampling into stages 3 and 4: 8,702,248
    parameters (Larq Zoo: 64.34 % top-1)."""
    return binary_densenet([6, 8, 12, 6], [3.3, 3.3, 4], classes=classes, bits=bits, bits_a=bits_a,
                           dilation=[1, 1, 2, 4], in_channels=in_channels, **kwargs)


@register_model
def binary_densenet45(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """BinaryDenseNet45: units [6, 12, 14, 8], reduction [2.7, 3.3, 4]; 13,889,512 parameters."""
    return binary_densenet([6, 12, 14, 8], [2.7, 3.3, 4], classes=classes, bits=bits, bits_a=bits_a,
                           in_channels=in_channels, **kwargs)
