r"""Weight constraints: applied to a parameter's latent values after every optimizer update.

A quantized layer's ``kernel_constraint`` is stored on its weight :class:`mxnet.gluon.Parameter` as
``param.constraint``. :class:`bmxnet_ext.optimizers.CaseOptimizer` applies it right after the parameter's
update (on a parameter server too); :func:`apply_constraints` (called by :class:`bmxnet_ext.optimizers.Trainer`
after each step with any other optimizer, or by hand after ``trainer.step``) applies every parameter's
constraint in place.

    >>> from bmxnet_ext import constraints
    >>> constraints.get("weight_clip")
    weight_clip(clip_value=1.0)
"""
import math

from .identifiers import resolve

__all__ = ["WeightClip", "REGISTRY", "get", "apply_constraints"]


class WeightClip:
    r"""Clip latent weights to :math:`[-c, c]`: :math:`w \leftarrow \min(\max(w, -c), c)` (``clip_value`` c > 0).

    With a clipping straight-through estimator (gradient :math:`1_{|w| \le c}`) a latent weight outside
    :math:`[-c, c]` gets no gradient and would never change again; clipping keeps every weight trainable.
    """

    name = "weight_clip"

    def __init__(self, clip_value=1.0):
        if isinstance(clip_value, bool) or not isinstance(clip_value, (int, float)) or not 0 < clip_value < math.inf:
            raise ValueError(f"Expected `clip_value` to be a finite number > 0, got {clip_value!r}.")
        self.clip_value = float(clip_value)

    def __call__(self, weight):
        """Clip the NDArray ``weight`` in place."""
        weight[:] = weight.clip(-self.clip_value, self.clip_value)

    def get_config(self):
        return {"name": self.name, "clip_value": self.clip_value}

    def __eq__(self, other):
        return type(self) is type(other) and self.clip_value == other.clip_value

    def __hash__(self):
        return hash((self.name, self.clip_value))

    def __repr__(self):
        return f"{self.name}(clip_value={self.clip_value!r})"


REGISTRY = {WeightClip.name: WeightClip}
"""Constraint classes by name."""


def get(identifier):
    """None, a registered name, a dict ``{"name": ..., **kwargs}``, a constraint or a callable ``f(ndarray)``
    (applied in place) -> the constraint; anything else raises ``ValueError`` listing the registered names."""
    return resolve(identifier, REGISTRY, kind="constraint", instance_type=WeightClip,
                   callable_form="a callable f(ndarray) applied in place")


def apply_constraints(params):
    """Apply ``param.constraint`` to every copy of every parameter that has one (``params``: a ParameterDict,
    a dict or an iterable of Parameters). Returns the number of parameters constrained."""
    values = params.values() if hasattr(params, "values") else params
    count = 0
    for param in values:
        constraint = getattr(param, "constraint", None)
        if constraint is None or param._data is None:
            continue
        for data in param.list_data():
            constraint(data)
        count += 1
    return count
