"""Optimizers, learning-rate schedules and per-parameter weight decay for training binary networks.

- :class:`RAdam`: Rectified Adam (Liu et al., 2019), which MXNet 1.9.1 lacks, as an ``mx.optimizer.Optimizer``.
- :class:`WarmupSchedule`: ``step`` / ``cosine`` / ``poly`` decay after a linear warm-up, a pure function of
  the update count (so it pickles with the optimizer and resumes exactly).
- :func:`make_optimizer`: ``adam`` / ``radam`` / ``sgd`` (momentum, optionally Nesterov) by name, and ``bop``:
  :class:`bmxnet_ext.optimizers.Bop` for the 1-bit weights, Adam for every other parameter.
- :func:`disable_binary_weight_decay`: ``wd_mult = 0`` for the latent weights of quantized layers.
"""
import math

import mxnet as mx

from bmxnet_ext.layers import QDense, _QConv
from bmxnet_ext.optimizers import Bop, CaseOptimizer, is_binary_weight

__all__ = ["RAdam", "WarmupSchedule", "SCHEDULES", "OPTIMIZERS", "make_optimizer",
           "disable_binary_weight_decay"]

SCHEDULES = ("step", "cosine", "poly")
OPTIMIZERS = ("adam", "radam", "sgd", "bop")


class WarmupSchedule(mx.lr_scheduler.LRScheduler):
    r"""Learning rate as a function of the 1-based update count ``t``.

    Warm-up: :math:`lr_t = base \cdot t / W` for :math:`t \le W` (``W = warmup_steps``). After it, with
    progress :math:`p = \min(1, (t - 1 - W) / (T - W))` (``T = total_steps``; the first update after warm-up
    uses ``base``, update ``T`` is one step short of the end):

    - ``step``: :math:`base \cdot factor^{m}`, ``m`` = number of ``milestones`` (update counts) below ``t``;
    - ``cosine``: :math:`final + (base - final)(1 + \cos \pi p) / 2`;
    - ``poly``: :math:`final + (base - final)(1 - p)^{power}`.

    Stateless, unlike MXNet's ``MultiFactorScheduler``: any ``t`` can be asked in any order.
    """

    def __init__(self, kind, base_lr, total_steps, warmup_steps=0, milestones=(), factor=0.1, final_lr=0.0,
                 power=2.0):
        if kind not in SCHEDULES:
            raise ValueError(f"Expected `kind` to be one of {list(SCHEDULES)}, got {kind!r}.")
        if not 0 <= warmup_steps < max(total_steps, 1):
            raise ValueError(f"Expected `warmup_steps` in [0, total_steps={total_steps}), got {warmup_steps}.")
        super().__init__(base_lr=base_lr)
        self.kind = kind
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.milestones = sorted(int(m) for m in milestones)
        self.factor = factor
        self.final_lr = final_lr
        self.power = power

    def __call__(self, num_update):
        t = max(int(num_update), 1)
        if t <= self.warmup_steps:
            return self.base_lr * t / self.warmup_steps
        if self.kind == "step":
            return self.base_lr * self.factor ** sum(1 for m in self.milestones if t > m)
        progress = min(1.0, (t - 1 - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1))
        if self.kind == "cosine":
            shape = (1 + math.cos(math.pi * progress)) / 2
        else:
            shape = (1 - progress) ** self.power
        return self.final_lr + (self.base_lr - self.final_lr) * shape


@mx.optimizer.register
class RAdam(mx.optimizer.Optimizer):
    r"""Rectified Adam (Liu et al., "On the variance of the adaptive learning rate and beyond", 2019).

    With :math:`g = rescale \cdot \nabla + wd \cdot w` (clipped to ``clip_gradient`` if set), step ``t``:

    .. math::
        m_t = \beta_1 m + (1 - \beta_1) g, \quad v_t = \beta_2 v + (1 - \beta_2) g^2, \quad
        \hat m = m_t / (1 - \beta_1^t)

        \rho_\infty = 2 / (1 - \beta_2) - 1, \quad \rho_t = \rho_\infty - 2 t \beta_2^t / (1 - \beta_2^t)

    If :math:`\rho_t > 4` the variance is tractable and
    :math:`w \leftarrow w - lr \cdot r_t \hat m / (\sqrt{v_t / (1 - \beta_2^t)} + \epsilon)` with
    :math:`r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}}`;
    otherwise :math:`w \leftarrow w - lr \cdot \hat m` (SGD with momentum, bias-corrected).
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon

    def create_state(self, index, weight):
        zeros = lambda: mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)  # noqa: E731
        return zeros(), zeros()

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        t = self._index_update_count[index]
        g = grad * self.rescale_grad + wd * weight
        if self.clip_gradient is not None:
            g = mx.nd.clip(g, -self.clip_gradient, self.clip_gradient)
        mean, var = state
        mean[:] = self.beta1 * mean + (1 - self.beta1) * g
        var[:] = self.beta2 * var + (1 - self.beta2) * mx.nd.square(g)
        mean_hat = mean / (1 - self.beta1 ** t)
        rho_inf = 2 / (1 - self.beta2) - 1
        rho_t = rho_inf - 2 * t * self.beta2 ** t / (1 - self.beta2 ** t)
        if rho_t > 4:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            denom = mx.nd.sqrt(var / (1 - self.beta2 ** t)) + self.epsilon
            weight[:] = weight - lr * rect * mean_hat / denom
        else:
            weight[:] = weight - lr * mean_hat


def make_optimizer(name, *, learning_rate, weight_decay, schedule, momentum=0.9, nesterov=False,
                   bop_threshold=1e-8, bop_gamma=1e-4):
    """An MXNet optimizer by ``name`` (``adam``, ``radam``, ``sgd``, ``bop``) driven by the ``schedule``.

    ``nesterov`` applies to ``sgd`` only (MXNet's ``NAG``); ``momentum`` to ``sgd`` and Nesterov. ``bop`` is a
    :class:`~bmxnet_ext.optimizers.CaseOptimizer`: Bop (``bop_threshold``, ``bop_gamma``; no learning rate) for
    the latent weights of 1-bit layers, Adam with the learning rate and ``schedule`` for the rest (Larq's recipe).
    """
    common = dict(learning_rate=learning_rate, wd=weight_decay, lr_scheduler=schedule)
    if name == "bop":
        return CaseOptimizer((is_binary_weight, Bop(threshold=bop_threshold, gamma=bop_gamma)),
                             default_optimizer=mx.optimizer.Adam(**common))
    if name == "adam":
        return mx.optimizer.Adam(**common)
    if name == "radam":
        return RAdam(**common)
    if name == "sgd":
        cls = mx.optimizer.NAG if nesterov else mx.optimizer.SGD
        return cls(momentum=momentum, **common)
    raise ValueError(f"Expected `optimizer` to be one of {list(OPTIMIZERS)}, got {name!r}.")


def disable_binary_weight_decay(net):
    """Set ``wd_mult = 0`` on the latent weights of every quantized conv / dense layer with ``bits < 32``.

    Weight decay pulls latent weights towards 0, where their sign flips at random; BNN practice (and the
    paper's training) leaves them undecayed. Returns the names of the parameters changed.
    """
    changed = []

    def visit(block):
        if isinstance(block, (_QConv, QDense)) and block.bits < 32:
            block.weight.wd_mult = 0.0
            changed.append(block.weight.name)
        for child in block._children.values():
            visit(child)

    visit(net)
    return changed
