r"""FlipRatio: the fraction of binary weights whose sign changed in an optimizer step.

    >>> from bmxnet_ext.flip_ratio import FlipRatio
    >>> flips = FlipRatio(net.collect_params())       # after initialization: records the current signs
    >>> # ... trainer.step(batch_size); flips.update()
    >>> flips.get()                                   # ('flip_ratio', mean over the steps since reset())
    >>> flips.per_layer()                             # {weight name: mean flip ratio of that layer}

For the step from weights :math:`w` to :math:`w'` of a layer with :math:`n` binary weights,

.. math:: r = \frac{1}{n} \sum_i 1[\mathrm{sign}(w'_i) \ne \mathrm{sign}(w_i)]

with the project's sign (zero is +1); the overall ratio pools every binary weight of the network. A high
ratio late in training means the binary weights have not settled (Helwegen et al. 2019).
"""
import mxnet as mx

from .optimizers import is_binary_weight

__all__ = ["FlipRatio"]


class FlipRatio(mx.metric.EvalMetric):
    """An :class:`mxnet.metric.EvalMetric` over weights, not predictions: call :meth:`update` after each step.

    Parameters
    ----------
    params : ParameterDict, dict or iterable of Parameter
        The network's parameters; those accepted by ``predicate`` are tracked (default: the latent weights of
        layers with a 1-bit kernel quantizer).
    name : str
    predicate : callable
        ``predicate(param) -> bool``.

    The signs are recorded at construction when the parameters are initialized, otherwise at the first
    :meth:`update` (which then counts no step). ``get()`` gives the mean overall ratio over the steps since
    :meth:`reset`, :meth:`per_layer` the mean per tracked parameter, :meth:`last` the most recent step's ratios.
    """

    def __init__(self, params, name="flip_ratio", predicate=is_binary_weight):
        values = params.values() if hasattr(params, "values") else params
        self.params = [p for p in values if predicate(p)]
        self._signs = None
        self._layer_sums = {}
        self._last = {}
        super().__init__(name)
        if self.params and all(p._data is not None for p in self.params):
            self._record()

    def _record(self):
        self._signs = {p.name: p.data() >= 0 for p in self.params}

    def update(self, labels=None, preds=None):
        """Count the sign changes since the last call (or construction). ``labels`` and ``preds`` are ignored,
        so the metric can sit in a list of metrics updated with them."""
        if self._signs is None:
            self._record()
            return
        flipped_total = weights_total = 0
        self._last = {}
        for p in self.params:
            now = p.data() >= 0
            flipped = int((now != self._signs[p.name]).sum().asscalar())
            self._signs[p.name] = now
            ratio = flipped / now.size
            self._last[p.name] = ratio
            self._layer_sums[p.name] = self._layer_sums.get(p.name, 0.0) + ratio
            flipped_total += flipped
            weights_total += now.size
        overall = flipped_total / weights_total if weights_total else 0.0
        self._last["overall"] = overall
        self.sum_metric += overall
        self.global_sum_metric += overall
        self.num_inst += 1
        self.global_num_inst += 1

    def per_layer(self):
        """``{parameter name: mean flip ratio over the steps since reset()}`` (0.0 before any step)."""
        steps = self.num_inst
        return {p.name: (self._layer_sums.get(p.name, 0.0) / steps if steps else 0.0) for p in self.params}

    def last(self):
        """Ratios of the most recent step: ``{parameter name: ratio, "overall": ratio}`` (empty before one)."""
        return dict(self._last)

    def get(self):
        """``(name, mean overall flip ratio)``; 0.0 before any step (not NaN, unlike an empty EvalMetric)."""
        return self.name, (self.sum_metric / self.num_inst if self.num_inst else 0.0)

    def reset(self):
        super().reset()
        self._layer_sums = {}

    def reset_local(self):
        super().reset_local()
        self._layer_sums = {}
