r"""Quantizers: registered objects that quantize a tensor in the forward pass and give it a pseudo-gradient.

A quantizer is called as ``q(F, x)`` with the operator namespace ``F`` first (``mx.nd`` or ``mx.sym``), as
Gluon's ``hybrid_forward`` does, so the same code runs imperatively and inside a hybridized graph. Each has a
snake_case ``name`` (its registry key), a ``precision`` in bits, ``get_config()`` (a dict that :func:`get`
turns back into an equal quantizer) and, when its forward output takes exactly two values, ``levels`` =
``(low, high)``. Shapes are preserved.

    >>> from bmxnet_ext import quantizers
    >>> q = quantizers.get("ste_sign")                       # by name, default arguments
    >>> q = quantizers.get({"name": "dorefa", "k_bit": 2})  # by config
    >>> sorted(quantizers.REGISTRY)[:3]
    ['approx_sign', 'dorefa', 'magnitude_aware_sign']

Pseudo-gradients are expressed with pure MXNet operators by the identity

    out = BlockGrad(forward_value) + (g - BlockGrad(g))

whose forward value is *exactly* ``forward_value`` (``g - g`` is exactly 0 for finite ``g``) and whose gradient
is the gradient of the surrogate ``g``. No Python ``CustomOp`` is involved, so training stays fast and graphs
export cleanly.

Conventions (``docs/conventions.md``): the sign of zero is +1 (``ste_heaviside(0) = 1`` accordingly, so
``ste_heaviside = (ste_sign + 1) / 2`` exactly); k-bit quantization is DoReFa-Net's (Zhou et al., 2016).
``docs/quantizers.md`` plots every quantizer's forward value and pseudo-gradient.
"""
import re

from .identifiers import resolve

__all__ = [
    "Quantizer", "SteSign", "ApproxSign", "SwishSign", "MagnitudeAwareSign", "SteHeaviside", "SteTern", "DoReFa",
    "NoOp", "REGISTRY", "ACTIVATION_METHODS", "get", "precision", "from_bits", "check_bits",
    "straight_through", "grad_cancel", "round_ste", "quantize_k",
]

REGISTRY = {}
"""Quantizer classes by registered snake_case name."""


def register(cls):
    """Class decorator: add ``cls`` to :data:`REGISTRY` under ``cls.name`` (snake_case, unique)."""
    if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", cls.name or "") or cls.name in REGISTRY:
        raise ValueError(f"Expected a new snake_case quantizer name, got {cls.name!r}.")
    REGISTRY[cls.name] = cls
    return cls


# --------------------------------------------------------------------------------------------- primitives
def straight_through(F, forward_value, surrogate):
    """``forward_value`` in the forward pass, the gradient of ``surrogate`` in the backward pass."""
    return F.BlockGrad(forward_value) + (surrogate - F.BlockGrad(surrogate))


def _sign_values(F, x):
    """+1 where ``x >= 0`` (zero and -0.0 included), -1 elsewhere."""
    return 2 * (x >= 0) - 1


def grad_cancel(F, x, threshold):
    r"""Identity forward; cancels the gradient where ``|x| > threshold`` (the clipping STE, Bethge et al. 2018).

    .. math:: y = x, \qquad \frac{\partial y}{\partial x} = 1_{|x| \le t}

    ``threshold=None`` passes every gradient.
    """
    if threshold is None:
        return x
    keep = F.BlockGrad(F.abs(x) <= threshold)
    return straight_through(F, x, x * keep)


def round_ste(F, x):
    r"""Round half away from zero with a straight-through gradient: :math:`y = round(x)`, :math:`dy/dx := 1`."""
    return straight_through(F, F.round(x), x)


def quantize_k(F, x, bits):
    r"""DoReFa's k-bit quantizer of values in [0, 1]: :math:`q_k(x) = round((2^k - 1) x) / (2^k - 1)`.

    The result takes exactly the :math:`2^k` levels :math:`i / (2^k - 1)` for inputs in [0, 1]; the gradient is
    straight-through. ``bits=32`` returns ``x`` unchanged.
    """
    check_bits(bits)
    if bits == 32:
        return x
    levels = float(2 ** bits - 1)
    return round_ste(F, x * levels) / levels


def check_bits(bits, name="bits", high=32):
    """Raise ``ValueError`` unless ``bits`` is an int in 1..``high``."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= high:
        raise ValueError(f"Expected `{name}` to be an integer from 1 to {high}, got {bits!r}.")


def _check_clip(clip_value):
    if clip_value is not None and (isinstance(clip_value, bool) or not isinstance(clip_value, (int, float))
                                   or not clip_value >= 0):
        raise ValueError(f"Expected `clip_value` to be a number >= 0 or None, got {clip_value!r}.")
    return None if clip_value is None else float(clip_value)


# --------------------------------------------------------------------------------------------- quantizers
class Quantizer:
    """Base class. Subclasses set ``name`` and ``precision``, implement ``__call__(F, x)`` and ``_config()``."""

    name = None
    precision = 32
    levels = None
    """``(low, high)`` when every forward output is one of two values, else None."""

    def __call__(self, F, x):
        raise NotImplementedError

    def _config(self):
        return {}

    def get_config(self):
        """``{"name": ..., **arguments}``; ``get(q.get_config()) == q``."""
        return {"name": self.name, **self._config()}

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(tuple(sorted(self.get_config().items())))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{self.name}({args})"


@register
class SteSign(Quantizer):
    r"""Sign with the clipping straight-through estimator (Hubara et al. 2016, "Binarized Neural Networks").

    .. math:: q(x) = \begin{cases} +1 & x \ge 0 \\ -1 & x < 0 \end{cases}, \qquad
              \frac{\partial q}{\partial x} = 1_{|x| \le c}

    ``clip_value`` :math:`c` (default 1.0); ``None`` passes every gradient (the identity STE).
    """

    name = "ste_sign"
    precision = 1
    levels = (-1.0, 1.0)

    def __init__(self, clip_value=1.0):
        self.clip_value = _check_clip(clip_value)

    def __call__(self, F, x):
        return straight_through(F, _sign_values(F, x), grad_cancel(F, x, self.clip_value))

    def _config(self):
        return {"clip_value": self.clip_value}


@register
class ApproxSign(Quantizer):
    r"""Sign with Bi-Real Net's piecewise-polynomial pseudo-gradient (Liu et al. 2018, "Bi-Real Net").

    Forward as :class:`SteSign`; the gradient is that of :math:`2x - x|x|` on :math:`[-1, 1]`:

    .. math:: \frac{\partial q}{\partial x} = \begin{cases} 2 - 2|x| & |x| < 1 \\ 0 & \text{otherwise}
              \end{cases}
    """

    name = "approx_sign"
    precision = 1
    levels = (-1.0, 1.0)

    def __call__(self, F, x):
        slope = F.BlockGrad((F.abs(x) < 1) * (2 - 2 * F.abs(x)))
        return straight_through(F, _sign_values(F, x), x * slope)


@register
class SwishSign(Quantizer):
    r"""Sign with the SignSwish pseudo-gradient of BNN+ (Darabi et al. 2018, "BNN+").

    Forward as :class:`SteSign`; the gradient is that of :math:`2 \sigma(\beta x)(1 + \beta x (1 -
    \sigma(\beta x))) - 1`:

    .. math:: \frac{\partial q}{\partial x} = \frac{\beta (2 - \beta x \tanh(\beta x / 2))}{1 + \cosh(\beta x)}

    ``beta`` > 0 (default 5.0) sets the width of the gradient's bump; it is 0 for large :math:`|x|`.
    """

    name = "swish_sign"
    precision = 1
    levels = (-1.0, 1.0)

    def __init__(self, beta=5.0):
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise ValueError(f"Expected `beta` to be a number > 0, got {beta!r}.")
        self.beta = float(beta)

    def __call__(self, F, x):
        bx = self.beta * x
        slope = F.BlockGrad(self.beta * (2 - bx * F.tanh(bx / 2)) / (1 + F.cosh(bx)))
        return straight_through(F, _sign_values(F, x), x * slope)

    def _config(self):
        return {"beta": self.beta}


@register
class MagnitudeAwareSign(Quantizer):
    r"""Sign scaled per output channel by the mean magnitude (Bi-Real Net's weights; XNOR-Net's :math:`\alpha`).

    For weights :math:`W` of shape ``(O, ...)`` (Gluon's layout, output channel first):

    .. math:: q(W)_o = \alpha_o \, \mathrm{sign}(W_o), \quad \alpha_o = \mathrm{mean}|W_o|, \qquad
              \frac{\partial q(W)_o}{\partial W_o} = \alpha_o 1_{|W_o| \le c}

    :math:`\alpha` is a constant to the gradient. ``clip_value`` :math:`c` as :class:`SteSign`. Quantized
    layers apply :math:`\alpha` to their output (:meth:`scale`), so the layer's dot product stays that of
    +/-1 tensors.
    """

    name = "magnitude_aware_sign"
    precision = 1

    def __init__(self, clip_value=1.0):
        self.clip_value = _check_clip(clip_value)

    def unit(self, F, w):
        """The +/-1 part, :math:`\\mathrm{sign}(W)` with the clipping STE."""
        return SteSign(self.clip_value)(F, w)

    def scale(self, F, w):
        """:math:`\\alpha`, shape ``(O,)``, gradient blocked."""
        return F.BlockGrad(F.mean(F.abs(w), axis=0, exclude=True))

    def __call__(self, F, w):
        alpha = F.BlockGrad(F.mean(F.abs(w), axis=0, exclude=True, keepdims=True))
        return F.broadcast_mul(self.unit(F, w), alpha)

    def _config(self):
        return {"clip_value": self.clip_value}


@register
class SteHeaviside(Quantizer):
    r"""Heaviside step with the clipping straight-through estimator ({0, 1} values, as in Larq).

    .. math:: q(x) = \begin{cases} 1 & x \ge 0 \\ 0 & x < 0 \end{cases} = \frac{\mathrm{sign}(x) + 1}{2},
              \qquad \frac{\partial q}{\partial x} = 1_{|x| \le c}

    ``q(0) = 1`` follows this project's sign of zero (Larq gives 0). ``clip_value`` :math:`c` as :class:`SteSign`.
    """

    name = "ste_heaviside"
    precision = 1
    levels = (0.0, 1.0)

    def __init__(self, clip_value=1.0):
        self.clip_value = _check_clip(clip_value)

    def __call__(self, F, x):
        return straight_through(F, x >= 0, grad_cancel(F, x, self.clip_value))

    def _config(self):
        return {"clip_value": self.clip_value}


@register
class SteTern(Quantizer):
    r"""Ternarization with the clipping straight-through estimator (Li et al. 2016, "Ternary Weight Networks").

    .. math:: q(x) = \begin{cases} \mathrm{sign}(x) & |x| \ge \Delta \\ 0 & |x| < \Delta \end{cases},
              \qquad \frac{\partial q}{\partial x} = 1_{|x| \le c}

    :math:`\Delta` = ``threshold_value``, or with ``ternary_weight_networks=True`` TWN's
    :math:`\Delta = 0.7 \, \mathrm{mean}|x|` over the whole tensor (a constant to the gradient).
    """

    name = "ste_tern"
    precision = 2

    def __init__(self, threshold_value=0.05, ternary_weight_networks=False, clip_value=1.0):
        if isinstance(threshold_value, bool) or not isinstance(threshold_value, (int, float)) \
                or not threshold_value >= 0:
            raise ValueError(f"Expected `threshold_value` to be a number >= 0, got {threshold_value!r}.")
        self.threshold_value = float(threshold_value)
        self.ternary_weight_networks = bool(ternary_weight_networks)
        self.clip_value = _check_clip(clip_value)

    def __call__(self, F, x):
        if self.ternary_weight_networks:
            delta = F.broadcast_like(F.BlockGrad(0.7 * F.mean(F.abs(x), keepdims=True)), x)
            outside = F.abs(x) >= delta
        else:
            outside = F.abs(x) >= self.threshold_value
        return straight_through(F, _sign_values(F, x) * outside, grad_cancel(F, x, self.clip_value))

    def _config(self):
        return {"threshold_value": self.threshold_value, "ternary_weight_networks": self.ternary_weight_networks,
                "clip_value": self.clip_value}


@register
class DoReFa(Quantizer):
    r"""DoReFa-Net's k-bit quantizer (Zhou et al. 2016), for activations or weights.

    With :math:`q_k(x) = round((2^k - 1) x) / (2^k - 1)` (straight-through):

    - ``mode="activations"``: :math:`q(x) = q_k(\mathrm{clip}(x, 0, 1))`, :math:`2^k` levels in [0, 1]; the
      gradient is :math:`1_{0 \le x \le 1}`.
    - ``mode="weights"``: :math:`q(w) = 2 q_k\left(\frac{\tanh w}{2 m} + \frac12\right) - 1`,
      :math:`m = \max|\tanh w|` (a constant to the gradient), :math:`2^k` levels in [-1, 1]; the gradient is
      :math:`(1 - \tanh^2 w) / m`. An all-zero tensor (:math:`m = 0`) gives zeros.

    ``k_bit`` from 1 to 31.
    """

    name = "dorefa"
    MODES = ("activations", "weights")

    def __init__(self, k_bit=2, mode="activations"):
        check_bits(k_bit, "k_bit", 31)
        if mode not in self.MODES:
            raise ValueError(f"Expected `mode` to be one of {list(self.MODES)}, got {mode!r}.")
        self.k_bit, self.mode = k_bit, mode

    @property
    def precision(self):
        return self.k_bit

    def __call__(self, F, x):
        if self.mode == "activations":
            return quantize_k(F, F.clip(x, 0, 1), self.k_bit)
        squashed = F.tanh(x)
        # broadcast_like keeps the graph elementwise, so a deferred weight shape can be inferred through it
        m = F.broadcast_like(F.BlockGrad(F.max(F.abs(squashed), keepdims=True)), squashed)
        nonzero = m > 0
        safe = m + (1 - nonzero)  # m where m > 0, else 1: no 0 / 0
        return (2 * quantize_k(F, squashed / (2 * safe) + 0.5, self.k_bit) - 1) * nonzero

    def _config(self):
        return {"k_bit": self.k_bit, "mode": self.mode}


@register
class NoOp(Quantizer):
    """Identity, :math:`q(x) = x`, :math:`dq/dx = 1`; ``precision`` says what the values are (default 32)."""

    name = "noop"

    def __init__(self, precision=32):
        check_bits(precision, "precision")
        self.precision = precision

    def __call__(self, F, x):
        return x

    def _config(self):
        return {"precision": self.precision}


ACTIVATION_METHODS = {"det_sign": SteSign(clip_value=None), "ste_sign": SteSign(clip_value=None),
                      "approx_sign": ApproxSign(), "swish_sign": SwishSign()}
"""The BMXNet-v2 ``method`` shorthand of 1-bit activations: name -> quantizer. Every forward value is the sign
(``det_sign`` is BMXNet-v2's name of ``ste_sign`` without clipping; layers cancel gradients with their own
``gradient_cancel_threshold``)."""


def get(identifier):
    """The quantizer for ``identifier``.

    - ``None`` -> ``None`` (no quantization);
    - a registered name (``"ste_sign"``) -> that quantizer with default arguments;
    - a dict ``{"name": ..., **kwargs}`` -> that quantizer built with ``kwargs``;
    - a :class:`Quantizer` -> itself; any other callable ``f(F, x)`` -> itself (a custom quantizer; layers and
      the summary treat it as ``getattr(f, "precision", 32)`` bits).

    Anything else raises ``ValueError`` naming the value and the registered names.
    """
    return resolve(identifier, REGISTRY, kind="quantizer", instance_type=Quantizer,
                   callable_form="a callable f(F, x)")


def precision(quantizer):
    """Bits of ``quantizer``'s output: its ``precision``, 32 for None or a custom callable without one."""
    return 32 if quantizer is None else getattr(quantizer, "precision", 32)


def from_bits(bits, mode):
    """BMXNet-v2's ``bits`` shorthand as a quantizer: 1 -> ``ste_sign`` (no clipping), 2..31 -> ``dorefa`` in
    ``mode`` (``"activations"`` or ``"weights"``), 32 -> None (full precision)."""
    check_bits(bits)
    if bits == 32:
        return None
    if bits == 1:
        return SteSign(clip_value=None)
    return DoReFa(k_bit=bits, mode=mode)
