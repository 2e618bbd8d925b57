"""Global defaults for quantized layers, changeable for a block of code (as BMXNet-v2's ``set_binary_layer_config``).

    >>> from bmxnet_ext import QConv2D, binary_layer_config
    >>> with binary_layer_config(bits=2, bits_a=2):
    ...     conv = QConv2D(64, 3)          # a 2-bit layer
    >>> conv2 = QConv2D(64, 3)             # 1-bit again

Layers read the defaults when they are *constructed*; arguments given explicitly always win, and layers
configured Larq-style (with ``input_quantizer`` / ``kernel_quantizer``) ignore ``bits`` and ``scaling``.
"""
import contextlib
import threading

__all__ = ["BinaryLayerConfig", "binary_layer_config", "get_default"]


class BinaryLayerConfig:
    """Default arguments of quantized layers.

    Attributes
    ----------
    bits : int
        Weight bits of ``QConv*`` / ``QDense`` (1 = binary, 2..31 = DoReFa k-bit, 32 = full precision).
    bits_a : int
        Activation bits of ``QActivation``.
    grad_cancel : float or None
        Clipping threshold :math:`t_{clip}` of the straight-through estimator (paper: 0.5 best).
    method : str or callable
        1-bit activation method: a name in :data:`bmxnet_ext.quantizers.ACTIVATION_METHODS` (``det_sign``,
        ``ste_sign``, ``approx_sign``, ``swish_sign``) or a callable ``f(F, x)``.
    scaling : str
        Scaling mode of binary layers: ``none``, ``backward``, ``forward_backward`` or ``xnor``.
    """

    FIELDS = ("bits", "bits_a", "grad_cancel", "method", "scaling")

    def __init__(self, bits=1, bits_a=1, grad_cancel=0.5, method="det_sign", scaling="none"):
        self.bits = bits
        self.bits_a = bits_a
        self.grad_cancel = grad_cancel
        self.method = method
        self.scaling = scaling

    def replaced(self, **changes):
        """A copy with ``changes`` applied; unknown names raise ``ValueError``."""
        unknown = set(changes) - set(self.FIELDS)
        if unknown:
            raise ValueError(f"Expected config names among {list(self.FIELDS)}, got {sorted(unknown)}.")
        values = {name: getattr(self, name) for name in self.FIELDS}
        values.update(changes)
        return BinaryLayerConfig(**values)

    def __repr__(self):
        body = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"BinaryLayerConfig({body})"


_state = threading.local()


def _current():
    if not hasattr(_state, "stack"):
        _state.stack = [BinaryLayerConfig()]
    return _state.stack[-1]


def get_default(name, value=None):
    """``value`` if it is not None, else the current default for config field ``name``."""
    return value if value is not None else getattr(_current(), name)


@contextlib.contextmanager
def binary_layer_config(**changes):
    """Within the ``with`` block, layers constructed without explicit arguments use ``changes``.

    Nested blocks stack; the defaults are per thread. Yields the active :class:`BinaryLayerConfig`.
    """
    config = _current().replaced(**changes)
    _state.stack.append(config)
    try:
        yield config
    finally:
        _state.stack.pop()
