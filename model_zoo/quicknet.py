"""QuickNet, QuickNet-Large and QuickNet-XL: Plumerai's ResNet-style BNNs designed for fast inference on
Larq Compute Engine, as Larq Zoo 1.0 builds them (``larq_zoo/sota/quicknet.py`` before Larq Zoo 2.0
replaced the family by QuickNetSmall / QuickNet / QuickNetLarge v1; only the 1.0 family has an XL).

Every binary layer is a conv block

    [s = sigmoid(FC(ReLU(FC(global-pool(x)))))]  x -> sign -> QConv3x3 (pad +1) -> ReLU -> BN [-> * s]

with the squeeze-and-excite factor ``s`` (FC widths ``C_in / 16`` and ``C_out``, no bias; computed as 1x1
convolutions of the pooled ``(N, C, 1, 1)`` map, the same weights and MACs) only in the sections that use it. A residual block adds its input; a section's first block changes the width:

- concat transition (QuickNet): ``r = BN(max-pool 2x2/2 (x))``; ``x -> concat(r, conv_block(x, stride 2) + r)``
  (doubles the channels);
- pointwise transition (Large, XL): ``x -> conv_block(x, stride 2) + BN(conv1x1(max-pool 2x2/2 (x)))``.

Stem (full precision): conv 3x3/2 to 8 channels (no bias), 3x3/2 convolution with 8 groups (TF's depthwise
convolution with depth multiplier 8) to 64, ReLU, BN. Head: ReLU, global average pool, FC. Binary
activations use a clipping STE at 1.25 and latent weights are clipped to [-1.25, 1.25]; binary convolutions pad with +1 as the reference
(the converter runs them as -1-padded convolutions of the negated input and weights).

Counts (Larq's summary conventions):

=================  ============  ===========  ===============  =============
model              1-bit params  32-bit       binary MACs      32-bit MACs
=================  ============  ===========  ===============  =============
``quicknet``       9,990,144     521,088      1,242,759,168    5,027,840
``quicknet_large`` 10,985,472    833,664      1,676,279,808    24,433,664
``quicknet_xl``    21,086,208    972,160      3,525,967,872    24,564,736
=================  ============  ===========  ===============  =============

Larq Zoo 1.0's docstrings publish 10,518,528 for QuickNet (our count with the 7,296 BatchNorm running
statistics), 22,058,368 for QuickNet-XL (its summary total, equal to ours) and 11,837,696 for
QuickNet-Large, which is the Keras count of the variant with squeeze-and-excite in all four sections (the
code since its "reduce number of SE blocks" change has it in sections 3 and 4 only, 11,828,736).
"""
from mxnet.gluon import HybridBlock, nn

from bmxnet_ext.constraints import WeightClip

from .common import activation, batch_norm, qconv
from .registry import register_model

__all__ = ["QuickNet", "quicknet", "quicknet_large", "quicknet_xl"]

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
STE_CLIP = 1.25
SE_REDUCTION = 16
SECTION_FILTERS = (64, 128, 256, 512)


def _bn(channels, prefix):
    return batch_norm(channels, prefix=prefix, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


class _ConvBlock(HybridBlock):
    """sign, binary 3x3 convolution (pad +1), ReLU, BN, optionally times a squeeze-and-excite factor.

    ``(N, in_channels, H, W) -> (N, channels, H / stride, W / stride)``.
    """

    def __init__(self, channels, in_channels, stride, squeeze_excite, bits, bits_a, pad_value=1.0, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.act = activation(bits_a, gradient_cancel_threshold=STE_CLIP)
            self.conv = qconv(channels, 3, in_channels, bits, stride, 1, pad_value, prefix="conv_",
                              kernel_constraint=WeightClip(STE_CLIP))
            self.relu = nn.Activation("relu")
            self.bn = _bn(channels, "bn_")
            self.excite = None
            if squeeze_excite:
                self.excite = nn.HybridSequential(prefix="se_")
                with self.excite.name_scope():
                    self.excite.add(nn.GlobalAvgPool2D(),
                                    nn.Conv2D(in_channels // SE_REDUCTION, 1, use_bias=False,
                                              in_channels=in_channels, prefix="reduce_"),
                                    nn.Activation("relu"),
                                    nn.Conv2D(channels, 1, use_bias=False, in_channels=in_channels // SE_REDUCTION,
                                              prefix="expand_"),
                                    nn.Activation("sigmoid"))

    def hybrid_forward(self, F, x):
        y = self.bn(self.relu(self.conv(self.act(x))))
        if self.excite is None:
            return y
        return F.broadcast_mul(y, self.excite(x))  # factor (N, C, 1, 1)


class _Residual(HybridBlock):
    """``x + conv_block(x)``: ``(N, C, H, W) -> (N, C, H, W)``."""

    def __init__(self, channels, squeeze_excite, bits, bits_a, pad_value, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.body = _ConvBlock(channels, channels, 1, squeeze_excite, bits, bits_a, pad_value, prefix="")

    def hybrid_forward(self, F, x):
        return self.body(x) + x


class _ConcatTransition(HybridBlock):
    """``concat(r, conv_block(x) + r)`` with ``r = BN(max-pool(x))``: ``(N, C, H, W) -> (N, 2C, H/s, W/s)``."""

    def __init__(self, in_channels, stride, squeeze_excite, bits, bits_a, pad_value, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.pool = nn.MaxPool2D(stride, strides=stride)
            self.shortcut_bn = _bn(in_channels, "shortcut_bn_")
            self.body = _ConvBlock(in_channels, in_channels, stride, squeeze_excite, bits, bits_a, pad_value,
                                   prefix="")

    def hybrid_forward(self, F, x):
        shortcut = self.shortcut_bn(self.pool(x))
        return F.concat(shortcut, self.body(x) + shortcut, dim=1)


class _PointwiseTransition(HybridBlock):
    """``conv_block(x) + BN(conv1x1(max-pool(x)))``: ``(N, C_in, H, W) -> (N, channels, H/s, W/s)``."""

    def __init__(self, channels, in_channels, stride, squeeze_excite, bits, bits_a, pad_value, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.shortcut = nn.HybridSequential(prefix="shortcut_")
            with self.shortcut.name_scope():
                self.shortcut.add(nn.MaxPool2D(stride, strides=stride),
                                  nn.Conv2D(channels, 1, use_bias=False, in_channels=in_channels, prefix="conv_"),
                                  _bn(channels, "bn_"))
            self.body = _ConvBlock(channels, in_channels, stride, squeeze_excite, bits, bits_a, pad_value,
                                   prefix="")

    def hybrid_forward(self, F, x):
        return self.body(x) + self.shortcut(x)


class QuickNet(HybridBlock):
    """A QuickNet with ``blocks`` binary conv blocks per section.

    Parameters
    ----------
    blocks : sequence of int
        Conv blocks per section (the first of a wider section is its transition).
    squeeze_excite : sequence of bool
        Sections whose conv blocks scale their output by a squeeze-and-excite factor.
    transition : {"concat", "pointwise"}
    filters : sequence of int, default (64, 128, 256, 512)
        Section widths; ``concat`` transitions need each to double the previous.
    stem_channels : int, default 64
    classes, bits, bits_a, in_channels :
        As every zoo model; ``bits`` / ``bits_a`` apply to the binary 3x3 convolutions.
    pad_value : float, default +1
        Padding of the binary convolutions.

    Input ``(N, in_channels, H, W)``, output ``(N, classes)``.
    """

    def __init__(self, blocks, squeeze_excite, transition, filters=SECTION_FILTERS, stem_channels=64,
                 classes=1000, bits=1, bits_a=1, pad_value=1.0, in_channels=3, **kwargs):
        super().__init__(**kwargs)
        if not len(blocks) == len(squeeze_excite) == len(filters):
            raise ValueError(f"Expected `blocks`, `squeeze_excite` and `filters` of one length, got "
                             f"{len(blocks)}, {len(squeeze_excite)}, {len(filters)}.")
        if transition not in ("concat", "pointwise"):
            raise ValueError(f"Expected `transition` to be 'concat' or 'pointwise', got {transition!r}.")
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(stem_channels // 8, 3, strides=2, padding=1, use_bias=False,
                                        in_channels=in_channels, prefix="stem_conv0_"),
                              nn.Conv2D(stem_channels, 3, strides=2, padding=1, groups=stem_channels // 8,
                                        use_bias=False, in_channels=stem_channels // 8, prefix="stem_conv1_"),
                              nn.Activation("relu"), _bn(stem_channels, "stem_bn_"))
            channels = stem_channels
            for section, (count, width, excite) in enumerate(zip(blocks, filters, squeeze_excite), start=1):
                for block in range(1, count + 1):
                    prefix = f"section{section}_block{block}_"
                    if width == channels:
                        self.features.add(_Residual(width, excite, bits, bits_a, pad_value, prefix=prefix))
                        continue
                    stride = 1 if section == 1 or block != 1 else 2
                    if transition == "concat":
                        if width != 2 * channels:
                            raise ValueError(f"A concat transition doubles the width: expected {2 * channels} "
                                             f"filters in section {section}, got {width}.")
                        self.features.add(_ConcatTransition(channels, stride, excite, bits, bits_a, pad_value,
                                                            prefix=prefix))
                    else:
                        self.features.add(_PointwiseTransition(width, channels, stride, excite, bits, bits_a,
                                                               pad_value, prefix=prefix))
                    channels = width
            self.output = nn.HybridSequential(prefix="")
            self.output.add(nn.Activation("relu"), nn.GlobalAvgPool2D(),
                            nn.Dense(classes, in_units=channels, prefix="fc_"))

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


@register_model
def quicknet(classes=1000, bits=1, bits_a=1, **kwargs):
    """QuickNet: sections of 2, 3, 4, 4 blocks, concat transitions, no squeeze-and-excite; 10,511,232
    parameters, 9,990,144 of them 1-bit (Larq Zoo 1.0: 58.6 % top-1)."""
    return QuickNet((2, 3, 4, 4), (False,) * 4, "concat", classes=classes, bits=bits, bits_a=bits_a, **kwargs)


@register_model
def quicknet_large(classes=1000, bits=1, bits_a=1, **kwargs):
    """QuickNet-Large: 4, 4, 4, 4 blocks, pointwise transitions, squeeze-and-excite in sections 3 and 4;
    11,819,136 parameters, 10,985,472 of them 1-bit (Larq Zoo 1.0: 62.7 % top-1)."""
    return QuickNet((4, 4, 4, 4), (False, False, True, True), "pointwise", classes=classes, bits=bits,
                    bits_a=bits_a, **kwargs)


@register_model
def quicknet_xl(classes=1000, bits=1, bits_a=1, **kwargs):
    """QuickNet-XL: 6, 8, 12, 6 blocks, pointwise transitions, squeeze-and-excite in sections 3 and 4;
    22,058,368 parameters, 21,086,208 of them 1-bit (Larq Zoo 1.0: 67.0 % top-1)."""
    return QuickNet((6, 8, 12, 6), (False, False, True, True), "pointwise", classes=classes, bits=bits,
                    bits_a=bits_a, **kwargs)
