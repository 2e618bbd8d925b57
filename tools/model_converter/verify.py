"""Verification of a converted model against the original, run before anything is written.

Four checks on random inputs (``docs/converter.md`` explains the choice):

1. **Binary arithmetic, bit-exact.** For every binary operator, the original model's own +/-1 input activations
   are packed and run through the operator (``out_format=int32``) with the converted packed weights; the
   integers must equal the original layer's unscaled Convolution / FullyConnected output exactly. This covers
   weight packing, bit order, layout, padding and the kernels. (0/1 ``ste_heaviside`` activations are packed
   as their signs ``2 h - 1``, and the original's output ``(y + rowsum(sign W)) / 2`` is compared as
   ``2 output - rowsum``. The operator of plane ``t`` of a k-bit input ``n / L`` is run on the signs of
   ``[n >= t]``; the original's float product of k-bit values is rounded, so ``y`` is compared with the exact
   ``2 conv([n >= t], sign W) - rowsum`` computed from the original's own levels and weights, and the
   original's product must lie within float32 rounding of ``conv(n, sign W) / L``.)
2. **Folded sign decisions.** Where folding moved a sign into a different float evaluation order (BatchNorm +
   sign as ``BmxPack``'s affine, or a binary layer's packed output), the converted decision
   ``scale * x + bias < 0`` is recomputed (float32, multiply then add, as the kernels do) on the original's own
   ``x`` and compared with the sign the original model took. A difference is accepted only at the rounding
   boundary: where the original value is within ``1e-5 * (|scale * x| + |bias|)`` of zero. Any other
   difference fails.
3. **Folded BatchNorms, within float tolerance.** Where a BatchNorm after a binary layer was folded into the
   layer's affine, ``scale * y + bias`` (float32, multiply then add) of the integers of check 1 must equal the
   original BatchNorm's output within ``FOLD_RTOL * max(1, max |BatchNorm|, max |scale * y|, max |bias|)``
   (MXNet's ``(x - mean) / sqrt(var + eps) * gamma + beta`` rounds differently; the bound is per layer).
4. **End to end.** Original and converted model run on the same inputs: outputs must be identical in exact
   mode, and within ``1e-3 * max(1, max |output|)`` otherwise.

:func:`verify` raises :class:`VerificationError` on failure, so no output is written.
"""
import os
from dataclasses import dataclass

import numpy as np

from bmxnet_ext.cli import mxnet_quiet

from .graph import ConversionError

__all__ = ["VerificationError", "Verification", "verify", "run_symbol", "check_memory"]

_SUBGRAPH_ENV = "MXNET_SUBGRAPH_BACKEND"
BOUNDARY_RTOL = 1e-5
OUTPUT_RTOL = 1e-3
FOLD_RTOL = 1e-5
MEMORY_SHARE = 0.5
"""Verification may use at most this share of the machine's physical memory for the graph's values."""


class VerificationError(ConversionError):
    """The converted model does not reproduce the original; nothing was written."""


@dataclass
class Verification:
    binary_ops_checked: int
    sign_decisions_checked: int
    boundary_flips: int
    max_output_difference: float
    exact: bool
    folded_outputs_checked: int = 0
    max_fold_difference: float = 0.0  # largest |folded - BatchNorm| relative to that layer's bound's magnitude

    def summary(self):
        folds = (f"{self.folded_outputs_checked} folded BatchNorm outputs equal MXNet's BatchNorm within float "
                 f"tolerance (max relative diff {self.max_fold_difference:.2g}, allowed {FOLD_RTOL:g}); "
                 if self.folded_outputs_checked else "")
        return (f"verified: {self.binary_ops_checked} binary operators bit-exact on the original activations; "
                f"{self.sign_decisions_checked} folded sign decisions checked, {self.boundary_flips} differ only "
                f"at the rounding boundary; {folds}outputs max |diff| = {self.max_output_difference:.3g}"
                f"{' (exact mode: identical)' if self.exact else ''}")


def run_symbol(symbol, params, aux_names, data_name, data):
    """Forward ``symbol`` (inference) with ``params`` (NumPy arrays) on ``data``; list of NumPy outputs.

    MXNet's graph-rewriting backends (oneDNN operator fusion) are off while binding, so internal values are
    the graph's own (a fused Convolution + BatchNorm would replace the Convolution's output).
    """
    import mxnet as mx

    args = {n: mx.nd.array(a, dtype=a.dtype) for n, a in params.items() if n not in aux_names}
    aux = {n: mx.nd.array(a, dtype=a.dtype) for n, a in params.items() if n in aux_names}
    args[data_name] = mx.nd.array(data)
    needed_args = {n: args[n] for n in symbol.list_arguments()}
    needed_aux = {n: aux[n] for n in symbol.list_auxiliary_states()}
    previous = os.environ.get(_SUBGRAPH_ENV)
    os.environ[_SUBGRAPH_ENV] = "NONE"
    try:
        with mxnet_quiet():  # binding logs "MXNET_SUBGRAPH_BACKEND=NONE is detected" on stderr
            executor = symbol.bind(mx.cpu(), needed_args, aux_states=needed_aux, grad_req="null")
        return [o.asnumpy() for o in executor.forward(is_train=False)]
    finally:
        if previous is None:
            del os.environ[_SUBGRAPH_ENV]
        else:
            os.environ[_SUBGRAPH_ENV] = previous


def _internal(internals, name):
    names = internals.list_outputs()
    for candidate in (f"{name}_output", name):
        if candidate in names:
            return internals[names.index(candidate)]
    raise VerificationError(f"Cannot find the original graph's value {name!r} for verification.")


def _levels(check, q):
    """The integer levels ``n`` of the original's k-bit activation ``q = fl(n / L)`` (``L = check.planes``), as
    float64; raises unless every ``q`` is one of the ``L + 1`` levels."""
    n = np.round(q.astype(np.float64) * check.planes)
    if not np.array_equal((n / check.planes).astype(np.float32), q.astype(np.float32)):
        raise VerificationError(f"Binary operator {check.name!r}: its input {check.input!r} holds values that are "
                                f"not among the {check.planes + 1} levels of a k-bit activation.")
    return n


def _plane_reference(check, n, raw):
    """The exact integer ``y`` of the operator of plane ``t``: ``2 conv([n >= t], sign W) - r`` (module docstring
    of ``rewrite.py``), by MXNet's own Convolution / FullyConnected in float64 on integers (so exact). For the
    first plane also bounds the original's float product ``raw`` against the exact ``conv(n, sign W) / L``: at
    most the float32 rounding of its ``K``-term sum (and below ``1 / (4 L)``), so the original layer computes
    this very product."""
    import mxnet as mx

    w = check.plane_weight

    def product(x, weight, dtype):
        x, weight = mx.nd.array(x, dtype=dtype), mx.nd.array(weight, dtype=dtype)
        if check.op == "BmxBinaryDense":
            return mx.nd.FullyConnected(mx.nd.flatten(x), weight, num_hidden=w.shape[0], no_bias=True).asnumpy()
        return mx.nd.Convolution(x, weight, kernel=w.shape[2:], stride=check.attrs["stride"],
                                 pad=check.attrs["pad"], dilate=check.attrs["dilate"], num_filter=w.shape[0],
                                 no_bias=True).asnumpy()

    if check.plane == 1:
        dot = product(n, w, np.float64)
        size = product(n, np.abs(w), np.float32) / check.planes  # sum |q w| of each output (for the bound only)
        terms = w[0].size + 2  # the products, and q's own rounding of n / L
        bound = np.minimum(4 * terms * 2.0 ** -24 * size, 1 / (4 * check.planes))
        if raw.shape != dot.shape or np.any(np.abs(raw - dot / check.planes) > bound):
            raise VerificationError(f"Binary operator {check.name!r}: the exact product of its k-bit input does "
                                    f"not reproduce the original layer {check.output!r} within float32 rounding.")
    plane = product((n >= check.plane).astype(np.float64), w, np.float64)
    return 2 * plane - check.row_sums.reshape((1, -1) + (1,) * (plane.ndim - 2))


def _check_arithmetic(check, activations, converted_params):
    import mxnet as mx

    x = activations[check.input]
    if check.planes > 1:  # the signs of plane t, [n >= t]
        n = _levels(check, x)
        x = np.where(n >= check.plane, 1.0, -1.0).astype(np.float32)
    elif check.heaviside:  # 0/1 activations h = (s + 1) / 2: pack the signs s
        x = 2 * x - 1
    x = -x if check.negated else x
    if any(check.pre_pad):
        ph, pw = check.pre_pad
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=1.0)
    if check.op == "BmxBinaryDense":
        x = x.reshape(x.shape[0], -1)
        packed = mx.nd.BmxPack(mx.nd.array(x))
    else:
        packed = mx.nd.BmxPack(mx.nd.array(x), num_group=int(check.attrs["num_group"]))
    weight = mx.nd.array(converted_params[check.weight], dtype=np.int64)
    channels = weight.shape[0]
    op = getattr(mx.nd, check.op)
    y = op(packed, weight, mx.nd.ones(channels), mx.nd.zeros(channels), **check.attrs).asnumpy()
    expected = activations[check.output]
    if check.planes > 1:
        expected = _plane_reference(check, n, expected.astype(np.float64))
    elif check.heaviside:  # the original computed (y + rowsum(sign W)) / 2, exactly (integers and halves)
        expected = 2 * expected.astype(np.float64) - check.row_sums.reshape((1, -1) + (1,) * (expected.ndim - 2))
    if y.shape != expected.shape or not np.array_equal(y.astype(np.float64), expected.astype(np.float64)):
        bad = np.count_nonzero(y.astype(np.float64) != expected) if y.shape == expected.shape else "all"
        raise VerificationError(f"Binary operator {check.name!r} differs from the original layer "
                                f"{check.output!r} on its own activations ({bad} of {expected.size} outputs).")
    return y


def _check_fold(check, fold, y, activations):
    """Relative difference of a folded BatchNorm (``fold``) on the integers ``y`` of ``check``'s layer from the
    original BatchNorm's output; raises beyond :data:`FOLD_RTOL`."""
    shape = (1, -1) + (1,) * (y.ndim - 2)
    product = np.multiply(fold.scale.reshape(shape), y.astype(np.float32), dtype=np.float32)
    ours = np.add(product, fold.bias.reshape(shape), dtype=np.float32)
    reference = activations[fold.reference]
    if ours.shape != reference.shape:
        raise VerificationError(f"Folded BatchNorm {fold.reference!r} of {check.name!r} has shape {ours.shape}, "
                                f"the original {reference.shape}.")
    magnitude = max(1.0, *(float(np.max(np.abs(a), initial=0.0)) for a in (reference, product, fold.bias)))
    relative = float(np.max(np.abs(ours.astype(np.float64) - reference), initial=0.0)) / magnitude
    if not relative <= FOLD_RTOL:
        raise VerificationError(f"BatchNorm {fold.reference!r} folded into {check.name!r} differs from MXNet's "
                                f"by {relative:.3g} of its magnitude (allowed {FOLD_RTOL:g}).")
    return relative


def _check_sign(check, activations):
    """Number of boundary flips; raises if a decision differs away from the rounding boundary."""
    x = activations[check.source].astype(np.float32)
    reference = activations[check.reference]
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if check.row_sums is not None:  # the binary dot product y of a layer fed 0/1 activations (exact integers)
        # k-bit planes: the original rounded its float product (Y + row_sums) / (2 planes); check 1 bounds that
        # rounding by 1 / (4 planes), so round(planes * x) is the exact (Y + row_sums) / 2
        x = (2 * np.round(check.planes * x.astype(np.float64)) - check.row_sums.reshape(shape)).astype(np.float32)
    scale, bias = check.scale.reshape(shape), check.bias.reshape(shape)
    product = (scale * x).astype(np.float32)
    ours = (product + bias).astype(np.float32) < 0
    theirs = reference >= 0 if check.negated else reference < 0  # negated: a set bit stands for +1
    differ = ours != theirs
    if not differ.any():
        return 0
    tolerance = BOUNDARY_RTOL * (np.abs(product) + np.abs(bias))
    outside = differ & (np.abs(reference) > tolerance)
    if outside.any():
        raise VerificationError(f"Folded sign {check.name!r} differs from the original at "
                                f"{int(outside.sum())} positions away from zero (e.g. original value "
                                f"{float(reference[outside][0]):.6g}).")
    return int(differ.sum())


def _physical_memory():
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(symbol, data_name, input_shape, limit=None):
    """Raise :class:`ConversionError` before any allocation when running ``symbol`` on ``input_shape`` would
    hold more than ``limit`` bytes (default :data:`MEMORY_SHARE` of physical memory) of values: the sum over
    every operator output of its element count times 4 bytes, an upper bound of what verification keeps."""
    import mxnet as mx

    limit = MEMORY_SHARE * _physical_memory() if limit is None else limit
    try:
        with mxnet_quiet():
            _, shapes, _ = symbol.get_internals().infer_shape(**{data_name: tuple(input_shape)})
    except mx.base.MXNetError as err:
        raise ConversionError(f"The model does not accept input shape {tuple(input_shape)}: "
                              f"{str(err).strip().splitlines()[-1]}") from err
    needed = 4 * sum(int(np.prod(s, dtype=np.float64)) for s in shapes or () if s)
    if needed > limit:
        raise ConversionError(f"Verifying with input shape {tuple(input_shape)} needs about {needed / 2**30:.1f} GiB "
                              f"of activations, more than the {limit / 2**30:.1f} GiB allowed: give a smaller "
                              f"batch (--input-shape 1,{','.join(map(str, input_shape[1:]))}).")


def verify(original_symbol, original_params, original_aux, rewritten, converted_symbol, data_name, input_shape,
           *, exact, seed=0):
    """Run the four checks of the module docstring; returns a :class:`Verification`."""
    import mxnet as mx

    check_memory(original_symbol, data_name, input_shape)
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(tuple(input_shape)).astype(np.float32)
    names = sorted({c.input for c in rewritten.arithmetic_checks} | {c.output for c in rewritten.arithmetic_checks}
                   | {f.reference for c in rewritten.arithmetic_checks for f in c.folds}
                   | {c.source for c in rewritten.sign_checks} | {c.reference for c in rewritten.sign_checks})
    internals = original_symbol.get_internals()
    probes = [_internal(internals, n) for n in names]
    heads = list(original_symbol)
    outputs = run_symbol(mx.sym.Group(probes + heads), original_params, original_aux, data_name, data)
    activations = dict(zip(names, outputs))
    reference_outputs = outputs[len(probes):]

    folds = []
    for check in rewritten.arithmetic_checks:
        y = _check_arithmetic(check, activations, rewritten.graph.params)
        folds.extend(_check_fold(check, fold, y, activations) for fold in check.folds)
    flips = sum(_check_sign(check, activations) for check in rewritten.sign_checks)

    converted_outputs = run_symbol(converted_symbol, rewritten.graph.params, rewritten.graph.aux_names,
                                   data_name, data)
    worst = 0.0
    for ref, out in zip(reference_outputs, converted_outputs):
        if ref.shape != out.shape:
            raise VerificationError(f"Converted output shape {out.shape} differs from the original {ref.shape}.")
        overflow = np.count_nonzero(~np.isfinite(ref))
        if overflow:
            raise VerificationError(f"The original model's output holds {overflow} non-finite values on random "
                                    "inputs (float32 overflow from huge weights?): the conversion cannot be "
                                    "verified; check the model's parameters.")
        diff = float(np.max(np.abs(ref.astype(np.float64) - out))) if ref.size else 0.0
        worst = max(worst, diff)
        limit = 0.0 if exact else OUTPUT_RTOL * max(1.0, float(np.max(np.abs(ref))))
        if diff > limit or not np.isfinite(diff):
            raise VerificationError(
                f"Converted outputs differ from the original by {diff:.3g} (allowed {limit:.3g})"
                + ("" if exact else "; try exact mode (--exact), which keeps BatchNorm unfolded") + ".")
    return Verification(len(rewritten.arithmetic_checks), len(rewritten.sign_checks), flips, worst, exact,
                        folded_outputs_checked=len(folds), max_fold_difference=max(folds, default=0.0))
