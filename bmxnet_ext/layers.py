"""Quantized Gluon layers and the blocks of binary architectures.

- :class:`QActivation`: quantize activations (BMXNet-v2's block before every binary layer).
- :class:`QConv1D`, :class:`QConv2D`, :class:`QConv3D`, :class:`QDense`, :class:`QDepthwiseConv2D`,
  :class:`QSeparableConv2D`: Gluon's layers (same positional arguments) with Larq's keyword arguments
  ``input_quantizer``, ``kernel_quantizer``, ``kernel_constraint`` and ``pad_value``.
- :class:`RSign`, :class:`RPReLU` (ReActNet) and :class:`TrainableScale` (XNOR-Net++).
- :class:`BinaryConvolution`, :class:`BinaryDense`: ``QActivation`` + ``QConv2D`` / ``QDense``.

Two ways to configure a quantized layer:

- **Larq style**: ``input_quantizer`` and/or ``kernel_quantizer`` given (anything :func:`bmxnet_ext.quantizers.get`
  takes). A quantizer left out means none (full precision); ``bits`` may not be combined with them.
- **BMXNet-v2 shorthands** (no quantizer given): ``bits`` (1: ``ste_sign`` without clipping, 2..31: ``dorefa``,
  32: none) and ``scaling``; the input is quantized by a preceding :class:`QActivation`. Values left as
  ``None`` take the defaults of :mod:`bmxnet_ext.config` (1 bit, no scaling), changeable with
  :func:`bmxnet_ext.binary_layer_config`.

Weights keep float *latent* values that the forward pass quantizes with a pseudo-gradient, so any Gluon
optimizer (or :mod:`bmxnet_ext.optimizers`' Bop) trains them. ``kernel_constraint`` (e.g. ``"weight_clip"``)
is stored on the weight parameter and applied after each update (by :class:`bmxnet_ext.optimizers.CaseOptimizer`,
:class:`bmxnet_ext.optimizers.Trainer` or :func:`bmxnet_ext.constraints.apply_constraints`).

Conventions (``docs/conventions.md``): a layer with a 1-bit kernel outputs the raw dot product of the quantized
tensors times the kernel quantizer's per-channel scale (if any), has no bias and no activation, and pads with
-1 (or the low level of its 1-bit input quantizer), so the packed xnor/popcount kernel reproduces it exactly.
"""
import json
import logging
import math

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from . import config, constraints, quantizers

__all__ = ["QActivation", "QConv1D", "QConv2D", "QConv3D", "QDense", "QDepthwiseConv2D", "QSeparableConv2D",
           "RSign", "RPReLU", "TrainableScale", "BinaryConvolution", "BinaryDense", "SCALING_MODES"]

log = logging.getLogger("bmxnet_ext")

SCALING_MODES = ("none", "backward", "forward_backward", "xnor")
"""Scaling modes of 1-bit layers (paper Fig. 4b), with ``alpha`` = mean |W| of the latent weights:

- ``none`` (N): ``y = conv(x, sign W)``.
- ``backward`` (B): the forward value is unscaled, the gradient is that of ``alpha * y``.
- ``forward_backward`` (FB): ``y = alpha * conv(x, sign W)``, one ``alpha`` per layer (DoReFa).
- ``xnor``: ``y[:, o] = alpha_o * conv(x, sign W)[:, o]``, ``alpha_o`` = mean |W[o]| (XNOR-Net): the kernel
  quantizer ``magnitude_aware_sign``, which the shorthand ``scaling="xnor"`` resolves to.

``alpha`` is a constant to the gradient in every mode.
"""


LAYER_ATTR = "__bmx_layer__"
"""Symbol attribute naming the quantized layer that created a graph node (for the model converter)."""
CONFIG_ATTR = "__bmx_config__"
"""Symbol attribute holding the creating layer's quantization settings as JSON (for the model converter)."""


def quantizer_config(quantizer):
    """JSON-able description of a quantizer: its ``get_config()``, ``{"name": ..., "custom": True}`` for a
    custom callable, None for None."""
    if quantizer is None:
        return None
    if isinstance(quantizer, quantizers.Quantizer):
        return quantizer.get_config()
    return {"name": getattr(quantizer, "__name__", type(quantizer).__name__), "custom": True}


class _Tagged:
    """Marks every graph node a quantized layer creates with ``__bmx_layer__`` / ``__bmx_config__`` attributes.

    Exported symbol JSON then tells the converter which nodes form one quantized layer and how it was
    configured, without guessing from operator patterns.
    """

    _TAG_KIND = None  # the layer kind the converter sees; default: the class name

    def _tag(self, kind=None, name=None, **settings):
        kind = kind or self._TAG_KIND or type(self).__name__
        return mx.AttrScope(**{LAYER_ATTR: f"{kind}:{name or self.name}",
                               CONFIG_ATTR: json.dumps(settings, sort_keys=True)})


# ------------------------------------------------------------------------------------------ validation
def _number(name, value, minimum=None, allow_none=False, allow_inf=False):
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    ok = ok and (allow_inf or math.isfinite(value)) and (minimum is None or value >= minimum)
    if not ok:
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"Expected `{name}` to be a {'finite ' if not allow_inf else ''}number{bound}"
                         f"{' or None' if allow_none else ''}, got {value!r}.")
    return float(value)


def _ints(name, value, n, minimum):
    """``value`` (an int or ``n`` ints, each >= ``minimum``) as a tuple of ``n`` ints."""
    values = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(values, (tuple, list)) or len(values) != n or \
            any(not isinstance(v, int) or isinstance(v, bool) or v < minimum for v in values):
        raise ValueError(f"Expected `{name}` to be an int or {n} ints, each >= {minimum}, got {value!r}.")
    return tuple(values)


def _count(name, value, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"Expected `{name}` to be an int >= {minimum}, got {value!r}.")
    return value


# ------------------------------------------------------------------------------------------ activations
class QActivation(_Tagged, HybridBlock):
    r"""Quantize activations: :math:`y = q(\mathrm{gc}_t(x))` for a 1-bit quantizer :math:`q`, else :math:`q(x)`.

    :math:`\mathrm{gc}_t` is the identity with the gradient cancelled where :math:`|x| > t` (the clipping STE,
    paper eq. 2, :func:`bmxnet_ext.quantizers.grad_cancel`). Shorthand resolution (no ``quantizer``):

    - ``bits = 1``: ``q`` = the sign quantizer named by ``method`` (``det_sign`` / ``ste_sign``, ``approx_sign``,
      ``swish_sign``) or a callable ``f(F, x)``; for ``det_sign``
      :math:`\partial y / \partial x = 1_{|x| \le t}`.
    - ``bits = 2..31``: ``q`` = ``dorefa(bits, "activations")`` (method ``round``); ``bits = 32``: identity.

    Parameters
    ----------
    bits : int, default from config (1)
    gradient_cancel_threshold : float, default from config (0.5); None with ``quantizer``
        :math:`t \ge 0`; ``float('inf')`` or None keeps every gradient. Used with 1-bit quantizers.
    method : str or callable, default from config (``det_sign``)
    quantizer : optional
        Any :func:`bmxnet_ext.quantizers.get` identifier, instead of ``bits`` and ``method``.

    Input and output have the same shape, any rank.
    """

    def __init__(self, bits=None, gradient_cancel_threshold=None, method=None, quantizer=None, **kwargs):
        super().__init__(**kwargs)
        if quantizer is not None:
            if bits is not None or method is not None:
                raise ValueError(f"Give either `quantizer` or the shorthands `bits`/`method`, got quantizer="
                                 f"{quantizer!r} with bits={bits!r}, method={method!r}.")
            self.quantizer = quantizers.get(quantizer)
            self.threshold = _number("gradient_cancel_threshold", gradient_cancel_threshold, 0, True, True)
            self.bits = quantizers.precision(self.quantizer)
            self.method = getattr(self.quantizer, "name", None) or getattr(quantizer, "__name__", "custom")
            return
        self.bits = config.get_default("bits_a", bits)
        quantizers.check_bits(self.bits)
        self.threshold = _number("gradient_cancel_threshold", config.get_default("grad_cancel",
                                                                               gradient_cancel_threshold),
                                 0, True, True)
        self.method = config.get_default("method", method)
        if self.method == "round":
            if self.bits == 1:
                raise ValueError("Expected `bits` > 1 with method 'round' (k-bit), got bits=1: "
                                 "binary activations use 'det_sign' or 'approx_sign'.")
        elif not callable(self.method) and self.method not in quantizers.ACTIVATION_METHODS:
            raise ValueError(f"Expected `method` to be a callable or one of "
                             f"{sorted(quantizers.ACTIVATION_METHODS)}, got {self.method!r}.")
        if self.bits == 1:
            self.quantizer = self.method if callable(self.method) else quantizers.ACTIVATION_METHODS[self.method]
        else:
            self.quantizer = quantizers.from_bits(self.bits, "activations")

    def hybrid_forward(self, F, x):
        method = getattr(self.method, "__name__", self.method) if self.bits == 1 else "round"
        with self._tag(bits=self.bits, method=method, threshold=self.threshold,
                       quantizer=quantizer_config(self.quantizer)):
            if self.quantizer is None:
                return x
            if self.bits == 1:
                x = quantizers.grad_cancel(F, x, self.threshold)
            return self.quantizer(F, x)

    def __repr__(self):
        method = "round" if self.bits > 1 else getattr(self.method, "__name__", self.method)
        return f"{self.__class__.__name__}(bits={self.bits}, t_clip={self.threshold}, method={method})"


# ------------------------------------------------------------------------------------------ quantized layers
class _QuantizedWeights(_Tagged):
    """Quantizer resolution, weight quantization and output scaling shared by the convolution and dense layers."""

    def _init_quantization(self, bits, scaling, use_bias, activation, input_quantizer, kernel_quantizer,
                           kernel_constraint):
        larq_style = input_quantizer is not None or kernel_quantizer is not None
        if larq_style:
            if bits is not None:
                raise ValueError(f"Give either quantizers or the shorthand `bits`, got bits={bits!r} with "
                                 f"input_quantizer={input_quantizer!r}, kernel_quantizer={kernel_quantizer!r}.")
            self.input_quantizer = quantizers.get(input_quantizer)
            kernel = quantizers.get(kernel_quantizer)
            self.scaling = "none" if scaling is None else scaling
        else:
            self.input_quantizer = None
            kernel = quantizers.from_bits(config.get_default("bits", bits), "weights")
            self.scaling = config.get_default("scaling", scaling)
        if self.scaling not in SCALING_MODES:
            raise ValueError(f"Expected `scaling` to be one of {list(SCALING_MODES)}, got {self.scaling!r}.")
        self.bits = quantizers.precision(kernel)
        if self.scaling != "none" and not isinstance(kernel, (quantizers.SteSign, quantizers.MagnitudeAwareSign)):
            raise ValueError(f"Scaling mode {self.scaling!r} applies to 1-bit layers only (sign kernels), got "
                             f"bits={self.bits}, kernel_quantizer={kernel!r}.")
        if self.scaling == "xnor" and isinstance(kernel, quantizers.SteSign):  # the shorthand of XNOR-Net's alpha
            kernel = quantizers.MagnitudeAwareSign(clip_value=kernel.clip_value)
        if isinstance(kernel, quantizers.MagnitudeAwareSign):
            if self.scaling not in ("none", "xnor"):
                raise ValueError(f"magnitude_aware_sign scales per channel; it cannot be combined with scaling "
                                 f"{self.scaling!r}.")
            self.scaling = "xnor"
        self.kernel_quantizer = kernel
        self.kernel_constraint = constraints.get(kernel_constraint)
        if self.bits == 1 and use_bias:
            raise ValueError(f"A 1-bit {self.__class__.__name__} has no bias (its output is an integer dot "
                             "product that the following BatchNorm shifts): pass use_bias=False.")
        if self.bits == 1 and activation is not None:
            raise ValueError(f"A 1-bit {self.__class__.__name__} takes no activation, got {activation!r}: "
                             "put the BatchNorm and QActivation after it as separate blocks.")
        if self.bits == 1 and self.kernel_constraint is None and getattr(kernel, "clip_value", None) is not None:
            log.warning("%s: a binary kernel quantizer with clip_value=%s and no kernel_constraint: latent "
                        "weights that leave [-%s, %s] get no gradient again (pass kernel_constraint="
                        "'weight_clip').", type(self).__name__, kernel.clip_value, kernel.clip_value,
                        kernel.clip_value)

    def _attach_constraint(self):
        """Store the constraint on the weight parameter (and the kernel quantizer, for optimizers and metrics)."""
        self.weight.constraint = self.kernel_constraint
        self.weight.kernel_quantizer = self.kernel_quantizer

    def _quantize_input(self, F, x):
        """The input quantizer, tagged as the converter's ``QActivation`` named ``<layer>_input``."""
        if self.input_quantizer is None:
            return x
        iq = self.input_quantizer
        with self._tag(kind="QActivation", name=f"{self.name}_input", bits=quantizers.precision(iq),
                       method=getattr(iq, "name", None) or getattr(iq, "__name__", "custom"), threshold=None,
                       quantizer=quantizer_config(iq)):
            return iq(F, x)

    def _quantize(self, F, weight):
        kernel = self.kernel_quantizer
        if kernel is None:
            return weight
        if isinstance(kernel, quantizers.MagnitudeAwareSign):
            return kernel.unit(F, weight)
        return kernel(F, weight)

    def _scale(self, F, y, weight, channel_shape):
        """Apply the output scale to the layer output ``y``; ``channel_shape`` broadcasts ``(O,)`` onto ``y``."""
        if self.scaling == "none":
            return y
        if self.scaling == "xnor":
            alpha = F.reshape(self.kernel_quantizer.scale(F, weight), shape=channel_shape)
        else:
            alpha = F.BlockGrad(F.reshape(F.mean(F.abs(weight)), shape=(1,) * len(channel_shape)))
        if self.scaling == "backward":
            return F.BlockGrad(y) + F.broadcast_mul(y - F.BlockGrad(y), alpha)
        return F.broadcast_mul(y, alpha)

    def _settings(self):
        return {"bits": self.bits, "scaling": self.scaling,
                "kernel_quantizer": quantizer_config(self.kernel_quantizer)}

    def _quantization_repr(self):
        parts = [f"bits={self.bits}", f"scaling={self.scaling}"]
        if self.input_quantizer is not None:
            parts.append(f"input_quantizer={self.input_quantizer!r}")
        parts.append(f"kernel_quantizer={self.kernel_quantizer!r}")
        if self.kernel_constraint is not None:
            parts.append(f"kernel_constraint={self.kernel_constraint!r}")
        return ", ".join(parts)


INPUT_SCALING_MODES = (None, "xnor")
"""``input_scaling`` of quantized convolutions: None, or ``"xnor"`` for XNOR-Net's activation scaling map
:math:`K = A * k`, :math:`A = \\mathrm{mean}_c |x|` (per pixel, before quantization), :math:`k` the box filter
of the layer's kernel size with weights :math:`1 / \\prod \\text{kernel}` and its stride, dilation and (zero)
padding; the output is multiplied by :math:`K` (shape ``(N, 1, OH, OW)``), a constant to the gradient."""


class _QConv(_QuantizedWeights, nn.conv_layers._Conv):
    """Quantized N-d convolution in NC(D)(H)W layout: quantize the input, pad it with ``pad_value``, run a
    padding-free convolution with the quantized kernel, scale the output."""

    _RANK = None
    _LAYOUT = None

    def __init__(self, channels, kernel_size, strides, padding, dilation, groups, layout, activation, use_bias,
                 weight_initializer, bias_initializer, in_channels, bits, scaling, pad_value, input_quantizer,
                 kernel_quantizer, kernel_constraint, input_scaling, **kwargs):
        rank = self._RANK
        if layout != self._LAYOUT:
            raise ValueError(f"Expected `layout` to be {self._LAYOUT!r}, got {layout!r}.")
        _count("channels", channels)
        kernel_size = _ints("kernel_size", kernel_size, rank, 1)
        strides = _ints("strides", strides, rank, 1)
        padding = _ints("padding", padding, rank, 0)
        dilation = _ints("dilation", dilation, rank, 1)
        _count("groups", groups)
        _count("in_channels", in_channels, 0)
        if channels % groups or in_channels % groups:
            raise ValueError(f"Expected `channels` ({channels}) and `in_channels` ({in_channels}) to be multiples "
                             f"of `groups` ({groups}).")
        self._init_quantization(bits, scaling, use_bias, activation, input_quantizer, kernel_quantizer,
                                kernel_constraint)
        if input_scaling not in INPUT_SCALING_MODES:
            raise ValueError(f"Expected `input_scaling` to be one of {list(INPUT_SCALING_MODES)}, "
                             f"got {input_scaling!r}.")
        if input_scaling is not None and quantizers.precision(self.input_quantizer) != 1:
            raise ValueError(f"input_scaling={input_scaling!r} scales a binarized input: it needs a 1-bit "
                             f"input_quantizer, got {self.input_quantizer!r}.")
        self.input_scaling = input_scaling
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout,
                         in_channels=in_channels, activation=activation, use_bias=use_bias,
                         weight_initializer=weight_initializer, bias_initializer=bias_initializer, **kwargs)
        self._attach_constraint()
        pad_value = _number("pad_value", pad_value, allow_none=True)
        if pad_value is None:
            levels = getattr(self.input_quantizer, "levels", None)
            if self.input_quantizer is not None:
                pad_value = levels[0] if levels else 0.0
            else:
                pad_value = -1.0 if self.bits == 1 else 0.0
        self.pad_value = pad_value
        self._padding = padding
        if self.pad_value != 0.0:
            # Explicit padding with pad_value replaces the convolution's built-in zero padding.
            self._kwargs["pad"] = (0,) * rank

    def _pad(self, F, x):
        if self.pad_value == 0.0 or not any(self._padding):
            return x
        spatial = tuple(p for p in self._padding for _ in range(2))
        if self._RANK == 1:  # F.pad needs 4-d input: pad (N, C, 1, W) and drop the dummy axis
            x = F.expand_dims(x, axis=2)
            x = F.pad(x, mode="constant", constant_value=self.pad_value, pad_width=(0, 0, 0, 0, 0, 0) + spatial)
            return F.squeeze(x, axis=2)
        return F.pad(x, mode="constant", constant_value=self.pad_value, pad_width=(0, 0, 0, 0) + spatial)

    def _k_map(self, F, x):
        """XNOR-Net's K (see :data:`INPUT_SCALING_MODES`), ``(N, 1, *output spatial)``, gradient blocked."""
        kernel = self._kwargs["kernel"]
        box = F.ones(shape=(1, 1) + tuple(kernel)) / float(math.prod(kernel))
        a = F.mean(F.abs(F.BlockGrad(x)), axis=1, keepdims=True)
        return F.BlockGrad(F.Convolution(a, box, kernel=kernel, stride=self._kwargs["stride"],
                                         dilate=self._kwargs["dilate"], pad=self._padding, num_filter=1,
                                         no_bias=True))

    def hybrid_forward(self, F, x, weight, bias=None):
        raw = x
        x = self._quantize_input(F, x)
        with self._tag(pad_value=self.pad_value, padding=list(self._padding), input_scaling=self.input_scaling,
                       **self._settings()):
            y = super().hybrid_forward(F, self._pad(F, x), self._quantize(F, weight), bias)
            y = self._scale(F, y, weight, (1, -1) + (1,) * self._RANK)
            if self.input_scaling == "xnor":
                y = F.broadcast_mul(y, self._k_map(F, raw))
            return y

    def __repr__(self):
        base = super().__repr__()[:-1]
        padding = f", padding={self._padding}" if self._kwargs["pad"] != self._padding else ""
        scaling = f", input_scaling={self.input_scaling}" if self.input_scaling else ""
        return f"{base}{padding}, {self._quantization_repr()}, pad_value={self.pad_value:g}{scaling})"


_LARQ_ARGS_DOC = """
    input_quantizer, kernel_quantizer : optional
        Anything :func:`bmxnet_ext.quantizers.get` takes; quantizes the input before padding, and the kernel.
    kernel_constraint : optional
        Anything :func:`bmxnet_ext.constraints.get` takes, e.g. ``"weight_clip"``; applied to the latent weights
        after each update.
    bits, scaling : optional
        BMXNet-v2 shorthands (module docstring); ``scaling`` one of :data:`SCALING_MODES` (1-bit kernels only).
"""

_CONV_ARGS_DOC = """
    pad_value : float, optional
        Value of padded positions (after input quantization); default: the low level of a 1-bit
        ``input_quantizer`` (-1 for sign, 0 for heaviside), 0 for other input quantizers, and without an input
        quantizer -1 for 1-bit kernels (the input comes binary from a QActivation), 0 otherwise.
    input_scaling : None or "xnor"
        XNOR-Net's activation scaling map (:data:`INPUT_SCALING_MODES`); needs a 1-bit ``input_quantizer``.
""" + _LARQ_ARGS_DOC


class QConv2D(_QConv):
    __doc__ = r"""Quantized 2-D convolution (positional arguments as :class:`mxnet.gluon.nn.Conv2D`).

    .. math:: y = K \odot \alpha \cdot \mathrm{conv2d}(\mathrm{pad}(q_i(x), v), \hat q_k(W)) \;(+\, b)

    with input quantizer :math:`q_i`, kernel quantizer :math:`q_k = \alpha \hat q_k` (:math:`\alpha` = 1 except
    for ``magnitude_aware_sign`` and the scaling modes), padding value :math:`v` and :math:`K` = 1 unless
    ``input_scaling="xnor"``. For 1-bit inputs and kernels :math:`y / (\alpha K)` is the integer dot product
    of +/-1 values. ``layout`` must be ``NCHW``; ``use_bias`` defaults to False (Gluon: True) and must stay
    False, with no ``activation``, for 1-bit kernels.

    Shapes: input ``(N, C, H, W)``, weight ``(O, C / groups, KH, KW)``, output ``(N, O, OH, OW)`` with
    ``OH = floor((H + 2 pad - dilation (KH - 1) - 1) / stride) + 1``.

    Parameters
    ----------
    channels, kernel_size, strides, padding, dilation, groups, layout, activation, use_bias,
    weight_initializer, bias_initializer, in_channels :
        As :class:`mxnet.gluon.nn.Conv2D`.
    """ + _CONV_ARGS_DOC

    _RANK, _LAYOUT = 2, "NCHW"

    def __init__(self, channels, kernel_size, strides=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                 layout="NCHW", activation=None, use_bias=False, weight_initializer=None, bias_initializer="zeros",
                 in_channels=0, *, input_quantizer=None, kernel_quantizer=None, kernel_constraint=None,
                 pad_value=None, input_scaling=None, bits=None, scaling=None, **kwargs):
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout, activation, use_bias,
                         weight_initializer, bias_initializer, in_channels, bits, scaling, pad_value,
                         input_quantizer, kernel_quantizer, kernel_constraint, input_scaling, **kwargs)


class QConv1D(_QConv):
    __doc__ = """Quantized 1-D convolution (positional arguments as :class:`mxnet.gluon.nn.Conv1D`); the math of
    :class:`QConv2D` with one spatial axis.

    Shapes: input ``(N, C, W)``, weight ``(O, C / groups, K)``, output ``(N, O, OW)``. ``layout`` must be ``NCW``.

    Parameters
    ----------
    channels, ..., in_channels :
        As :class:`mxnet.gluon.nn.Conv1D` (``use_bias`` defaults to False).
    """ + _CONV_ARGS_DOC

    _RANK, _LAYOUT = 1, "NCW"

    def __init__(self, channels, kernel_size, strides=1, padding=0, dilation=1, groups=1, layout="NCW",
                 activation=None, use_bias=False, weight_initializer=None, bias_initializer="zeros", in_channels=0,
                 *, input_quantizer=None, kernel_quantizer=None, kernel_constraint=None, pad_value=None,
                 input_scaling=None, bits=None, scaling=None, **kwargs):
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout, activation, use_bias,
                         weight_initializer, bias_initializer, in_channels, bits, scaling, pad_value,
                         input_quantizer, kernel_quantizer, kernel_constraint, input_scaling, **kwargs)


class QConv3D(_QConv):
    __doc__ = """Quantized 3-D convolution (positional arguments as :class:`mxnet.gluon.nn.Conv3D`); the math of
    :class:`QConv2D` with three spatial axes.

    Shapes: input ``(N, C, D, H, W)``, weight ``(O, C / groups, KD, KH, KW)``, output ``(N, O, OD, OH, OW)``.
    ``layout`` must be ``NCDHW``.

    Parameters
    ----------
    channels, ..., in_channels :
        As :class:`mxnet.gluon.nn.Conv3D` (``use_bias`` defaults to False).
    """ + _CONV_ARGS_DOC

    _RANK, _LAYOUT = 3, "NCDHW"

    def __init__(self, channels, kernel_size, strides=(1, 1, 1), padding=(0, 0, 0), dilation=(1, 1, 1), groups=1,
                 layout="NCDHW", activation=None, use_bias=False, weight_initializer=None,
                 bias_initializer="zeros", in_channels=0, *, input_quantizer=None, kernel_quantizer=None,
                 kernel_constraint=None, pad_value=None, input_scaling=None, bits=None, scaling=None, **kwargs):
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout, activation, use_bias,
                         weight_initializer, bias_initializer, in_channels, bits, scaling, pad_value,
                         input_quantizer, kernel_quantizer, kernel_constraint, input_scaling, **kwargs)


class QDepthwiseConv2D(QConv2D):
    __doc__ = """Quantized depthwise 2-D convolution: a :class:`QConv2D` with ``groups = in_channels`` and
    ``channels = depth_multiplier * in_channels`` (Larq's ``QuantDepthwiseConv2D``; Gluon has no own class).

    ``in_channels`` must be given (the group count is part of the layer). Shapes: input ``(N, C, H, W)``,
    weight ``(C * depth_multiplier, 1, KH, KW)``, output ``(N, C * depth_multiplier, OH, OW)``.

    Parameters
    ----------
    kernel_size, strides, padding, dilation, layout, activation, use_bias, weight_initializer,
    bias_initializer, in_channels :
        As :class:`QConv2D`.
    depth_multiplier : int
        Output channels per input channel.
    """ + _CONV_ARGS_DOC

    _TAG_KIND = "QConv2D"  # a grouped 2-D convolution to the converter

    def __init__(self, kernel_size, strides=(1, 1), padding=(0, 0), dilation=(1, 1), depth_multiplier=1,
                 layout="NCHW", activation=None, use_bias=False, weight_initializer=None, bias_initializer="zeros",
                 in_channels=0, *, input_quantizer=None, kernel_quantizer=None, kernel_constraint=None,
                 pad_value=None, input_scaling=None, bits=None, scaling=None, **kwargs):
        _count("in_channels", in_channels)
        _count("depth_multiplier", depth_multiplier)
        super().__init__(in_channels * depth_multiplier, kernel_size, strides, padding, dilation, in_channels,
                         layout, activation, use_bias, weight_initializer, bias_initializer, in_channels,
                         input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer,
                         kernel_constraint=kernel_constraint, pad_value=pad_value, input_scaling=input_scaling,
                         bits=bits, scaling=scaling, **kwargs)


class QSeparableConv2D(HybridBlock):
    r"""Quantized depthwise-separable convolution (Larq's ``QuantSeparableConv2D``): a
    :class:`QDepthwiseConv2D` (``depthwise``) followed by a 1x1 :class:`QConv2D` (``pointwise``).

    .. math:: y = \mathrm{conv}_{1\times1}(\mathrm{dwconv}(\mathrm{pad}(q_i(x), v), q_d(W_d)), q_p(W_p)) \;(+\, b)

    The depthwise output is not quantized again. With any quantizer given, a quantizer left out means none;
    with none given, ``bits`` (default from config) sets both kernels as the shorthand does.

    Shapes: input ``(N, C, H, W)``, output ``(N, channels, OH, OW)``.

    Parameters
    ----------
    channels, kernel_size, strides, padding, dilation, depth_multiplier, layout, activation, use_bias,
    weight_initializer, bias_initializer, in_channels :
        As :class:`QConv2D` / :class:`QDepthwiseConv2D`; ``activation`` and the bias belong to the pointwise layer.
    input_quantizer, depthwise_quantizer, pointwise_quantizer, depthwise_constraint, pointwise_constraint :
        Quantizers and constraints of the input and the two kernels.
    pad_value, bits :
        As :class:`QConv2D`.
    """

    def __init__(self, channels, kernel_size, strides=(1, 1), padding=(0, 0), dilation=(1, 1), depth_multiplier=1,
                 layout="NCHW", activation=None, use_bias=False, weight_initializer=None, bias_initializer="zeros",
                 in_channels=0, *, input_quantizer=None, depthwise_quantizer=None, pointwise_quantizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, pad_value=None, bits=None, prefix=None,
                 params=None):
        super().__init__(prefix=prefix, params=params)
        larq_style = any(q is not None for q in (input_quantizer, depthwise_quantizer, pointwise_quantizer))
        if larq_style:
            depthwise = dict(input_quantizer=input_quantizer,
                             kernel_quantizer=depthwise_quantizer or quantizers.NoOp(), bits=bits)
            pointwise = dict(kernel_quantizer=pointwise_quantizer or quantizers.NoOp(), bits=bits)
        else:
            depthwise = pointwise = dict(bits=bits)
        with self.name_scope():
            self.depthwise = QDepthwiseConv2D(kernel_size, strides, padding, dilation, depth_multiplier, layout,
                                              None, False, weight_initializer, "zeros", in_channels,
                                              kernel_constraint=depthwise_constraint, pad_value=pad_value,
                                              prefix="depthwise_", **depthwise)
            self.pointwise = QConv2D(channels, 1, 1, 0, 1, 1, layout, activation, use_bias, weight_initializer,
                                     bias_initializer, in_channels * depth_multiplier,
                                     kernel_constraint=pointwise_constraint, prefix="pointwise_", **pointwise)

    def hybrid_forward(self, F, x):
        return self.pointwise(self.depthwise(x))


class QDense(_QuantizedWeights, nn.Dense):
    __doc__ = r"""Quantized fully connected layer (positional arguments as :class:`mxnet.gluon.nn.Dense`).

    .. math:: y = \alpha \cdot q_i(x) \, \hat q_k(W)^T \;(+\, b)

    ``use_bias`` defaults to False (Gluon: True) and must stay False, with no ``activation``, for 1-bit kernels.

    Shapes: input ``(N, K)`` (or ``(N, ...)`` flattened to K when ``flatten=True``), weight ``(units, K)``,
    output ``(N, units)``.

    Parameters
    ----------
    units, activation, use_bias, flatten, dtype, weight_initializer, bias_initializer, in_units :
        As :class:`mxnet.gluon.nn.Dense`.
    """ + _LARQ_ARGS_DOC

    def __init__(self, units, activation=None, use_bias=False, flatten=True, dtype="float32",
                 weight_initializer=None, bias_initializer="zeros", in_units=0, *, input_quantizer=None,
                 kernel_quantizer=None, kernel_constraint=None, bits=None, scaling=None, **kwargs):
        _count("units", units)
        _count("in_units", in_units, 0)
        self._init_quantization(bits, scaling, use_bias, activation, input_quantizer, kernel_quantizer,
                                kernel_constraint)
        super().__init__(units, activation, use_bias, flatten, dtype, weight_initializer, bias_initializer,
                         in_units, **kwargs)
        self._attach_constraint()

    def hybrid_forward(self, F, x, weight, bias=None):
        x = self._quantize_input(F, x)
        with self._tag(**self._settings()):
            y = super().hybrid_forward(F, x, self._quantize(F, weight), bias)
            channel_shape = (1, -1) if self._flatten else (-1,)
            return self._scale(F, y, weight, channel_shape)

    def __repr__(self):
        return f"{super().__repr__()[:-1]}, {self._quantization_repr()})"


# ------------------------------------------------------------------------------------------ architecture blocks
def _channel_shape(ndim):
    return (1, -1) + (1,) * (ndim - 2)


class RSign(_Tagged, HybridBlock):
    r"""ReActNet's learnable-threshold sign (Liu et al. 2020, "ReActNet"), RSign:

    .. math:: y_c = q(x_c - \beta_c)

    with a trainable per-channel threshold :math:`\beta` (initialized 0) and a 1-bit quantizer :math:`q`
    (default ``approx_sign``, ReActNet's pseudo-gradient); the gradient reaches :math:`\beta` as
    :math:`-\partial q`. Input and output ``(N, C, ...)`` of rank ``ndim``; the parameter ``threshold`` is ``(C,)``.
    """

    def __init__(self, in_channels, quantizer="approx_sign", ndim=4, **kwargs):
        super().__init__(**kwargs)
        _count("in_channels", in_channels)
        _count("ndim", ndim, 2)
        self.quantizer = quantizers.get(quantizer)
        if quantizers.precision(self.quantizer) != 1:
            raise ValueError(f"Expected a 1-bit quantizer for RSign, got {quantizer!r}.")
        self._ndim = ndim
        with self.name_scope():
            self.threshold = self.params.get("threshold", shape=(in_channels,), init="zeros")

    def hybrid_forward(self, F, x, threshold):
        with self._tag(bits=1, quantizer=quantizer_config(self.quantizer), ndim=self._ndim):
            return self.quantizer(F, F.broadcast_sub(x, F.reshape(threshold, shape=_channel_shape(self._ndim))))


class RPReLU(_Tagged, HybridBlock):
    r"""ReActNet's RPReLU: a PReLU shifted before and after, per channel,

    .. math:: y_c = \begin{cases} x_c - \gamma_c + \zeta_c & x_c > \gamma_c \\
              \beta_c (x_c - \gamma_c) + \zeta_c & \text{otherwise} \end{cases}

    with trainable ``gamma`` (input shift, init 0), ``beta`` (slope, init 0.25) and ``zeta`` (output shift,
    init 0), each ``(C,)``. Input and output ``(N, C, ...)`` of rank ``ndim``.
    """

    def __init__(self, in_channels, ndim=4, **kwargs):
        super().__init__(**kwargs)
        _count("in_channels", in_channels)
        _count("ndim", ndim, 2)
        self._ndim = ndim
        with self.name_scope():
            self.gamma = self.params.get("gamma", shape=(in_channels,), init="zeros")
            self.beta = self.params.get("beta", shape=(in_channels,), init=mx.init.Constant(0.25))
            self.zeta = self.params.get("zeta", shape=(in_channels,), init="zeros")

    def hybrid_forward(self, F, x, gamma, beta, zeta):
        shape = _channel_shape(self._ndim)
        with self._tag(ndim=self._ndim):
            shifted = F.broadcast_sub(x, F.reshape(gamma, shape=shape))
            return F.broadcast_add(F.LeakyReLU(shifted, gamma=beta, act_type="prelu"), F.reshape(zeta, shape=shape))


class TrainableScale(HybridBlock):
    r"""XNOR-Net++'s trainable output scaling (Bulat and Tzimiropoulos 2019): :math:`y = x \odot \Gamma`.

    - ``spatial=None``: :math:`\Gamma_o = \alpha_o`, one factor per channel (the paper's case 1);
    - ``spatial=(H, W)``: :math:`\Gamma_{ohw} = \alpha_o \beta_h \gamma_w` (case 3, rank-1 factors).

    Every factor starts at 1 and is learnt by backpropagation. Input and output ``(N, channels, H, W)``.
    """

    def __init__(self, channels, spatial=None, **kwargs):
        super().__init__(**kwargs)
        _count("channels", channels)
        self._spatial = None if spatial is None else _ints("spatial", spatial, 2, 1)
        with self.name_scope():
            self.alpha = self.params.get("alpha", shape=(1, channels, 1, 1), init="ones")
            if self._spatial is not None:
                self.beta = self.params.get("beta", shape=(1, 1, self._spatial[0], 1), init="ones")
                self.gamma = self.params.get("gamma", shape=(1, 1, 1, self._spatial[1]), init="ones")

    def hybrid_forward(self, F, x, alpha, beta=None, gamma=None):
        y = F.broadcast_mul(x, alpha)
        if self._spatial is not None:
            y = F.broadcast_mul(F.broadcast_mul(y, beta), gamma)
        return y


# ------------------------------------------------------------------------------------------ conveniences
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
