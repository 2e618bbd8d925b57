"""Quantized Gluon layers: ``QActivation``, ``QConv1D``, ``QConv2D``, ``QDense`` and binary conveniences.

The layers follow Gluon's own signatures (``Conv2D``, ``Dense``) plus BMXNet-v2's quantization arguments.
Weights keep float *latent* values; the forward pass quantizes them (1 bit: ``det_sign``, 2..31 bits: DoReFa,
32 bits: unchanged) with a straight-through gradient, so any Gluon optimizer trains them. Activations are
quantized by :class:`QActivation`, which the binary model places before every binary layer
(:class:`BinaryConvolution` bundles the two).

Arguments left as ``None`` take the defaults of :mod:`bmxnet_ext.config` (1 bit, ``t_clip = 0.5``,
``det_sign``, no scaling), changeable with :func:`bmxnet_ext.binary_layer_config`.

Conventions (``docs/conventions.md``): a 1-bit layer outputs the raw dot product of +/-1 tensors, and pads
with -1, so the packed xnor/popcount kernel reproduces it exactly.
"""
import json

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from . import config, quantization

__all__ = ["QActivation", "QConv1D", "QConv2D", "QDense", "BinaryConvolution", "BinaryDense", "SCALING_MODES"]

SCALING_MODES = ("none", "backward", "forward_backward", "xnor")
"""Scaling modes of binary layers (paper Fig. 4b), with ``alpha`` = mean |W| of the latent weights:

- ``none`` (N): ``y = conv(x, sign W)``.
- ``backward`` (B): the forward value is unscaled, the gradient is that of ``alpha * y``.
- ``forward_backward`` (FB): ``y = alpha * conv(x, sign W)``, one ``alpha`` per layer (DoReFa).
- ``xnor``: ``y[:, o] = alpha_o * conv(x, sign W)[:, o]``, ``alpha_o`` = mean |W[o]| (XNOR-Net).

``alpha`` is a constant to the gradient in every mode.
"""


LAYER_ATTR = "__bmx_layer__"
"""Symbol attribute naming the quantized layer that created a graph node (for the model converter)."""
CONFIG_ATTR = "__bmx_config__"
"""Symbol attribute holding the creating layer's quantization settings as JSON (for the model converter)."""


class _Tagged:
    """Marks every graph node a quantized layer creates with ``__bmx_layer__`` / ``__bmx_config__`` attributes.

    Exported symbol JSON then tells the converter which nodes form one quantized layer and how it was
    configured, without guessing from operator patterns.
    """

    def _tag(self, **settings):
        return mx.AttrScope(**{LAYER_ATTR: f"{type(self).__name__}:{self.name}",
                               CONFIG_ATTR: json.dumps(settings, sort_keys=True)})


class QActivation(_Tagged, HybridBlock):
    r"""Quantize activations: binary sign with a clipping STE, or DoReFa k-bit.

    - ``bits = 1``: :math:`y = \mathrm{sign}(x)` (zero maps to +1) with the gradient of ``method``, cancelled
      where :math:`|x| > t_{clip}` (paper eq. 2): for ``det_sign``,
      :math:`\partial y / \partial x = 1_{|x| \le t_{clip}}`.
    - ``bits = 2..31``: :math:`y = q_k(\mathrm{clip}(x, 0, 1))`, :math:`2^k` levels in [0, 1] (method ``round``).
    - ``bits = 32``: identity.

    Parameters
    ----------
    bits : int, default from config (1)
    gradient_cancel_threshold : float, default from config (0.5)
        :math:`t_{clip}`; ``float('inf')`` keeps every gradient. Used for ``bits = 1``.
    method : str or callable, default from config (``det_sign``)
        ``det_sign``, ``approx_sign``, ``round`` (only with ``bits > 1``) or a callable ``f(F, x)``.

    Input and output have the same shape, any rank.
    """

    def __init__(self, bits=None, gradient_cancel_threshold=None, method=None, **kwargs):
        super().__init__(**kwargs)
        self.bits = config.get_default("bits_a", bits)
        quantization._check_bits(self.bits)
        self.threshold = config.get_default("grad_cancel", gradient_cancel_threshold)
        self.method = config.get_default("method", method)
        if self.method == "round":
            if self.bits == 1:
                raise ValueError("Expected `bits` > 1 with method 'round' (k-bit), got bits=1: "
                                 "binary activations use 'det_sign' or 'approx_sign'.")
            self._sign = None
        elif self.bits == 1:
            self._sign = quantization.get_activation_method(self.method)
        else:
            quantization.get_activation_method(self.method)  # still reject unknown names early
            self._sign = None

    def hybrid_forward(self, F, x):
        method = getattr(self.method, "__name__", self.method) if self.bits == 1 else "round"
        with self._tag(bits=self.bits, method=method, threshold=self.threshold):
            if self.bits == 1:
                return self._sign(F, quantization.grad_cancel(F, x, self.threshold))
            return quantization.quantize_activations(F, x, self.bits)

    def __repr__(self):
        method = "round" if self.bits > 1 else getattr(self.method, "__name__", self.method)
        return f"{self.__class__.__name__}(bits={self.bits}, t_clip={self.threshold}, method={method})"


class _QuantizedWeights(_Tagged):
    """Weight quantization and output scaling shared by the quantized convolution and dense layers."""

    def _init_quantization(self, bits, scaling, use_bias, activation):
        self.bits = config.get_default("bits", bits)
        quantization._check_bits(self.bits)
        self.scaling = config.get_default("scaling", scaling)
        if self.scaling not in SCALING_MODES:
            raise ValueError(f"Expected `scaling` to be one of {list(SCALING_MODES)}, got {self.scaling!r}.")
        if self.bits != 1 and self.scaling != "none":
            raise ValueError(f"Scaling mode {self.scaling!r} applies to 1-bit layers only, got bits={self.bits}.")
        if self.bits == 1 and use_bias:
            raise ValueError(f"A 1-bit {self.__class__.__name__} has no bias (its output is an integer dot "
                             "product that the following BatchNorm shifts): pass use_bias=False.")
        if self.bits == 1 and activation is not None:
            raise ValueError(f"A 1-bit {self.__class__.__name__} takes no activation, got {activation!r}: "
                             "put the BatchNorm and QActivation after it as separate blocks.")

    def _quantize(self, F, weight):
        return quantization.quantize_weights(F, weight, self.bits)

    def _scale(self, F, y, weight, channel_shape):
        """Apply the scaling mode to the layer output ``y``; ``channel_shape`` broadcasts ``(O,)`` onto ``y``."""
        if self.scaling == "none":
            return y
        if self.scaling == "xnor":
            alpha = F.reshape(F.mean(F.abs(weight), axis=0, exclude=True), shape=channel_shape)
        else:
            alpha = F.reshape(F.mean(F.abs(weight)), shape=(1,) * len(channel_shape))
        alpha = F.BlockGrad(alpha)
        if self.scaling == "backward":
            return F.BlockGrad(y) + F.broadcast_mul(y - F.BlockGrad(y), alpha)
        return F.broadcast_mul(y, alpha)


def _binary_pad_value(bits, pad_value):
    """-1 for 1-bit layers (padded positions stay binary), 0 otherwise, unless given."""
    if pad_value is not None:
        return float(pad_value)
    return -1.0 if bits == 1 else 0.0


class _QConv(_QuantizedWeights, nn.conv_layers._Conv):
    """Quantized N-d convolution in NC(H)W layout, padding with ``pad_value`` before a padding-free conv."""

    def __init__(self, channels, kernel_size, strides, padding, dilation, groups, layout, in_channels,
                 activation, use_bias, bits, scaling, pad_value, **kwargs):
        self._init_quantization(bits, scaling, use_bias, activation)
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout,
                         in_channels=in_channels, activation=activation, use_bias=use_bias, **kwargs)
        if layout not in ("NCW", "NCHW"):
            raise ValueError(f"Expected `layout` to be 'NCW' or 'NCHW', got {layout!r}.")
        self.pad_value = _binary_pad_value(self.bits, pad_value)
        self._padding = self._kwargs["pad"]
        if self.pad_value != 0.0:
            # Explicit padding with pad_value replaces the convolution's built-in zero padding.
            self._kwargs["pad"] = (0,) * len(self._padding)

    def _pad(self, F, x):
        if self.pad_value == 0.0 or not any(self._padding):
            return x
        spatial = tuple(p for p in self._padding for _ in range(2))
        if len(self._padding) == 1:  # F.pad needs 4-d input: pad (N, C, 1, W) and drop the dummy axis
            x = F.expand_dims(x, axis=2)
            x = F.pad(x, mode="constant", constant_value=self.pad_value, pad_width=(0, 0, 0, 0, 0, 0) + spatial)
            return F.squeeze(x, axis=2)
        return F.pad(x, mode="constant", constant_value=self.pad_value, pad_width=(0, 0, 0, 0) + spatial)

    def hybrid_forward(self, F, x, weight, bias=None):
        with self._tag(bits=self.bits, scaling=self.scaling, pad_value=self.pad_value,
                       padding=list(self._padding)):
            x = self._pad(F, x)
            y = super().hybrid_forward(F, x, self._quantize(F, weight), bias)
            return self._scale(F, y, weight, (1, -1) + (1,) * len(self._padding))

    def __repr__(self):
        base = super().__repr__()[:-1]
        padding = f", padding={self._padding}" if self._kwargs["pad"] != self._padding else ""
        return f"{base}{padding}, bits={self.bits}, scaling={self.scaling}, pad_value={self.pad_value:g})"


class QConv2D(_QConv):
    r"""Quantized 2-D convolution.

    .. math:: y = \alpha \cdot \mathrm{conv2d}(\mathrm{pad}(x, v), Q_b(W)) \;(+\, b)

    with :math:`Q_1 = \mathrm{sign}` (straight-through gradient), :math:`Q_k` DoReFa for 2..31 bits,
    :math:`Q_{32} = \mathrm{id}`, padding value :math:`v` and scaling :math:`\alpha` per ``scaling``. For
    1-bit inputs and weights, :math:`y` is the integer dot product of +/-1 values.

    Parameters
    ----------
    channels, kernel_size, strides, padding, dilation, groups, layout, in_channels, activation, use_bias,
    weight_initializer, bias_initializer :
        As :class:`mxnet.gluon.nn.Conv2D` (``layout`` must be ``NCHW``; ``use_bias`` defaults to False and must
        stay False, with no ``activation``, at 1 bit).
    bits : int, default from config (1)
        Weight bits.
    scaling : str, default from config (``none``)
        One of :data:`SCALING_MODES` (1-bit only).
    pad_value : float, optional
        Value of padded positions; default -1 for 1-bit layers (keeps the input binary), 0 otherwise.

    Shapes: input ``(N, C, H, W)``, weight ``(O, C / groups, KH, KW)``, output ``(N, O, OH, OW)`` with
    ``OH = floor((H + 2 pad - dilation (KH - 1) - 1) / stride) + 1``.
    """

    def __init__(self, channels, kernel_size, strides=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                 layout="NCHW", in_channels=0, activation=None, use_bias=False, bits=None, scaling=None,
                 pad_value=None, weight_initializer=None, bias_initializer="zeros", **kwargs):
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size,) * 2
        if len(kernel_size) != 2:
            raise ValueError(f"Expected `kernel_size` to be an int or 2 ints, got {kernel_size!r}.")
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout, in_channels,
                         activation, use_bias, bits, scaling, pad_value,
                         weight_initializer=weight_initializer, bias_initializer=bias_initializer, **kwargs)


class QConv1D(_QConv):
    r"""Quantized 1-D convolution; :class:`QConv2D` with one spatial axis.

    Shapes: input ``(N, C, W)``, weight ``(O, C / groups, K)``, output ``(N, O, OW)``. ``layout`` must be
    ``NCW``. Other arguments as :class:`QConv2D`.
    """

    def __init__(self, channels, kernel_size, strides=1, padding=0, dilation=1, groups=1, layout="NCW",
                 in_channels=0, activation=None, use_bias=False, bits=None, scaling=None, pad_value=None,
                 weight_initializer=None, bias_initializer="zeros", **kwargs):
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size,)
        if len(kernel_size) != 1:
            raise ValueError(f"Expected `kernel_size` to be an int or 1 int, got {kernel_size!r}.")
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout, in_channels,
                         activation, use_bias, bits, scaling, pad_value,
                         weight_initializer=weight_initializer, bias_initializer=bias_initializer, **kwargs)


class QDense(_QuantizedWeights, nn.Dense):
    r"""Quantized fully connected layer.

    .. math:: y = \alpha \cdot x \, Q_b(W)^T \;(+\, b)

    Parameters as :class:`mxnet.gluon.nn.Dense` plus ``bits`` and ``scaling`` (see :class:`QConv2D`);
    ``use_bias`` defaults to False and must stay False, with no ``activation``, at 1 bit.

    Shapes: input ``(N, K)`` (or ``(N, ...)`` flattened to K when ``flatten=True``), weight ``(units, K)``,
    output ``(N, units)``.
    """

    def __init__(self, units, activation=None, use_bias=False, flatten=True, in_units=0, bits=None,
                 scaling=None, **kwargs):
        self._init_quantization(bits, scaling, use_bias, activation)
        super().__init__(units, activation=activation, use_bias=use_bias, flatten=flatten, in_units=in_units,
                         **kwargs)

    def hybrid_forward(self, F, x, weight, bias=None):
        with self._tag(bits=self.bits, scaling=self.scaling):
            y = super().hybrid_forward(F, x, self._quantize(F, weight), bias)
            channel_shape = (1, -1) if self._flatten else (-1,)
            return self._scale(F, y, weight, channel_shape)

    def __repr__(self):
        return f"{super().__repr__()[:-1]}, bits={self.bits}, scaling={self.scaling})"


class BinaryConvolution(HybridBlock):
    """``QActivation`` followed by ``QConv2D`` (BMXNet-v2's convenience block).

    Parameters: those of :class:`QConv2D`, plus ``bits_a``, ``gradient_cancel_threshold`` and ``method`` for
    the :class:`QActivation`. Shapes as :class:`QConv2D`.
    """

    def __init__(self, channels, kernel_size, bits_a=None, gradient_cancel_threshold=None, method=None,
                 prefix=None, params=None, **conv_kwargs):
        super().__init__(prefix=prefix, params=params)
        with self.name_scope():
            self.qact = QActivation(bits=bits_a, gradient_cancel_threshold=gradient_cancel_threshold,
                                    method=method)
            self.qconv = QConv2D(channels, kernel_size, **conv_kwargs)

    def hybrid_forward(self, F, x):
        return self.qconv(self.qact(x))


class BinaryDense(HybridBlock):
    """``QActivation`` followed by ``QDense``. Parameters as :class:`BinaryConvolution` / :class:`QDense`."""

    def __init__(self, units, bits_a=None, gradient_cancel_threshold=None, method=None, prefix=None,
                 params=None, **dense_kwargs):
        super().__init__(prefix=prefix, params=params)
        with self.name_scope():
            self.qact = QActivation(bits=bits_a, gradient_cancel_threshold=gradient_cancel_threshold,
                                    method=method)
            self.qdense = QDense(units, **dense_kwargs)

    def hybrid_forward(self, F, x):
        return self.qdense(self.qact(x))
