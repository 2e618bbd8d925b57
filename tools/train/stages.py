"""Training in stages: start from a trained model (``--init-from``) and learn from a teacher (``--teacher``).

The two-stage recipe of binary networks (stage 1: binary activations with real-valued weights, stage 2: both
binary, initialised from stage 1) and the distillation of a binary student from its float twin both come down
to two operations:

- :func:`init_from`: copy every parameter of a trained model whose name and shape match into a new net (the
  zoo's float twin, its partly binary and its binary versions share parameter names) and report the rest;
- :func:`distillation_loss`: Hinton et al.'s soft-target loss with a temperature, gluoncv's
  ``DistillationSoftmaxCrossEntropyLoss``, against a teacher loaded from a run folder's export, optionally plus
  Real-to-Binary Net's attention matching loss (:func:`attention_loss`) at the end of every stage
  (:func:`with_stage_outputs`).
"""
import logging
import os
import re

import mxnet as mx

from bmxnet_ext.cli import ToolError, mxnet_quiet, mxnet_reason

from .artifacts import EXPORT_PREFIX
from .checkpoint import PARAMS, latest_checkpoint, verify_checkpoint

__all__ = ["init_from", "load_teacher", "teacher_files", "distillation_loss", "source_params_file",
           "attention_loss", "with_stage_outputs", "check_matched_shapes"]

logger = logging.getLogger("bmxnet-train")


def source_params_file(source):
    """The parameter file ``source`` names: a file, or a run folder's newest checkpoint (verified against its
    manifest), else its export ``model-0000.params``."""
    if os.path.isfile(source):
        return source
    if not os.path.isdir(source):
        raise ToolError(f"--init-from {source}: no such run folder or parameter file")
    newest = latest_checkpoint(source)
    if newest is not None:
        verify_checkpoint(newest)
        return os.path.join(newest, PARAMS)
    exported = os.path.join(source, f"{EXPORT_PREFIX}-0000.params")
    if os.path.isfile(exported):
        return exported
    raise ToolError(f"--init-from {source}: the folder holds neither checkpoints/ nor {EXPORT_PREFIX}-0000.params "
                    "(is it a bmxnet-train run folder?)")


def _source_values(path):
    """``{structural or prefix-free name: NDArray}`` of a ``save_parameters`` file or an export (``arg:`` /
    ``aux:`` names whose first ``_``-separated part is the exporting net's prefix)."""
    try:
        loaded = mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise ToolError(f"--init-from {path} is not an MXNet parameter file ({mxnet_reason(err)})") from None
    if not isinstance(loaded, dict):
        raise ToolError(f"--init-from {path} holds an unnamed list of arrays, expected named parameters")
    if all(name.startswith(("arg:", "aux:")) for name in loaded):
        return {name[4:].split("_", 1)[-1]: value for name, value in loaded.items()}, "exported"
    return loaded, "structural"


def init_from(net, source):
    """Load into the initialised ``net`` every parameter of ``source`` (run folder or file) with the same name and
    shape; log and return what did not match.

    Returns ``{"file", "loaded", "missing", "mismatched", "unused"}``: names loaded, names of ``net`` absent from
    the source (they keep their initialisation), ``{name: (source shape, net shape)}``, and source names the net
    does not have.
    """
    path = source_params_file(source)
    values, naming = _source_values(path)
    if naming == "structural":
        params = net._collect_params_with_prefix()
    else:
        params = {p.name[len(net.prefix):]: p for p in net.collect_params().values()}
    loaded, missing, mismatched = [], [], {}
    for name, param in params.items():
        if name not in values:
            missing.append(name)
        elif values[name].shape != param.shape:
            mismatched[name] = (values[name].shape, param.shape)
        else:
            param.set_data(values[name])
            loaded.append(name)
    unused = sorted(set(values) - set(params))
    if not loaded:
        raise ToolError(f"--init-from {path}: none of its {len(values)} parameters matches the model's names and "
                        "shapes (a different architecture?)")
    logger.info("--init-from %s: loaded %d of %d parameters", path, len(loaded), len(params))
    for label, names in (("not in the source, kept as initialised", missing), ("shape differs, not loaded",
                         [f"{n} {s} vs {t}" for n, (s, t) in mismatched.items()]), ("in the source, unused", unused)):
        if names:
            logger.warning("--init-from: %d %s: %s", len(names), label, ", ".join(names))
    return {"file": path, "loaded": loaded, "missing": missing, "mismatched": mismatched, "unused": unused}


def teacher_files(run_dir):
    """``(symbol file, params file)`` of the export in ``run_dir``; one-line error when either is missing."""
    files = tuple(os.path.join(run_dir, f"{EXPORT_PREFIX}{suffix}") for suffix in ("-symbol.json", "-0000.params"))
    for path in files:
        if not os.path.isfile(path):
            raise ToolError(f"--teacher {run_dir}: no {os.path.basename(path)} (the export of a finished "
                            "bmxnet-train run)")
    return files


def load_teacher(run_dir, ctx, outputs=()):
    """The trained model exported into ``run_dir`` (``model-symbol.json`` / ``model-0000.params``) on ``ctx``.

    ``outputs``: names of inner outputs (without the exporting net's prefix, e.g. ``stage1_block4__plus0``) that
    the teacher returns after its logits; a name the export lacks is a one-line :class:`ToolError`.
    """
    symbol_file, params_file = teacher_files(run_dir)
    symbol = mx.sym.load(symbol_file)
    if outputs:
        internals = symbol.get_internals()
        by_name = {_strip_prefix(name[:-len("_output")]): name for name in internals.list_outputs()
                   if name.endswith("_output")}
        missing = [name for name in outputs if name not in by_name]
        if missing:
            raise ToolError(f"--teacher {run_dir}: its export has no output {missing[0]} to match the student's "
                            "(attention matching needs the student's architecture)")
        symbol = mx.sym.Group([symbol] + [internals[by_name[name]] for name in outputs])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SymbolBlock cannot infer the input type before the first call
        teacher = mx.gluon.SymbolBlock(symbol, mx.sym.var("data"))
    teacher.collect_params().load(params_file, ctx=ctx, cast_dtype=True, dtype_source="saved")
    teacher.hybridize(static_alloc=True)
    return teacher


def _strip_prefix(name):
    """``realtobinarynet0_stage1_block4__plus0`` -> ``stage1_block4__plus0`` (a Gluon net's prefix ends in ``_``)."""
    return name.split("_", 1)[-1]


def with_stage_outputs(net):
    """A block sharing ``net``'s parameters that returns ``(logits, A_1, ..., A_S)``: the logits and the output
    ``(N, C_s, H_s, W_s)`` of the last block of each stage ``s`` of a :class:`model_zoo.common.StemStagesNet`
    (Real-to-Binary Net's attention transfer points). Returns ``(block, names)``, ``names`` the outputs' names
    without the net's prefix (:func:`load_teacher` finds the teacher's by them). Other models: ToolError.
    """
    from model_zoo.common import StemStagesNet

    if not isinstance(net, StemStagesNet):
        raise ToolError(f"--attention-loss-weight matches the stage outputs of models built on "
                        f"model_zoo.common.StemStagesNet (birealnet18, real_to_binary_net), not {type(net).__name__}")
    x = data = mx.sym.var("data")
    last_of_stage = {}
    for child in net.features._children.values():
        x = child(x)
        match = re.search(r"stage(\d+)_block\d+_$", child.prefix)
        if match:
            last_of_stage[int(match.group(1))] = x
    stages = [last_of_stage[stage] for stage in sorted(last_of_stage)]
    block = mx.gluon.SymbolBlock(mx.sym.Group([net.output(x)] + stages), data, params=net.collect_params())
    block.hybridize(static_alloc=True)
    return block, [_strip_prefix(symbol.name) for symbol in stages]


def check_matched_shapes(student, teacher, names, input_shape):
    """Raise a one-line :class:`ToolError` unless every matched student and teacher output has the same spatial
    size ``(H, W)`` for inputs of ``input_shape`` (the attention maps sum over channels, so ``C`` may differ)."""
    shapes = []
    for block in (student, teacher):
        outputs = mx.sym.Group(block(mx.sym.var("data")))  # (logits, *matched outputs)
        with mxnet_quiet():
            shapes.append(outputs.infer_shape(data=input_shape)[1][1:])
    for name, ours, theirs in zip(names, *shapes):
        if ours[2:] != theirs[2:]:
            raise ToolError(f"--attention-loss-weight: the student's {name} is {ours[1:]}, the teacher's "
                            f"{theirs[1:]}: attention maps need equal spatial sizes (the same architecture)")


def attention_loss(F, student, teacher, eps=1e-12):
    r"""Real-to-Binary Net's attention matching loss (Martinez et al. 2020, eq. 4), per sample ``(N,)``:

    .. math:: L_{att} = \sum_j \left\| \frac{Q_S^j}{\|Q_S^j\|_2} - \frac{Q_T^j}{\|Q_T^j\|_2} \right\|_2,
              \qquad Q^j = \sum_c |A^j_c|^2 \in \mathbb{R}^{H_j W_j}

    over the matched outputs ``A^j`` ``(N, C_j, H_j, W_j)`` of the student and the teacher (lists of equal
    length; ``C_j`` may differ, ``H_j, W_j`` must agree). ``eps`` inside both square roots keeps the gradient
    finite at zero.
    """
    total = 0
    for a_s, a_t in zip(student, teacher):
        q_s, q_t = (F.flatten(F.sum(F.square(a), axis=1)) for a in (a_s, a_t))
        unit_s, unit_t = (F.broadcast_div(q, F.sqrt(F.sum(F.square(q), axis=1, keepdims=True) + eps))
                          for q in (q_s, q_t))
        total = total + F.sqrt(F.sum(F.square(unit_s - unit_t), axis=1) + eps)
    return total


def distillation_loss(teacher, *, temperature, hard_weight, attention_weight=0.0):
    r"""``loss_fn(logits, labels, data[, outputs])`` of :func:`tools.train.fit.fit`: gluoncv's distillation loss
    against the ``teacher``'s soft targets :math:`q = \mathrm{softmax}(z_t / T)`,

    .. math:: \ell = (1 - h) T^2 \, \mathrm{CE}(\mathrm{softmax}(z / T), q) + h \, \mathrm{CE}(\mathrm{softmax}(z), y)
              + \beta L_{att}

    with temperature :math:`T`, ``hard_weight`` :math:`h` and ``attention_weight`` :math:`\beta`. With
    :math:`\beta > 0` the teacher returns ``(logits, *matched outputs)`` (:func:`load_teacher`) and the loss gets
    the student's matched ``outputs`` (:func:`with_stage_outputs`) for :func:`attention_loss`. The teacher runs
    in inference mode (BatchNorm's running statistics) without recording gradients.
    """
    from gluoncv.loss import DistillationSoftmaxCrossEntropyLoss

    loss = DistillationSoftmaxCrossEntropyLoss(temperature=temperature, hard_weight=hard_weight)

    def loss_fn(logits, labels, data, outputs=()):
        with mx.autograd.pause():
            taught = teacher(data)
            teacher_logits, teacher_outputs = (taught[0], taught[1:]) if attention_weight else (taught, ())
            soft_targets = mx.nd.softmax(teacher_logits / temperature, axis=-1)
        value = loss(logits, labels, soft_targets)
        if attention_weight:
            if len(outputs) != len(teacher_outputs):
                raise ValueError(f"Expected the student's {len(teacher_outputs)} matched outputs, got "
                                 f"{len(outputs)}.")
            value = value + attention_weight * attention_loss(mx.nd, outputs, teacher_outputs)
        return value

    return loss_fn
