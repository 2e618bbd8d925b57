"""Quantization functions with straight-through gradients, usable with ``F = mx.nd`` or ``F = mx.sym``.

Every function takes the operator namespace ``F`` first, as Gluon's ``hybrid_forward`` does, so the same code
runs imperatively and inside a hybridized graph.

Custom gradients are expressed with pure MXNet operators by the identity

    out = BlockGrad(forward_value) + (g - BlockGrad(g))

whose forward value is *exactly* ``forward_value`` (``g - g`` is exactly 0 for finite ``g``) and whose gradient
is the gradient of ``g``. No Python ``CustomOp`` is involved, so training stays fast and graphs export cleanly.

Conventions (see ``docs/conventions.md``): ``det_sign(0) = +1``; k-bit quantization is DoReFa-Net's
(Zhou et al., 2016); the clipping straight-through estimator is eq. (2) of Bethge et al., "Learning to train a
binary neural network" (2018).
"""

__all__ = [
    "det_sign", "approx_sign", "grad_cancel", "round_ste", "quantize_k", "quantize_activations",
    "dorefa_weights", "quantize_weights", "ACTIVATION_METHODS", "get_activation_method",
]


def _straight_through(F, forward_value, surrogate):
    """``forward_value`` in the forward pass, the gradient of ``surrogate`` in the backward pass."""
    return F.BlockGrad(forward_value) + (surrogate - F.BlockGrad(surrogate))


def _sign_values(F, x):
    """det_sign's forward values: +1 where ``x >= 0`` (zero included), -1 elsewhere."""
    return 2 * (x >= 0) - 1


def det_sign(F, x):
    r"""Deterministic sign with a straight-through (identity) gradient.

    .. math:: q(x) = \begin{cases} +1 & x \ge 0 \\ -1 & x < 0 \end{cases}, \qquad
              \frac{\partial q}{\partial x} := 1

    Compose with :func:`grad_cancel` for the clipping STE. Shape is preserved.
    """
    return _straight_through(F, _sign_values(F, x), x)


def approx_sign(F, x):
    r"""Sign with Bi-Real Net's piecewise-polynomial gradient (Liu et al., 2018).

    Forward as :func:`det_sign`; the gradient is that of the ApproxSign polynomial:

    .. math:: \frac{\partial q}{\partial x} = \begin{cases} 2 - 2|x| & |x| < 1 \\ 0 & \text{otherwise}
              \end{cases}

    Shape is preserved.
    """
    slope = F.BlockGrad((F.abs(x) < 1) * (2 - 2 * F.abs(x)))
    return _straight_through(F, _sign_values(F, x), x * slope)


def grad_cancel(F, x, threshold):
    r"""Identity forward; cancels the gradient where ``|x| > threshold`` (clipping STE, paper eq. 2).

    .. math:: y = x, \qquad \frac{\partial y}{\partial x} = 1_{|x| \le t_{clip}}

    ``threshold=None`` passes every gradient. Shape is preserved.
    """
    if threshold is None:
        return x
    keep = F.BlockGrad(F.abs(x) <= threshold)
    return _straight_through(F, x, x * keep)


def round_ste(F, x):
    r"""Round half away from zero with a straight-through gradient: :math:`y = round(x)`, :math:`dy/dx := 1`."""
    return _straight_through(F, F.round(x), x)


def quantize_k(F, x, bits):
    r"""DoReFa's k-bit quantizer of values in [0, 1]: :math:`q_k(x) = round((2^k - 1) x) / (2^k - 1)`.

    The result takes exactly the :math:`2^k` levels :math:`i / (2^k - 1)`, :math:`i = 0 .. 2^k - 1`, for
    inputs in [0, 1]; the gradient is straight-through. ``bits=32`` returns ``x`` unchanged.
    """
    _check_bits(bits)
    if bits == 32:
        return x
    levels = float(2 ** bits - 1)
    return round_ste(F, x * levels) / levels


def quantize_activations(F, x, bits):
    r"""k-bit activations (DoReFa): :math:`q_k(clip(x, 0, 1))`.

    The clip passes gradients only inside [0, 1]; ``bits=32`` returns ``x`` unchanged. For ``bits=1`` use
    :func:`det_sign`, which gives the symmetric {-1, +1} levels binary kernels need.
    """
    _check_bits(bits)
    if bits == 32:
        return x
    return quantize_k(F, F.clip(x, 0, 1), bits)


def dorefa_weights(F, w, bits):
    r"""k-bit weights (DoReFa, k >= 2): :math:`2 q_k\left(\frac{\tanh w}{2 \max|\tanh w|} + \frac12\right) - 1`.

    The result takes at most :math:`2^k` levels, evenly spaced in [-1, 1]. ``bits=32`` returns ``w``.
    """
    _check_bits(bits)
    if bits == 32:
        return w
    squashed = F.tanh(w)
    # broadcast_like keeps the graph elementwise, so a deferred weight shape can be inferred through it
    scale = F.broadcast_like(F.BlockGrad(F.max(F.abs(squashed), keepdims=True)), squashed)
    return 2 * quantize_k(F, squashed / (2 * scale) + 0.5, bits) - 1


def quantize_weights(F, w, bits):
    """Weights for a layer of width ``bits``: det_sign for 1 bit, DoReFa for 2..31, identity for 32."""
    _check_bits(bits)
    if bits == 1:
        return det_sign(F, w)
    return dorefa_weights(F, w, bits)


def _check_bits(bits):
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 32:
        raise ValueError(f"Expected `bits` to be an integer from 1 to 32, got {bits!r}.")


ACTIVATION_METHODS = {
    "det_sign": det_sign,
    "approx_sign": approx_sign,
}
"""Registered 1-bit activation methods, by name. Layers of 2..31 bits always use ``round``
(:func:`quantize_activations`)."""


def get_activation_method(method):
    """Resolve a 1-bit activation ``method``: a registered name or a callable ``f(F, x)``.

    Raises ``ValueError`` naming the bad value and the registered names.
    """
    if callable(method):
        return method
    if isinstance(method, str) and method in ACTIVATION_METHODS:
        return ACTIVATION_METHODS[method]
    raise ValueError(f"Expected `method` to be a callable or one of {sorted(ACTIVATION_METHODS)}, "
                     f"got {method!r}.")
