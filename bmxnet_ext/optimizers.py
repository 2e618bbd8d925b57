r"""Optimizers for binary networks: Bop, CaseOptimizer, and a Trainer that applies weight constraints.

Both optimizers are registered with ``mx.optimizer`` (as ``"bop"`` and ``"caseoptimizer"``), so
``gluon.Trainer(params, "bop", {"threshold": 1e-6, "gamma": 1e-3})`` works like any built-in optimizer.

    >>> import mxnet as mx
    >>> from bmxnet_ext.optimizers import Bop, CaseOptimizer, Trainer, is_binary_weight
    >>> opt = CaseOptimizer((is_binary_weight, Bop(threshold=1e-6, gamma=1e-3)),
    ...                     default_optimizer=mx.optimizer.Adam(learning_rate=1e-3))
    >>> # trainer = Trainer(net.collect_params(), opt)      # Bop for binary kernels, Adam for the rest
"""
import mxnet as mx
from mxnet import gluon

from . import quantizers
from .constraints import apply_constraints

__all__ = ["Bop", "CaseOptimizer", "ParameterRecord", "Trainer", "is_binary_weight"]


def is_binary_weight(param):
    """True for the latent weight of a quantized layer whose kernel quantizer is 1-bit (the parameters Bop
    trains). Layers mark their weight parameter with ``param.kernel_quantizer``."""
    return quantizers.precision(getattr(param, "kernel_quantizer", None)) == 1


@mx.optimizer.register
class Bop(mx.optimizer.Optimizer):
    r"""Binary optimizer (Helwegen et al. 2019, "Latent Weights Do Not Exist: Rethinking Binarized Neural
    Network Optimization").

    Per step, with gradient :math:`g` (times ``rescale_grad``, clipped to ``clip_gradient`` if set) and the
    exponential moving average :math:`m` (the state, initially 0):

    .. math:: m \leftarrow (1 - \gamma) m + \gamma g, \qquad
              w \leftarrow \begin{cases} -w & |m| > \tau \text{ and } m \, \mathrm{sign}(w) > 0 \\
              w & \text{otherwise} \end{cases}

    i.e. a weight flips when the averaged gradient is strong enough and pushes against its sign (the sign of
    0 is +1). Only the sign of a weight matters: initialize binary weights away from 0 (a weight of exactly 0
    stays 0). The learning rate and weight decay are not used.

    Parameters
    ----------
    threshold : float
        :math:`\tau \ge 0` (default 1e-8).
    gamma : float
        Adaptivity rate :math:`\gamma \in (0, 1]` (default 1e-4).
    """

    def __init__(self, threshold=1e-8, gamma=1e-4, **kwargs):
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold >= 0:
            raise ValueError(f"Expected `threshold` to be a number >= 0, got {threshold!r}.")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 < gamma <= 1:
            raise ValueError(f"Expected `gamma` to be a number in (0, 1], got {gamma!r}.")
        super().__init__(**kwargs)
        self.threshold, self.gamma = float(threshold), float(gamma)

    def create_state(self, index, weight):
        return mx.nd.zeros(weight.shape, ctx=weight.context, dtype=weight.dtype)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        grad = grad * self.rescale_grad
        if self.clip_gradient is not None:
            grad = mx.nd.clip(grad, -self.clip_gradient, self.clip_gradient)
        state[:] = (1 - self.gamma) * state + self.gamma * grad
        sign = 2 * (weight >= 0) - 1
        flip = (mx.nd.abs(state) > self.threshold) * (state * sign > 0)
        weight[:] = weight * (1 - 2 * flip)


@mx.optimizer.register
class CaseOptimizer(mx.optimizer.Optimizer):
    """Route each parameter to the optimizer of the first case whose predicate accepts it (Larq's
    CaseOptimizer); all others go to ``default_optimizer``. Each parameter's ``constraint`` (a quantized
    layer's ``kernel_constraint``) is applied to the updated weight right after its update (with
    ``multi_precision`` float16 weights: to the float16 weight, not to the optimizer's float32 master copy).

    Parameters
    ----------
    *cases : (predicate, optimizer) pairs
        ``predicate(param)`` gets the :class:`mxnet.gluon.Parameter`; ``optimizer`` is an
        :class:`mxnet.optimizer.Optimizer` or a registered name (built with default arguments). With no
        cases, every parameter goes to ``default_optimizer``: the wrapper then only carries the parameter
        table and the constraints (what :class:`Trainer` does where a kvstore runs the optimizer).
    default_optimizer : Optimizer or str
        For every parameter no predicate accepts. The learning rate (``set_learning_rate``,
        ``learning_rate``) is the default optimizer's.

    ``rescale_grad`` and the parameter table ``param_dict`` (index -> Parameter, with ``lr_mult`` and
    ``wd_mult``) that ``gluon.Trainer`` sets on this optimizer are passed on to every case's optimizer. The
    routes (index -> case) are resolved when the table is set. MXNet drops the table when it pickles an
    optimizer (for a parameter server, or into a checkpoint); this one keeps its routes and, per index, the
    parameter's ``lr_mult``, ``wd_mult`` and ``constraint``, so a server that unpickles it updates and
    constrains every index as the workers would. A constraint must therefore pickle (the registered ones do).
    """

    def __init__(self, *cases, default_optimizer, **kwargs):
        self.cases = []
        for case in cases:
            if not (isinstance(case, tuple) and len(case) == 2 and callable(case[0])):
                raise ValueError(f"Expected each case to be a (predicate, optimizer) pair, got {case!r}.")
            self.cases.append((case[0], _optimizer(case[1])))
        self.default_optimizer = _optimizer(default_optimizer)
        super().__init__(**kwargs)  # sets param_dict, which needs the cases

    @property
    def param_dict(self):
        """index -> :class:`mxnet.gluon.Parameter` (or, after unpickling, its :class:`ParameterRecord`)."""
        return self._param_dict

    @param_dict.setter
    def param_dict(self, params):
        self._param_dict = params
        self._routes = {index: next((case for case, (predicate, _) in enumerate(self.cases) if predicate(param)),
                                    None)
                        for index, param in params.items()}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_param_dict"] = {index: ParameterRecord(param) for index, param in self._param_dict.items()}
        return state

    def __setstate__(self, state):
        self.__dict__ = state  # keeps the routes and records (MXNet's optimizers reset param_dict to {})

    def _route(self, index):
        case = self._routes.get(index)
        optimizer = self.default_optimizer if case is None else self.cases[case][1]
        optimizer.param_dict = self.param_dict
        optimizer.rescale_grad = self.rescale_grad
        return optimizer

    def optimizer_for(self, index):
        """The optimizer that updates parameter ``index``."""
        return self._route(index)

    def create_state_multi_precision(self, index, weight):
        return self._route(index).create_state_multi_precision(index, weight)

    def create_state(self, index, weight):
        return self._route(index).create_state(index, weight)

    def update_multi_precision(self, index, weight, grad, state):
        self._route(index).update_multi_precision(index, weight, grad, state)
        self._constrain(index, weight)

    def update(self, index, weight, grad, state):
        self._route(index).update(index, weight, grad, state)
        self._constrain(index, weight)

    def _constrain(self, index, weight):
        constraint = getattr(self.param_dict.get(index), "constraint", None)
        if constraint is not None:
            constraint(weight)

    @property
    def learning_rate(self):
        return self.default_optimizer.learning_rate

    def set_learning_rate(self, lr):
        self.default_optimizer.set_learning_rate(lr)


class ParameterRecord:
    """What an optimizer reads of a :class:`mxnet.gluon.Parameter` (``lr_mult``, ``wd_mult``, ``constraint``),
    as a picklable copy: :class:`CaseOptimizer` pickles its parameter table as these records."""

    def __init__(self, param):
        self.lr_mult, self.wd_mult = param.lr_mult, param.wd_mult
        self.constraint = getattr(param, "constraint", None)


def _optimizer(spec):
    if isinstance(spec, mx.optimizer.Optimizer):
        return spec
    if isinstance(spec, str):
        return mx.optimizer.create(spec)
    raise ValueError(f"Expected an mx.optimizer.Optimizer or a registered optimizer name, got {spec!r}.")


class Trainer(gluon.Trainer):
    """:class:`mxnet.gluon.Trainer` that applies every parameter's constraint (a quantized layer's
    ``kernel_constraint``, e.g. ``weight_clip``) after each update.

    A :class:`CaseOptimizer` applies the constraints itself, after each parameter's update, wherever that update
    runs; with any other optimizer this trainer applies them after each :meth:`step` / :meth:`update`, to every
    device's copy. That is too late where a kvstore runs the optimizer on a copy of its own and the devices pull
    it (a distributed kvstore's parameter servers, or the local kvstore of several devices with
    ``update_on_kvstore``): the stored copy would drift outside the constraint. So unless the updates surely run
    on the devices (``update_on_kvstore=False``, or one device and no kvstore object nor ``"dist_*"`` name),
    the optimizer is wrapped in ``CaseOptimizer(default_optimizer=optimizer)``, which takes the constraints and
    the ``lr_mult`` / ``wd_mult`` table along to wherever it is pickled to.
    """

    def __init__(self, params, optimizer, optimizer_params=None, kvstore="device", compression_params=None,
                 update_on_kvstore=None):
        super().__init__(params, optimizer, optimizer_params, kvstore=kvstore,
                         compression_params=compression_params, update_on_kvstore=update_on_kvstore)
        in_kvstore = update_on_kvstore is not False and kvstore is not None and (
            not isinstance(kvstore, str) or "dist" in kvstore or len(self._contexts) > 1)
        if in_kvstore and not isinstance(self._optimizer, CaseOptimizer):
            self._init_optimizer(CaseOptimizer(default_optimizer=self._optimizer,
                                               rescale_grad=self._optimizer.rescale_grad), None)

    def step(self, batch_size, ignore_stale_grad=False):
        super().step(batch_size, ignore_stale_grad)
        self._apply_constraints()

    def update(self, batch_size, ignore_stale_grad=False):
        super().update(batch_size, ignore_stale_grad)
        self._apply_constraints()

    def _apply_constraints(self):
        if not isinstance(self._optimizer, CaseOptimizer):
            apply_constraints(self._params)
