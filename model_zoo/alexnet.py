"""Binary AlexNet (paper Table 3), as BMXNet v1 trained it: 50,853,672 parameters.

Only the first convolution and the classifier are full precision. Every other convolution and the two
4096-unit FC layers are ``sign -> Q layer -> BN``. The stem has no ReLU: a ReLU in front of a sign makes
every activation +1 (``sign(relu(x)) = +1`` since zero maps to +1), so the max-pooled BN output is signed
directly.
"""
from mxnet.gluon import HybridBlock, nn

from .common import activation, batch_norm, qconv, qdense
from .registry import register_model

__all__ = ["AlexNet", "alexnet"]


class AlexNet(HybridBlock):
    r"""Binary AlexNet (Krizhevsky et al., 2012) for 224x224 input, without groups or LRN.

    ===================================================  ==========  ===========================
    layer                                                precision   output (224x224 in)
    ===================================================  ==========  ===========================
    conv 11x11/4, 96, bias; BN; max-pool 3x3/2           full        (N, 96, 26, 26)
    sign; conv 5x5, 256, pad 2; BN; max-pool 3x3/2       ``bits``    (N, 256, 12, 12)
    sign; conv 3x3, 384, pad 1; BN                       ``bits``    (N, 384, 12, 12)
    sign; conv 3x3, 384, pad 1; BN                       ``bits``    (N, 384, 12, 12)
    sign; conv 3x3, 256, pad 1; BN; max-pool 3x3/2       ``bits``    (N, 256, 5, 5)
    sign; FC 4096; BN                                    ``bits``    (N, 4096)
    sign; FC 4096; BN; ReLU                              ``bits``    (N, 4096)
    FC ``classes``, bias                                 full        (N, classes)
    ===================================================  ==========  ===========================

    The first binary FC expects ``256 * 5 * 5 = 6400`` inputs, i.e. a 224x224 image.
    """

    def __init__(self, classes=1000, bits=1, bits_a=1, pad_value=None, in_channels=3, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(96, 11, strides=4, in_channels=in_channels, prefix="conv1_"),
                              batch_norm(96, prefix="bn1_"),
                              nn.MaxPool2D(3, strides=2, prefix="pool1_"))
            channels = 96
            for index, (width, kernel, pool) in enumerate(
                    [(256, 5, True), (384, 3, False), (384, 3, False), (256, 3, True)], start=2):
                self.features.add(activation(bits_a),
                                  qconv(width, kernel, channels, bits, padding=kernel // 2, pad_value=pad_value,
                                        prefix=f"conv{index}_"),
                                  batch_norm(width, prefix=f"bn{index}_"))
                if pool:
                    self.features.add(nn.MaxPool2D(3, strides=2, prefix=f"pool{index}_"))
                channels = width
            self.features.add(nn.Flatten(),
                              activation(bits_a), qdense(4096, channels * 5 * 5, bits, prefix="fc6_"),
                              batch_norm(4096, prefix="bn6_"),
                              activation(bits_a), qdense(4096, 4096, bits, prefix="fc7_"),
                              batch_norm(4096, prefix="bn7_"),
                              nn.Activation("relu", prefix="relu7_"))
            self.output = nn.Dense(classes, in_units=4096, prefix="fc8_")

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


@register_model
def alexnet(classes=1000, bits=1, bits_a=1, in_channels=3, **kwargs):
    """Binary AlexNet: 50,853,672 parameters (paper Table 3: 22 MB binary)."""
    return AlexNet(classes=classes, bits=bits, bits_a=bits_a, in_channels=in_channels, **kwargs)
