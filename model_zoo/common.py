"""Building blocks shared by the architectures: quantized activation/convolution, stems and heads.

Every zoo model keeps its first and last layer full precision (paper Section 4.1): the stem convolution and
the classifier are plain ``nn.Conv2D`` / ``nn.Dense``; everything in between that the paper binarizes is a
:func:`activation` (``QActivation``) followed by a :func:`qconv` (``QConv2D``).

The training-wide quantizers and constraint of :func:`bmxnet_ext.binary_layer_config` (``input_quantizer``,
``kernel_quantizer``, ``kernel_constraint``; ``bmxnet-train``'s ``--input-quantizer`` etc.) are applied here:
when set, they replace the model's own choice in every :func:`activation`, :func:`qconv` and :func:`qdense`
whose width is below 32 bits.

BatchNorm uses BMXNet v1's settings (``epsilon = 2e-5``, ``momentum = 0.9``) so released models load as
they were trained.
"""
from mxnet.gluon import HybridBlock, nn

from bmxnet_ext import QActivation, QConv2D, QDense, config, quantizers

__all__ = ["chosen", "activation", "qconv", "qdense", "batch_norm", "input_norm", "imagenet_stem", "thumbnail_stem",
           "classifier", "StemStagesNet", "avgpool_shortcut"]

BN_EPSILON = 2e-5
BN_MOMENTUM = 0.9


def chosen(name, model_choice=None):
    """Field ``name`` of the current :func:`bmxnet_ext.binary_layer_config` if set, else ``model_choice``."""
    value = config.get_default(name)
    return model_choice if value is None else value


def activation(bits_a, prefix=None, input_quantizer=None, **quantizer):
    """The activation in front of a quantized layer.

    ``bits_a < 32``: ``QActivation(quantizer=input_quantizer)`` when an input quantizer is given or chosen in
    :func:`bmxnet_ext.binary_layer_config` (the chosen one wins), else ``QActivation(bits_a, **quantizer)``
    (sign for 1 bit, DoReFa k-bit otherwise; ``quantizer`` may set ``gradient_cancel_threshold`` and
    ``method``). ``bits_a = 32``: ReLU. ``QActivation(bits=32)`` is the identity, which would leave the body of a
    pre-activation network linear between its stem and head; the full-precision twin uses the ReLU of the usual
    float networks.
    """
    if bits_a == 32:
        return nn.Activation("relu", prefix=prefix)
    input_quantizer = chosen("input_quantizer", input_quantizer)
    if input_quantizer is not None:
        return QActivation(quantizer=input_quantizer, prefix=prefix)
    return QActivation(bits=bits_a, prefix=prefix, **quantizer)


def _weight_quantization(bits, scaling, kernel_quantizer, kernel_constraint):
    """Keyword arguments that quantize the kernel of a zoo layer of ``bits`` weight bits.

    A kernel quantizer given or chosen in :func:`bmxnet_ext.binary_layer_config` (the chosen one wins) replaces
    the shorthands ``bits`` and ``scaling``; the constraint (chosen one first) applies to it and to 1-bit
    kernels. ``bits = 32`` stays full precision whatever is chosen.
    """
    if bits == 32:
        return dict(bits=32)
    kernel_quantizer = chosen("kernel_quantizer", kernel_quantizer)
    kernel_constraint = chosen("kernel_constraint", kernel_constraint)
    if kernel_quantizer is not None:
        return dict(kernel_quantizer=kernel_quantizer, kernel_constraint=kernel_constraint)
    binary = bits == 1
    return dict(bits=bits, scaling=scaling if binary else None, kernel_constraint=kernel_constraint if binary else None)


def qconv(channels, kernel_size, in_channels, bits, strides=1, padding=0, pad_value=None, prefix=None,
          dilation=1, scaling=None, kernel_quantizer=None, kernel_constraint=None):
    """A bias-free ``QConv2D`` of ``bits`` weight bits (1-bit layers pad with ``pad_value``, default -1, or the
    low level of a chosen two-valued input quantizer).

    ``scaling`` and ``kernel_constraint`` (e.g. ``"weight_clip"``) apply to 1-bit layers only (other widths
    ignore them, so full-precision twins need no case); ``kernel_quantizer`` replaces ``bits`` and ``scaling``
    (:func:`_weight_quantization`).
    """
    weights = _weight_quantization(bits, scaling, kernel_quantizer, kernel_constraint)
    levels = getattr(quantizers.get(chosen("input_quantizer")), "levels", None)
    if pad_value is None and levels and bits < 32:
        pad_value = levels[0]
    return QConv2D(channels, kernel_size, strides=strides, padding=padding, dilation=dilation,
                   in_channels=in_channels, pad_value=pad_value, prefix=prefix, **weights)


def qdense(units, in_units, bits, prefix=None, scaling=None, kernel_quantizer=None, kernel_constraint=None):
    """A bias-free ``QDense`` of ``bits`` weight bits; arguments as :func:`qconv`."""
    return QDense(units, in_units=in_units, prefix=prefix,
                  **_weight_quantization(bits, scaling, kernel_quantizer, kernel_constraint))


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


class StemStagesNet(HybridBlock):
    """A ResNet-18-like binary network: stem, stages of single-convolution blocks, global pool and FP dense.

    Stem: conv 7x7/2 (FP, no bias), the subclass's :meth:`stem_norm` blocks (BN, maybe an activation),
    max-pool 3x3/2. Stage ``i`` holds ``units[i]`` blocks :meth:`block` of width ``filters[i + 1]``
    (``filters[0]`` is the stem's). Input ``(N, in_channels, H, W)``, output ``(N, classes)``; ``bits`` /
    ``bits_a`` and ``pad_value`` reach the blocks (their binary convolutions).
    """

    def __init__(self, units=(4, 4, 4, 4), filters=(64, 64, 128, 256, 512), classes=1000, bits=1, bits_a=1,
                 pad_value=None, in_channels=3, **kwargs):
        super().__init__(**kwargs)
        if len(filters) != len(units) + 1:
            raise ValueError(f"Expected `filters` to have len(units) + 1 = {len(units) + 1} entries, got "
                             f"{len(filters)}: {tuple(filters)}.")
        self.bits, self.bits_a, self.pad_value = bits, bits_a, pad_value
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(filters[0], 7, strides=2, padding=3, use_bias=False,
                                        in_channels=in_channels, prefix="conv0_"),
                              *self.stem_norm(filters[0]),
                              nn.MaxPool2D(3, strides=2, padding=1))
            channels = filters[0]
            for stage, (count, width) in enumerate(zip(units, filters[1:]), start=1):
                for index in range(1, count + 1):
                    self.features.add(self.block(width, channels, prefix=f"stage{stage}_block{index}_"))
                    channels = width
            self.output = nn.HybridSequential(prefix="")
            self.output.add(nn.GlobalAvgPool2D(), nn.Dense(classes, in_units=channels, prefix="fc_"))

    def stem_norm(self, channels):
        """The blocks between the stem's convolution and its max-pool."""
        raise NotImplementedError

    def block(self, channels, in_channels, prefix):
        """One block ``(N, in_channels, H, W) -> (N, channels, H', W')`` named by ``prefix``."""
        raise NotImplementedError

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def avgpool_shortcut(channels, in_channels, norm):
    """Bi-Real-style projection shortcut ``avg-pool 2x2/2 -> conv 1x1 (FP, no bias) -> norm(channels)``,
    ``(N, in_channels, H, W) -> (N, channels, H / 2, W / 2)``; ``norm(channels, prefix)`` builds the BatchNorm."""
    shortcut = nn.HybridSequential(prefix="downsample_")
    with shortcut.name_scope():
        shortcut.add(nn.AvgPool2D(2, strides=2),
                     nn.Conv2D(channels, 1, use_bias=False, in_channels=in_channels, prefix="conv_"),
                     norm(channels, "bn_"))
    return shortcut
