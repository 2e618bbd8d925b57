"""DoReFa-Net (Zhou et al., "DoReFa-Net: Training Low Bitwidth Convolutional Neural Networks with Low
Bitwidth Gradients", 2016) with 1-bit weights and 2-bit activations, as Larq Zoo builds it
(``larq_zoo/literature/dorefanet.py``).

AlexNet-based. Activations are DoReFa's ``q_2(clip(x, 0, 1))`` (4 levels in [0, 1]); weights are
``sign(W)`` scaled by one ``mean |W|`` per layer with an identity gradient (``scaling "forward_backward"``):

    conv 12x12/4 (valid), 96 (FP, bias)
    q2; conv 5x5, 256; BN; max-pool 3x3/2 (pad 1)
    q2; conv 3x3, 384; BN; max-pool 3x3/2 (pad 1)
    q2; conv 3x3, 384; BN
    q2; conv 3x3, 256; BN; max-pool 3x3/2             -> (N, 256, 6, 6) at 224x224
    flatten; q2; FC 4096; BN;  q2; FC 4096; BN;  clip(0, 1); FC classes (FP, bias)

The quantized convolutions pad with 0 (a level of the 2-bit activations), as the reference. Every BatchNorm
has a fixed scale. Counts (Larq's summary conventions): 58,236,928 1-bit and 4,157,512 32-bit parameters;
2,924,609,536 2-bit and 125,028,352 32-bit MACs per 224x224 image. With the 9,472 BatchNorm running means
that is Larq Zoo's published 62,403,912.
"""
from mxnet.gluon import HybridBlock, nn

from bmxnet_ext import QDense

from .common import activation, batch_norm, qconv
from .registry import register_model

__all__ = ["DoReFaNet", "dorefanet", "ACTIVATION_BITS"]

ACTIVATION_BITS = 2
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-4


def _bn(channels, prefix):
    return batch_norm(channels, prefix=prefix, scale=False, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


class _Clip01(HybridBlock):
    """``clip(x, 0, 1)``, the activation in front of the classifier. Shape is preserved."""

    def hybrid_forward(self, F, x):
        return F.clip(x, 0, 1)


class DoReFaNet(HybridBlock):
    """Larq Zoo's DoReFa-Net for 224x224 input (the flattened features are ``256 * 6 * 6``).

    Input ``(N, in_channels, 224, 224)``, output ``(N, classes)``. ``bits`` / ``bits_a`` apply to the
    quantized convolutions and the two 4096-unit FC layers.
    """

    def __init__(self, classes=1000, bits=1, bits_a=ACTIVATION_BITS, pad_value=0.0, in_channels=3, **kwargs):
        super().__init__(**kwargs)
        scaling = "forward_backward" if bits == 1 else "none"
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(96, 12, strides=4, in_channels=in_channels, prefix="conv1_"))
            channels = 96
            layers = [(256, 5, 1), (384, 3, 1), (384, 3, None), (256, 3, 0)]  # width, kernel, pool padding
            for index, (width, kernel, pool_pad) in enumerate(layers, start=2):
                self.features.add(activation(bits_a),
                                  qconv(width, kernel, channels, bits, padding=kernel // 2, pad_value=pad_value,
                                        prefix=f"conv{index}_", scaling=scaling),
                                  _bn(width, f"bn{index}_"))
                if pool_pad is not None:
                    self.features.add(nn.MaxPool2D(3, strides=2, padding=pool_pad))
                channels = width
            self.features.add(nn.Flatten())
            self.output = nn.HybridSequential(prefix="")
            units = channels * 6 * 6
            for index in (6, 7):
                self.output.add(activation(bits_a),
                                QDense(4096, in_units=units, bits=bits, scaling=scaling, prefix=f"fc{index}_"),
                                _bn(4096, f"bn{index}_"))
                units = 4096
            self.output.add(_Clip01(), nn.Dense(classes, in_units=units, prefix="fc8_"))

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


@register_model(activation_bits=ACTIVATION_BITS)
def dorefanet(classes=1000, bits=1, bits_a=ACTIVATION_BITS, **kwargs):
    """DoReFa-Net, 1-bit weights, 2-bit activations: 62,394,440 parameters, 58,236,928 of them 1-bit
    (Larq Zoo: 53.39 % top-1)."""
    return DoReFaNet(classes=classes, bits=bits, bits_a=bits_a, **kwargs)
