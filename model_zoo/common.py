"""Building blocks shared by the architectures: quantized activation/convolution, stems and heads.

Every zoo model keeps its first and last layer full precision (paper Section 4.1): the stem convolution and
the classifier are plain ``nn.Conv2D`` / ``nn.Dense``; everything in between that the paper binarizes is a
:func:`activation` (``QActivation``) followed by a :func:`qconv` (``QConv2D``).

BatchNorm uses BMXNet v1's settings (``epsilon = 2e-5``, ``momentum = 0.9``) so released models load as
they were trained.
"""
from mxnet.gluon import nn

from bmxnet_ext import QActivation, QConv2D

__all__ = ["activation", "qconv", "batch_norm", "input_norm", "imagenet_stem", "thumbnail_stem", "classifier"]

BN_EPSILON = 2e-5
BN_MOMENTUM = 0.9


def activation(bits_a, prefix=None, **quantizer):
    """The activation in front of a quantized layer.

    ``bits_a < 32``: ``QActivation(bits_a, **quantizer)`` (sign for 1 bit, DoReFa k-bit otherwise;
    ``quantizer`` may set ``gradient_cancel_threshold`` and ``method``). ``bits_a = 32``: ReLU.
    ``QActivation(bits=32)`` is the identity, which would leave the body of a pre-activation network linear
    between its stem and head; the full-precision twin uses the ReLU of the usual float networks.
    """
    if bits_a == 32:
        return nn.Activation("relu", prefix=prefix)
    return QActivation(bits=bits_a, prefix=prefix, **quantizer)


def qconv(channels, kernel_size, in_channels, bits, strides=1, padding=0, pad_value=None, prefix=None,
          dilation=1, scaling=None, kernel_constraint=None):
    """A bias-free ``QConv2D`` of ``bits`` weight bits (1-bit layers pad with ``pad_value``, default -1).

    ``scaling`` and ``kernel_constraint`` (e.g. ``"weight_clip"``) apply to 1-bit layers only (other widths
    ignore them, so full-precision twins need no case).
    """
    binary = bits == 1
    return QConv2D(channels, kernel_size, strides=strides, padding=padding, dilation=dilation,
                   in_channels=in_channels, bits=bits, pad_value=pad_value, scaling=scaling if binary else None,
                   kernel_constraint=kernel_constraint if binary else None, prefix=prefix)


def batch_norm(in_channels, prefix=None, scale=True, momentum=BN_MOMENTUM, epsilon=BN_EPSILON):
    """BatchNorm over ``in_channels`` channels; BMXNet v1's epsilon and momentum unless given."""
    return nn.BatchNorm(epsilon=epsilon, momentum=momentum, in_channels=in_channels, scale=scale,
                        prefix=prefix)


def input_norm(in_channels=3):
    """BMXNet v1's input BatchNorm (``bn_data``): fixed gamma, learned beta, on the raw image channels."""
    return batch_norm(in_channels, prefix="bn_data_", scale=False)


def imagenet_stem(channels, in_channels=3):
    """Full-precision ImageNet stem: conv 7x7/2 (pad 3, no bias), BN, ReLU, max-pool 3x3/2 (pad 1).

    ``(N, in_channels, H, W) -> (N, channels, H/4, W/4)``.
    """
    stem = nn.HybridSequential(prefix="")
    stem.add(nn.Conv2D(channels, 7, strides=2, padding=3, use_bias=False, in_channels=in_channels,
                       prefix="conv0_"),
             batch_norm(channels, prefix="bn0_"),
             nn.Activation("relu", prefix="relu0_"),
             nn.MaxPool2D(3, strides=2, padding=1, prefix="pooling0_"))
    return stem


def thumbnail_stem(channels, in_channels=3):
    """Full-precision CIFAR stem (BMXNet v1's CIFAR-10 ResNet): one conv 3x3/1 (pad 1, no bias), nothing else.

    ``(N, in_channels, H, W) -> (N, channels, H, W)``.
    """
    return nn.Conv2D(channels, 3, strides=1, padding=1, use_bias=False, in_channels=in_channels,
                     prefix="conv0_")


def classifier(in_channels, classes):
    """Head: BN, ReLU, global average pool, full-precision FC. ``(N, C, H, W) -> (N, classes)``."""
    head = nn.HybridSequential(prefix="")
    head.add(batch_norm(in_channels, prefix="bn1_"),
             nn.Activation("relu", prefix="relu1_"),
             nn.GlobalAvgPool2D(prefix="pool1_"),
             nn.Dense(classes, in_units=in_channels, prefix="fc1_"))
    return head
