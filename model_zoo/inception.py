"""Binary Inception-BN (Ioffe & Szegedy, 2015; paper Table 3): 11,286,408 parameters.

Full precision: the stem (conv 7x7/2, conv 1x1, conv 3x3, all with bias) and the pool projections of the
A modules (1x1 with bias), as BMXNet v1 kept them. Every other convolution is ``sign -> QConv -> BN``
without bias; full-precision ones are ``conv -> BN``. No ReLU sits in front of a sign (``sign(relu(x))``
would be constantly +1); the stem's ReLUs feed full-precision convolutions only.
"""
from mxnet.gluon import HybridBlock, nn
from mxnet.gluon.contrib.nn import HybridConcurrent

from .common import activation, batch_norm, qconv
from .registry import register_model

__all__ = ["InceptionBN", "inception_bn"]

#: (name, kind, arguments): "A" = (1x1, 3x3 reduce, 3x3, double 3x3 reduce, double 3x3, pool, projection),
#: "B" = (3x3 reduce, 3x3, double 3x3 reduce, double 3x3), the MXNet Inception-BN configuration.
MODULES = [
    ("3a", "A", (64, 64, 64, 64, 96, "avg", 32)),
    ("3b", "A", (64, 64, 96, 64, 96, "avg", 64)),
    ("3c", "B", (128, 160, 64, 96)),
    ("4a", "A", (224, 64, 96, 96, 128, "avg", 128)),
    ("4b", "A", (192, 96, 128, 96, 128, "avg", 128)),
    ("4c", "A", (160, 128, 160, 128, 160, "avg", 128)),
    ("4d", "A", (96, 128, 192, 160, 192, "avg", 128)),
    ("4e", "B", (128, 192, 192, 256)),
    ("5a", "A", (352, 192, 320, 160, 224, "avg", 128)),
    ("5b", "A", (352, 192, 320, 192, 224, "max", 128)),
]


class _Branch(nn.HybridSequential):
    """A chain of ``sign -> QConv -> BN`` steps; ``steps`` are ``(channels, kernel, stride)``."""

    def __init__(self, in_channels, steps, bits, bits_a, pad_value, prefix):
        super().__init__(prefix=prefix)
        with self.name_scope():
            for index, (channels, kernel, stride) in enumerate(steps):
                self.add(activation(bits_a),
                         qconv(channels, kernel, in_channels, bits, stride, kernel // 2, pad_value,
                               prefix=f"conv{index}_"),
                         batch_norm(channels, prefix=f"bn{index}_"))
                in_channels = channels


def _pool_projection(pool, in_channels, channels, prefix):
    """Pool 3x3/1 (pad 1), full-precision 1x1 conv with bias, BN: the A module's fourth branch."""
    branch = nn.HybridSequential(prefix=prefix)
    with branch.name_scope():
        pool_type = nn.AvgPool2D if pool == "avg" else nn.MaxPool2D
        branch.add(pool_type(3, strides=1, padding=1),
                   nn.Conv2D(channels, 1, in_channels=in_channels, prefix="conv_"),
                   batch_norm(channels, prefix="bn_"))
    return branch


def inception_module(kind, config, in_channels, bits, bits_a, pad_value, prefix):
    """An A module (four branches, same resolution) or B module (three, stride 2); returns
    ``(block, out_channels)``. Input ``(N, in_channels, H, W)``; output concatenated along channels."""
    block = HybridConcurrent(axis=1, prefix=prefix)
    with block.name_scope():
        if kind == "A":
            c1, c3r, c3, cd3r, cd3, pool, proj = config
            block.add(_Branch(in_channels, [(c1, 1, 1)], bits, bits_a, pad_value, "1x1_"),
                      _Branch(in_channels, [(c3r, 1, 1), (c3, 3, 1)], bits, bits_a, pad_value, "3x3_"),
                      _Branch(in_channels, [(cd3r, 1, 1), (cd3, 3, 1), (cd3, 3, 1)], bits, bits_a, pad_value,
                              "double_3x3_"),
                      _pool_projection(pool, in_channels, proj, "proj_"))
            return block, c1 + c3 + cd3 + proj
        c3r, c3, cd3r, cd3 = config
        block.add(_Branch(in_channels, [(c3r, 1, 1), (c3, 3, 2)], bits, bits_a, pad_value, "3x3_"),
                  _Branch(in_channels, [(cd3r, 1, 1), (cd3, 3, 1), (cd3, 3, 2)], bits, bits_a, pad_value,
                          "double_3x3_"),
                  nn.MaxPool2D(3, strides=2, padding=1, prefix="pool_"))
        return block, c3 + cd3 + in_channels


class InceptionBN(HybridBlock):
    """Binary Inception-BN for 224x224 input: ``(N, 3, 224, 224) -> (N, classes)`` (7x7 before the pool).

    Parameters: ``classes``, ``bits``, ``bits_a``, ``pad_value`` (of the quantized 3x3 convolutions),
    ``in_channels``.
    """

    def __init__(self, classes=1000, bits=1, bits_a=1, pad_value=None, in_channels=3, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(
                nn.Conv2D(64, 7, strides=2, padding=3, in_channels=in_channels, prefix="conv1_"),
                batch_norm(64, prefix="bn1_"), nn.Activation("relu"), nn.MaxPool2D(3, strides=2),
                nn.Conv2D(64, 1, in_channels=64, prefix="conv2_red_"), batch_norm(64, prefix="bn2_red_"),
                nn.Activation("relu"),
                nn.Conv2D(192, 3, padding=1, in_channels=64, prefix="conv2_"), batch_norm(192, prefix="bn2_"),
                nn.MaxPool2D(3, strides=2))
            channels = 192
            for name, kind, config in MODULES:
                module, channels = inception_module(kind, config, channels, bits, bits_a, pad_value,
                                                    prefix=f"in{name}_")
                self.features.add(module)
            self.output = nn.HybridSequential(prefix="")
            self.output.add(nn.Activation("relu"), nn.GlobalAvgPool2D(),
                            nn.Dense(classes, in_units=channels, prefix="fc1_"))

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


@register_model
def inception_bn(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """Binary Inception-BN: 11,286,408 parameters (paper Table 3: 8 MB binary / 44 MB float)."""
    return InceptionBN(classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)
