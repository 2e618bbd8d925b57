"""Training in stages: start from a trained model (``--init-from``) and learn from a teacher (``--teacher``).

The two-stage recipe of binary networks (stage 1: binary activations with real-valued weights, stage 2: both
binary, initialised from stage 1) and the distillation of a binary student from its float twin both come down
to two operations:

- :func:`init_from`: copy every parameter of a trained model whose name and shape match into a new net (the
  zoo's float twin, its partly binary and its binary versions share parameter names) and report the rest;
- :func:`distillation_loss`: Hinton et al.'s soft-target loss with a temperature, gluoncv's
  ``DistillationSoftmaxCrossEntropyLoss``, against a teacher loaded from a run folder's export.
"""
import logging
import os

import mxnet as mx

from bmxnet_ext.cli import ToolError

from .artifacts import EXPORT_PREFIX
from .checkpoint import PARAMS, latest_checkpoint, verify_checkpoint

__all__ = ["init_from", "load_teacher", "teacher_files", "distillation_loss", "source_params_file"]

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
        raise ToolError(f"--init-from {path} is not an MXNet parameter file ({str(err).splitlines()[0]})") from None
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


def load_teacher(run_dir, ctx):
    """The trained model exported into ``run_dir`` (``model-symbol.json`` / ``model-0000.params``) on ``ctx``."""
    files = teacher_files(run_dir)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SymbolBlock.imports cannot infer the input type before the first call
        teacher = mx.gluon.SymbolBlock.imports(files[0], ["data"], files[1], ctx=ctx)
    teacher.hybridize(static_alloc=True)
    return teacher


def distillation_loss(teacher, *, temperature, hard_weight):
    r"""``loss_fn(logits, labels, data)`` of :func:`tools.train.fit.fit`: gluoncv's distillation loss against
    the ``teacher``'s soft targets :math:`q = \mathrm{softmax}(z_t / T)`,

    .. math:: \ell = (1 - h) T^2 \, \mathrm{CE}(\mathrm{softmax}(z / T), q) + h \, \mathrm{CE}(\mathrm{softmax}(z), y)

    with temperature :math:`T` and ``hard_weight`` :math:`h`. The teacher runs in inference mode (BatchNorm's
    running statistics) without recording gradients.
    """
    from gluoncv.loss import DistillationSoftmaxCrossEntropyLoss

    loss = DistillationSoftmaxCrossEntropyLoss(temperature=temperature, hard_weight=hard_weight)

    def loss_fn(logits, labels, data):
        with mx.autograd.pause():
            soft_targets = mx.nd.softmax(teacher(data) / temperature, axis=-1)
        return loss(logits, labels, soft_targets)

    return loss_fn
