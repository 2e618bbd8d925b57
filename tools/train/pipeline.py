"""One training run as an importable, keyword-only function: model + data + optimizer -> trained, exported net.

:func:`train` is what ``bmxnet-train`` runs after parsing its flags; experiments and the main job call it
directly.
"""
import logging
import os
import re

import mxnet as mx

from bmxnet_ext import binary_layer_config
from bmxnet_ext.cli import ToolError, UsageError
from bmxnet_ext.optimizers import Trainer

from .artifacts import PLOT_NAME, export_model, plot_learning_curves
from .data import epoch_batches, load_dataset
from .fit import fit
from .optim import WarmupSchedule, disable_binary_weight_decay, make_optimizer
from .run_dir import prepare_run_dir
from .stages import check_matched_shapes, distillation_loss, load_teacher, with_stage_outputs
from .stages import init_from as init_from_source

__all__ = ["train", "build_model", "check_input_shape", "check_model_input", "create_net", "parse_contexts",
           "make_trainer", "check_attention_loss", "KVSTORES"]

KVSTORES = ("device", "local", "dist_sync")
logger = logging.getLogger("bmxnet-train")


def parse_contexts(text):
    """``"cpu(0),cpu(1)"`` -> ``[mx.cpu(0), mx.cpu(1)]``; also accepts ``gpu(i)``."""
    contexts = []
    for item in text.split(","):
        match = re.fullmatch(r"\s*(cpu|gpu)\((\d+)\)\s*", item)
        if not match:
            raise ValueError(f"Expected devices like 'cpu(0)' or 'gpu(1)' separated by commas, got {item!r} "
                             f"in {text!r}.")
        contexts.append(mx.Context(match.group(1), int(match.group(2))))
    return contexts


def build_model(name, *, classes, bits=1, bits_a=1, clip_threshold=0.5, activation_method="det_sign",
                scaling="none", input_quantizer=None, kernel_quantizer=None, kernel_constraint=None,
                **model_kwargs):
    """Zoo model ``name`` whose quantized layers use the given settings (via :func:`binary_layer_config`).

    ``input_quantizer``, ``kernel_quantizer`` (:func:`bmxnet_ext.quantizers.get` identifiers) and
    ``kernel_constraint`` (:func:`bmxnet_ext.constraints.get`), when not None, replace the model's own choice in
    every quantized layer (:mod:`model_zoo.common`); the quantizers replace the shorthands ``activation_method`` /
    ``clip_threshold`` and ``bits`` / ``scaling`` there.

    ``name`` may also be a constructor ``f(classes=, bits=, bits_a=, **model_kwargs)``, e.g. a
    ``functools.partial`` of the zoo's generic ``resnet`` / ``densenet``.
    """
    from model_zoo import get_model

    with binary_layer_config(bits=bits, bits_a=bits_a, grad_cancel=clip_threshold, method=activation_method,
                             scaling=scaling, input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer,
                             kernel_constraint=kernel_constraint):
        if callable(name):
            return name(classes=classes, bits=bits, bits_a=bits_a, **model_kwargs)
        return get_model(name, bits=bits, bits_a=bits_a, classes=classes, **model_kwargs)


def check_input_shape(net, name, sample_shape, *, fix="--image-size {size}", error=ToolError):
    """Raise ``error`` (one line) unless ``net`` takes samples ``(C, H, W)``; it names the smallest square
    size the network takes, found by shape inference on the uninitialised net, and the flag that asks for it
    (``fix`` with ``{size}`` filled in; the training tool's ``--image-size`` by default)."""
    from model_zoo.input_size import smallest_input_size, takes_input

    if takes_input(net, sample_shape):
        return
    channels, height, width = sample_shape
    smallest = smallest_input_size(net, channels)
    advice = (f"the smallest square input it takes is {smallest} x {smallest}: pass {fix.format(size=smallest)}"
              if smallest else "it takes no square input up to 512 x 512")
    raise error(f"Model {_model_name(name)!r} cannot take {channels} x {height} x {width} inputs (too small "
                f"for its downsampling, or not the size its fixed-size layers expect); {advice}.")


def check_model_input(name, sample_shape, *, fix="--image-size {size}", error=ToolError, **settings):
    """:func:`check_input_shape` of model ``name`` built with ``settings`` (nothing is initialised), so that a
    tool can refuse a model / data pair before it writes anything."""
    check_input_shape(build_model(name, classes=None, in_channels=sample_shape[0], **settings), name, sample_shape,
                      fix=fix, error=error)


def create_net(name, *, classes, seed, ctx, input_shape, **settings):
    """:func:`build_model` for ``input_shape`` (its channels become ``in_channels``), initialised from ``seed``
    (Xavier, magnitude 2) on the devices ``ctx``, hybridized.

    The input size is checked (:func:`check_input_shape`) before anything is allocated; one forward pass on
    zeros of ``input_shape`` then fixes every deferred shape. Equal seeds give equal nets.
    """
    mx.random.seed(seed, ctx="all")
    net = build_model(name, classes=classes, in_channels=input_shape[1], **settings)
    check_input_shape(net, name, input_shape[1:])
    net.initialize(mx.init.Xavier(magnitude=2), ctx=ctx)
    net.hybridize(static_alloc=True)
    net(mx.nd.zeros(input_shape, ctx=ctx[0]))
    return net


def check_attention_loss(attention_loss_weight, teacher):
    """Raise :class:`UsageError` for an attention loss weight without a teacher (nothing to match)."""
    if attention_loss_weight and not teacher:
        raise UsageError("--attention-loss-weight matches the student's attention maps to a --teacher's: give one")


def make_trainer(net, *, optimizer, lr, weight_decay, lr_schedule, epochs, steps_per_epoch, warmup_epochs=0,
                 lr_steps=(), lr_factor=0.1, final_lr=0.0, poly_power=2.0, momentum=0.9, nesterov=False,
                 bop_threshold=1e-8, bop_gamma=1e-4, decay_binary_weights=False, kvstore="device"):
    """A Gluon ``Trainer`` over ``net`` with the named optimizer and schedule (epochs converted to updates).

    Latent binary weights get ``wd_mult = 0`` unless ``decay_binary_weights``. Updates run on the workers
    (``update_on_kvstore=False``) so the optimizer state can be checkpointed, except with a distributed
    ``kvstore`` object: there the servers run the optimizer and every worker pulls the updated weights after
    each step, so all workers hold the same weights whatever the timing of Gluon's lazy initial broadcast (whose
    pull MXNet does not order before the first gradient push; with local updates a worker could load a summed
    gradient as its weights, seen on loopback in one run out of four). The servers route, decay and constrain
    each parameter as the workers would (:class:`~bmxnet_ext.optimizers.Trainer` hands them a
    :class:`~bmxnet_ext.optimizers.CaseOptimizer`).
    """
    schedule = WarmupSchedule(lr_schedule, lr, total_steps=epochs * steps_per_epoch,
                              warmup_steps=int(warmup_epochs * steps_per_epoch),
                              milestones=[int(e * steps_per_epoch) for e in lr_steps], factor=lr_factor,
                              final_lr=final_lr, power=poly_power)
    if not decay_binary_weights:
        disable_binary_weight_decay(net)
    opt = make_optimizer(optimizer, learning_rate=lr, weight_decay=weight_decay, schedule=schedule,
                         momentum=momentum, nesterov=nesterov, bop_threshold=bop_threshold, bop_gamma=bop_gamma)
    distributed = not isinstance(kvstore, str)
    return Trainer(net.collect_params(), opt, kvstore=kvstore, update_on_kvstore=distributed)


def train(*, model, dataset, run_dir, data_dir=None, augment="none", image_size=None, record_classes=1000,
          bits=1, bits_a=None, clip_threshold=0.5, activation_method="det_sign", scaling="none",
          input_quantizer=None, kernel_quantizer=None, kernel_constraint=None, model_kwargs=None,
          optimizer="adam", lr=1e-3, weight_decay=0.0, lr_schedule="cosine", warmup_epochs=0, lr_steps=(),
          lr_factor=0.1, final_lr=0.0, poly_power=2.0, momentum=0.9, nesterov=False, bop_threshold=1e-8,
          bop_gamma=1e-4, decay_binary_weights=False,
          label_smoothing=0.0, batch_size=64, epochs=10, seed=0, ctx="cpu(0)", kvstore="device",
          limit_batches=None, resume=False, force=False, progress=True, log_interval=0, tensorboard=False,
          init_from=None, teacher=None, distill_temperature=4.0, distill_hard_weight=0.5, attention_loss_weight=0.0,
          splits=None):
    """Train zoo ``model`` on ``dataset``, checkpointing into ``run_dir``; export it and plot its curves.

    Arguments mirror ``bmxnet-train``'s flags (see ``bmxnet-train --help``); ``bits_a`` defaults to ``bits``
    (so ``bits=32`` alone is the full-precision twin, as in ``get_model``). A ``run_dir`` that already holds a
    run needs ``resume`` or ``force`` (:mod:`.run_dir`). ``init_from`` (a run folder or parameter file) and
    ``teacher`` (a run folder) train in stages (:mod:`.stages`); ``attention_loss_weight`` > 0 adds the attention
    matching loss at the end of each stage (a ``StemStagesNet`` model and a teacher of its architecture).
    ``splits`` optionally passes already loaded ``(train_split, eval_split, classes)`` to skip loading. Returns a dict with ``net``, ``history``,
    ``symbol_file``, ``params_file``, ``plot`` and ``input_shape`` (one batch of one sample).
    """
    if kvstore not in KVSTORES:
        raise ValueError(f"Expected `kvstore` to be one of {list(KVSTORES)}, got {kvstore!r}.")
    check_attention_loss(attention_loss_weight, teacher)
    bits_a = bits if bits_a is None else bits_a
    contexts = parse_contexts(ctx) if isinstance(ctx, str) else list(ctx)
    prepare_run_dir(run_dir, resume=resume, force=force)
    kv = mx.kv.create(kvstore) if kvstore.startswith("dist") else kvstore
    rank, num_workers = (kv.rank, kv.num_workers) if kvstore.startswith("dist") else (0, 1)
    train_split, eval_split, classes = splits or load_dataset(dataset, data_dir=data_dir, augment=augment,
                                                              image_size=image_size,
                                                              record_classes=record_classes)
    input_shape = (1,) + tuple(train_split.shape)
    net = create_net(model, classes=classes, seed=seed, ctx=contexts, input_shape=input_shape, bits=bits,
                     bits_a=bits_a, clip_threshold=clip_threshold, activation_method=activation_method,
                     scaling=scaling, input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer,
                     kernel_constraint=kernel_constraint, **(model_kwargs or {}))
    _log_summary(net, input_shape)
    if init_from:
        init_from_source(net, init_from)
    loss_fn = features = None
    if teacher:
        names = ()
        if attention_loss_weight:
            features, names = with_stage_outputs(net)
        teacher_net = load_teacher(teacher, contexts, outputs=names)
        if attention_loss_weight:
            check_matched_shapes(features, teacher_net, names, input_shape)
        loss_fn = distillation_loss(teacher_net, temperature=distill_temperature, hard_weight=distill_hard_weight,
                                    attention_weight=attention_loss_weight)
    steps = len(epoch_batches(len(train_split), batch_size=batch_size, seed=seed, epoch=1, rank=rank,
                              num_workers=num_workers, limit=limit_batches))
    trainer = make_trainer(net, optimizer=optimizer, lr=lr, weight_decay=weight_decay, lr_schedule=lr_schedule,
                           epochs=epochs, steps_per_epoch=steps, warmup_epochs=warmup_epochs, lr_steps=lr_steps,
                           lr_factor=lr_factor, final_lr=final_lr, poly_power=poly_power, momentum=momentum,
                           nesterov=nesterov, bop_threshold=bop_threshold, bop_gamma=bop_gamma,
                           decay_binary_weights=decay_binary_weights, kvstore=kv)
    writer = _tensorboard_writer(run_dir) if tensorboard else None
    try:
        history = fit(net=net, trainer=trainer, train_split=train_split, eval_split=eval_split, run_dir=run_dir,
                      epochs=epochs, batch_size=batch_size, ctx=contexts, seed=seed, label_smoothing=label_smoothing,
                      loss_fn=loss_fn, features=features, rank=rank, num_workers=num_workers,
                      distributed=kvstore.startswith("dist"),
                      limit_batches=limit_batches, resume=resume, progress=progress, log_interval=log_interval,
                      tensorboard=writer)
    finally:
        if writer is not None:
            writer.close()
    symbol_file, params_file = export_model(net, run_dir)
    plot = plot_learning_curves(history, os.path.join(run_dir, PLOT_NAME),
                                title=f"{_model_name(model)} on {dataset}, W{bits}A{bits_a}") if history else None
    logger.info("exported %s and %s", symbol_file, params_file)
    return {"net": net, "history": history, "symbol_file": symbol_file, "params_file": params_file,
            "plot": plot, "input_shape": input_shape, "rank": rank}


def _tensorboard_writer(run_dir):
    """A tensorboardX ``SummaryWriter`` on ``<run_dir>/tensorboard`` (``tensorboard --logdir`` reads it)."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError as err:
        raise ToolError("--tensorboard needs the tensorboardX package: pip install tensorboardX") from err
    return SummaryWriter(logdir=os.path.join(run_dir, "tensorboard"))


def _model_name(model):
    """A readable name of a zoo name or a constructor (``functools.partial`` included)."""
    if isinstance(model, str):
        return model
    return getattr(model, "__name__", None) or getattr(getattr(model, "func", None), "__name__", "model")


def _log_summary(net, input_shape):
    from bmxnet_ext import summary

    logger.info("model summary:\n%s", summary(net, input_shape, print_fn=None).table())
