"""Small members of the zoo's families for 28 x 28 grey images, so the paper's studies run on a CPU.

The paper ran them on ImageNet (ResNet-18, DenseNet-13..69); here the same families shrink to MNIST scale:
CIFAR-style (thumbnail) stems, narrow widths; the training tool passes the data's ``in_channels``.
"""
import functools

from model_zoo import densenet, resnet

__all__ = ["small_resnet", "small_densenet"]


def small_resnet(bottleneck=False):
    """Binary pre-activation ResNet, 3 stages of 1 unit, widths 32 / 64 / 128 after a 32-filter stem.

    With ``bottleneck`` the units are 1x1 (w/4), 3x3 (w/4), 1x1 (w) as in ResNet-26/50 (paper Table 3).
    """
    return functools.partial(resnet, [1, 1, 1], [32, 32, 64, 128], bottleneck=bottleneck, thumbnail=True)


def small_densenet(growth_rate, blocks):
    """Binary DenseNet: stem of ``2 k`` filters, four units of ``blocks`` blocks of growth ``growth_rate``."""
    return functools.partial(densenet, growth_rate, blocks, thumbnail=True)
