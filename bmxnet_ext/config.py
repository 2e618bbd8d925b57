"""Global defaults for quantized layers, changeable for a block of code (as BMXNet-v2's ``set_binary_layer_config``).

    >>> from bmxnet_ext import QConv2D, binary_layer_config
    >>> with binary_layer_config(bits=2, bits_a=2):
    ...     conv = QConv2D(64, 3)          # a 2-bit layer
    >>> conv2 = QConv2D(64, 3)             # 1-bit again

Layers read the defaults when they are *constructed*; arguments given explicitly always win, and layers
configured Larq-style (with ``input_quantizer`` / ``kernel_quantizer``) ignore ``bits`` and ``scaling``.

The fields ``input_quantizer``, ``kernel_quantizer`` and ``kernel_constraint`` are read by the model zoo's
builders (``model_zoo.common``), not by the layers: set, they replace each zoo model's own choice in every
quantized layer it builds (the layers themselves take quantizers only as arguments)::

    >>> with binary_layer_config(kernel_quantizer="magnitude_aware_sign", kernel_constraint="weight_clip"):
    ...     net = model_zoo.get_model("resnet18")
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
    input_quantizer, kernel_quantizer : optional
        Any :func:`bmxnet_ext.quantizers.get` identifier, or None (the zoo model's own choice): the quantizer
        of every quantized activation / every quantized kernel a zoo model builds, replacing the shorthands.
    kernel_constraint : optional
        Any :func:`bmxnet_ext.constraints.get` identifier, or None (the zoo model's own choice): the constraint
        of every quantized kernel a zoo model builds.
    """

    FIELDS = ("bits", "bits_a", "grad_cancel", "method", "scaling", "input_quantizer", "kernel_quantizer",
              "kernel_constraint")

    def __init__(self, bits=1, bits_a=1, grad_cancel=0.5, method="det_sign", scaling="none", input_quantizer=None,
                 kernel_quantizer=None, kernel_constraint=None):
        self.bits = bits
        self.bits_a = bits_a
        self.grad_cancel = grad_cancel
        self.method = method
        self.scaling = scaling
        self.input_quantizer = input_quantizer
        self.kernel_quantizer = kernel_quantizer
        self.kernel_constraint = kernel_constraint

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
