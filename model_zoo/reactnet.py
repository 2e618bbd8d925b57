"""ReActNet-A (Liu et al., "ReActNet: Towards Precise Binary Neural Network with Generalized Activation
Functions", ECCV 2020), as the authors' code builds it (``mobilenet/2_step2/reactnet.py`` of
liuzechun/ReActNet).

MobileNet-V1's layout with every depthwise 3x3 and pointwise 1x1 convolution replaced by a *full* binary
convolution with a real-valued shortcut, and RSign / RPReLU (a learned per-channel shift before the sign,
and shifts around a PReLU) as activations. A block from ``C_in`` to ``C_out`` channels:

    y = BN(QConv3x3_{C_in}(RSign(x), stride)) + avg-pool 2x2/2 (x) [pool only if stride 2]
    y = RPReLU(y)
    z = BN(QConv1x1_{C_out}(RSign(y))) + y                                  if C_out = C_in
    z = concat(BN(QConv1x1_{C_in}(s)) + y, BN(QConv1x1'_{C_in}(s)) + y)     if C_out = 2 C_in, s = RSign(y)
    out = RPReLU(z)

with :class:`bmxnet_ext.RSign` (``sign(x - b)``, Bi-Real's ApproxSign gradient) and :class:`bmxnet_ext.RPReLU`
(``PReLU(x - g) + z``), all per channel.
Widths 32 (stem), 64, 128, 128, 256, 256, 512 x 6, 1024, 1024; stride 2 where the width grows, except
into 64. Stem: conv 3x3/2 (no bias), BN; head: global average pool, FC. Binary weights are ``sign(W)``
scaled per output channel by ``mean |W|`` (``scaling "xnor"``).

Counts (the reference's ``parameters()``: conv and FC weights and biases, BatchNorm weight and bias,
shifts, PReLU slopes): 28,253,184 1-bit and 1,090,408 32-bit parameters; 4,816,896,000 binary and
11,862,016 32-bit MACs per 224x224 image (the paper's Table: 4.82 x 10^9 BOPs, 0.12 x 10^8 FLOPs).
Binary convolutions pad with -1 (``docs/conventions.md``); the reference pads with 0.
"""
from mxnet.gluon import HybridBlock, nn

from bmxnet_ext import RPReLU, RSign

from .common import activation, batch_norm, qconv
from .registry import register_model

__all__ = ["ReActNet", "ReActBlock", "reactnet_a", "REACTNET_A_WIDTHS"]

REACTNET_A_WIDTHS = (32, 64, 128, 128, 256, 256) + (512,) * 6 + (1024,) * 2
BN_MOMENTUM = 0.9  # PyTorch's momentum 0.1 in MXNet's convention
BN_EPSILON = 1e-5


def _bn(channels, prefix):
    return batch_norm(channels, prefix=prefix, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


class _Threshold(HybridBlock):
    """``x - b`` with a per-channel threshold ``b`` (``(C,)``, initialized 0): RSign's shift, for the twins
    whose activation is not a sign, so that they have the binary model's parameters. Shape is preserved."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.threshold = self.params.get("threshold", shape=(channels,), init="zeros")

    def hybrid_forward(self, F, x, threshold):
        return F.broadcast_sub(x, F.reshape(threshold, shape=(1, -1, 1, 1)))


def _rsign(channels, bits_a, prefix):
    """RSign with Bi-Real's ApproxSign gradient for binary activations, else a threshold and the twin's
    activation (ReLU at 32 bits, DoReFa's k-bit quantizer otherwise)."""
    if bits_a == 1:
        return RSign(channels, quantizer="approx_sign", prefix=prefix)
    block = nn.HybridSequential(prefix=prefix)
    with block.name_scope():
        block.add(_Threshold(channels, prefix=""), activation(bits_a))
    return block


class ReActBlock(HybridBlock):
    """One ReActNet-A block: ``(N, in_channels, H, W) -> (N, channels, H / stride, W / stride)``.

    ``channels`` is ``in_channels`` or ``2 * in_channels``.
    """

    def __init__(self, channels, in_channels, stride, bits, bits_a, pad_value=None, **kwargs):
        super().__init__(**kwargs)
        if channels not in (in_channels, 2 * in_channels):
            raise ValueError(f"Expected a ReActNet block to keep or double its width, got {in_channels} -> "
                             f"{channels}.")
        with self.name_scope():
            self.sign1 = _rsign(in_channels, bits_a, "sign1_")
            self.conv1 = qconv(in_channels, 3, in_channels, bits, stride, 1, pad_value, prefix="conv1_",
                               scaling="xnor")
            self.bn1 = _bn(in_channels, "bn1_")
            self.pool = nn.AvgPool2D(2, strides=2) if stride == 2 else None
            self.act1 = RPReLU(in_channels, prefix="rprelu1_")
            self.sign2 = _rsign(in_channels, bits_a, "sign2_")
            self.pointwise = nn.HybridSequential(prefix="")
            halves = channels // in_channels
            for half in range(halves):
                suffix = "" if halves == 1 else f"_{half + 1}"
                branch = nn.HybridSequential(prefix="")
                branch.add(qconv(in_channels, 1, in_channels, bits, prefix=f"conv2{suffix}_", scaling="xnor"),
                           _bn(in_channels, f"bn2{suffix}_"))
                self.pointwise.add(branch)
            self.act2 = RPReLU(channels, prefix="rprelu2_")

    def hybrid_forward(self, F, x):
        shortcut = x if self.pool is None else self.pool(x)
        y = self.act1(self.bn1(self.conv1(self.sign1(x))) + shortcut)
        s = self.sign2(y)
        branches = [branch(s) + y for branch in self.pointwise]
        z = branches[0] if len(branches) == 1 else F.concat(*branches, dim=1)
        return self.act2(z)


class ReActNet(HybridBlock):
    """ReActNet with block widths ``widths`` (the first is the stem's).

    Input ``(N, in_channels, H, W)``, output ``(N, classes)``. ``bits`` / ``bits_a`` apply to the binary
    convolutions of the blocks; stem and classifier are full precision.
    """

    def __init__(self, widths=REACTNET_A_WIDTHS, classes=1000, bits=1, bits_a=1, pad_value=None, in_channels=3,
                 **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(widths[0], 3, strides=2, padding=1, use_bias=False,
                                        in_channels=in_channels, prefix="conv0_"),
                              _bn(widths[0], "bn0_"))
            for index, (before, width) in enumerate(zip(widths, widths[1:]), start=1):
                stride = 2 if width != before and width != 64 else 1
                self.features.add(ReActBlock(width, before, stride, bits, bits_a, pad_value,
                                             prefix=f"block{index}_"))
            self.output = nn.HybridSequential(prefix="")
            self.output.add(nn.GlobalAvgPool2D(), nn.Dense(classes, in_units=widths[-1], prefix="fc_"))

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


@register_model
def reactnet_a(classes=1000, bits=1, bits_a=1, **kwargs):
    """ReActNet-A: 29,343,592 parameters, 28,253,184 of them 1-bit (paper: 69.4 % top-1)."""
    return ReActNet(classes=classes, bits=bits, bits_a=bits_a, **kwargs)
