"""``bmxnet-train`` / ``python -m tools.train``: train a zoo model, binary or not, from the command line.

Example (binary LeNet on the offline digits, a minute on 2 cores)::

    bmxnet-train --model lenet --dataset digits --epochs 10 --run-dir runs/lenet-digits

The run folder receives ``args.json`` (first), ``train.log``, ``log.jsonl`` (one line per epoch),
``checkpoints/epoch-NNNN/`` (every epoch), ``model-symbol.json`` + ``model-0000.params`` (the export the
model converter reads) and ``learning_curves.png``. ``--resume`` continues bit-for-bit from the newest
checkpoint.
"""
import argparse
import json
import logging
import os
import sys

from bmxnet_ext import constraints, model_metadata, quantizers
from bmxnet_ext.atomic import check_output_folder, remove_stale_temporaries, write_text
from bmxnet_ext.cli import (ArgumentParser, ToolError, fraction, int_in_range, non_negative_float,
                            non_negative_int, nonempty_path, open_fraction, positive_float, positive_int)
from bmxnet_ext.layers import SCALING_MODES
from bmxnet_ext.quantizers import ACTIVATION_METHODS
from model_zoo import model_name

from .checkpoint import latest_checkpoint, verify_checkpoint
from .data import AUGMENTATIONS, DATASETS, load_dataset
from .optim import OPTIMIZERS, SCHEDULES
from .pipeline import KVSTORES, check_attention_loss, check_model_input, parse_contexts, train
from .run_dir import discard_unfinished_run, prepare_run_dir
from .stages import source_params_file, teacher_files

__all__ = ["build_parser", "parse_args", "main"]

logger = logging.getLogger("bmxnet-train")
_NOT_TRAINING_SETTINGS = ("resume", "force", "progress", "epochs", "ctx", "limit_batches", "log_interval",
                          "tensorboard", "debug")


_bits = int_in_range(1, 32)


def _threshold(text):
    """argparse type: ``none`` / ``inf`` (keep every gradient) or a number > 0."""
    return None if text.lower() in ("none", "inf") else positive_float(text)


def _epoch_list(text):
    """argparse type: comma-separated epochs >= 0 in increasing order, e.g. ``30,60``."""
    epochs = [non_negative_float(e) for e in text.split(",") if e.strip()]
    if epochs != sorted(epochs):
        raise argparse.ArgumentTypeError(f"expected epochs in increasing order, got {text!r}")
    return epochs


def _registered(kind, get, registry):
    """argparse type: a name in ``registry`` or a JSON dict ``{"name": ..., **kwargs}``, built by ``get`` and
    returned as its config dict (JSON, for ``args.json``)."""
    def parse(text):
        value = text
        if text.lstrip().startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise argparse.ArgumentTypeError(f"invalid JSON {text!r}: {err}") from None
        name = value.get("name") if isinstance(value, dict) else value
        if not isinstance(name, str) or name not in registry:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {name!r}; expected one of {', '.join(sorted(registry))} or a JSON dict "
                f"'{{\"name\": ..., <arguments>}}'")
        try:
            return get(value).get_config()
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return parse


_quantizer = _registered("quantizer", quantizers.get, quantizers.REGISTRY)
_constraint = _registered("constraint", constraints.get, constraints.REGISTRY)


def _contexts(text):
    """argparse type: devices such as ``cpu(0),cpu(1)``."""
    try:
        parse_contexts(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def build_parser():
    """The ``bmxnet-train`` argument parser; every flag's help ends with its default."""
    p = ArgumentParser(prog="bmxnet-train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model")
    g.add_argument("--model", type=model_name, default="lenet", help="zoo model name (default: lenet)")
    g.add_argument("--bits", type=_bits, default=1, help="weight bits, 1..32 (default: 1)")
    g.add_argument("--bits-a", type=_bits, default=None,
                   help="activation bits, 1..32; --bits 32 alone is the full-precision twin (default: --bits)")
    g.add_argument("--clip-threshold", type=_threshold, default=0.5,
                   help="t_clip of the straight-through estimator; 'none' keeps all gradients (default: 0.5)")
    g.add_argument("--activation-method", default="det_sign", choices=sorted(ACTIVATION_METHODS),
                   help="1-bit activation method (default: det_sign)")
    g.add_argument("--scaling", default="none", choices=SCALING_MODES,
                   help="scaling of binary layers (default: none)")
    g = p.add_argument_group("quantizers (a registered name or a JSON dict like '{\"name\": \"ste_sign\", "
                             "\"clip_value\": 1.0}'; each replaces the zoo model's own choice in every quantized "
                             "layer)")
    g.add_argument("--input-quantizer", type=_quantizer, default=None, metavar="QUANTIZER",
                   help=f"quantizer of the activations, one of {', '.join(sorted(quantizers.REGISTRY))}; replaces "
                        "--activation-method / --clip-threshold (default: the model's own)")
    g.add_argument("--kernel-quantizer", type=_quantizer, default=None, metavar="QUANTIZER",
                   help="quantizer of the weights; replaces --bits / --scaling of the binary layers (default: the "
                        "model's own)")
    g.add_argument("--kernel-constraint", type=_constraint, default=None, metavar="CONSTRAINT",
                   help=f"constraint on the latent weights after each update, one of "
                        f"{', '.join(sorted(constraints.REGISTRY))} (default: the model's own)")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits", choices=DATASETS, help="dataset (default: digits)")
    g.add_argument("--data-dir", type=nonempty_path, default=None,
                   help="folder holding (or receiving) the dataset's files, relative to the current folder "
                        "(default: mnist-test-split reads $BMXNET_MNIST_DIR or ../shared/data/mnist-test, digits "
                        "needs none, the others need it)")
    g.add_argument("--augment", default="none", choices=AUGMENTATIONS,
                   help="augmentation of in-memory datasets (default: none)")
    g.add_argument("--image-size", type=positive_int, default=None,
                   help="side length of the samples: in-memory datasets are resized to it, image data is cropped "
                        "to it (default: the dataset's own, 28 digits / mnist, 32 cifar10, 224 imagenet)")
    g.add_argument("--record-classes", type=positive_int, default=1000,
                   help="class count of RecordIO data (image folders count their sub-folders) (default: 1000)")
    g = p.add_argument_group("stages and distillation")
    g.add_argument("--init-from", default=None, metavar="RUN_DIR|PARAMS",
                   help="start from a trained model: a run folder (its newest checkpoint) or a .params file; "
                        "parameters whose name and shape match are loaded, the rest reported (default: none)")
    g.add_argument("--teacher", default=None, metavar="RUN_DIR",
                   help="distil from the model exported in this run folder (soft targets, gluoncv's "
                        "DistillationSoftmaxCrossEntropyLoss) (default: none)")
    g.add_argument("--distill-temperature", type=positive_float, default=4.0,
                   help="temperature T of the soft targets (default: 4)")
    g.add_argument("--distill-hard-weight", type=fraction, default=0.5,
                   help="weight of the true-label loss; 1 - it weighs the soft loss times T^2 (default: 0.5)")
    g.add_argument("--attention-loss-weight", type=non_negative_float, default=0.0, metavar="BETA",
                   help="weight of Real-to-Binary Net's attention matching loss between the student's and the "
                        "--teacher's stage outputs (models built on StemStagesNet); 0 is off (default: 0)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", default="adam", choices=OPTIMIZERS,
                   help="optimizer; bop: Bop for the binary weights, Adam (--lr) for the rest (default: adam)")
    g.add_argument("--lr", type=positive_float, default=1e-3, help="base learning rate (default: 0.001)")
    g.add_argument("--momentum", type=open_fraction, default=0.9, help="sgd momentum (default: 0.9)")
    g.add_argument("--nesterov", action="store_true", help="Nesterov momentum for sgd (default: off)")
    g.add_argument("--bop-threshold", type=non_negative_float, default=1e-8,
                   help="bop: flip threshold tau of the averaged gradient (default: 1e-08)")
    g.add_argument("--bop-gamma", type=fraction, default=1e-4,
                   help="bop: adaptivity rate gamma of the gradient average, in (0, 1] (default: 0.0001)")
    g.add_argument("--wd", dest="weight_decay", type=non_negative_float, default=0.0, help="weight decay (default: 0)")
    g.add_argument("--decay-binary-weights", action="store_true",
                   help="also decay the latent weights of quantized layers (default: off, wd_mult = 0)")
    g.add_argument("--lr-schedule", default="cosine", choices=SCHEDULES, help="lr schedule (default: cosine)")
    g.add_argument("--warmup-epochs", type=non_negative_float, default=0.0, help="linear warm-up epochs (default: 0)")
    g.add_argument("--lr-steps", type=_epoch_list, default=[],
                   help="epochs after which the step schedule multiplies lr by --lr-factor, e.g. '30,60' "
                        "(default: none)")
    g.add_argument("--lr-factor", type=positive_float, default=0.1, help="step schedule factor (default: 0.1)")
    g.add_argument("--final-lr", type=non_negative_float, default=0.0, help="cosine / poly final lr (default: 0)")
    g.add_argument("--poly-power", type=positive_float, default=2.0, help="poly schedule power (default: 2)")
    g.add_argument("--label-smoothing", type=open_fraction, default=0.0, help="label smoothing epsilon (default: 0)")
    g.add_argument("--batch-size", type=positive_int, default=64, help="batch size per worker (default: 64)")
    g.add_argument("--epochs", type=positive_int, default=10, help="total epochs (default: 10)")
    g.add_argument("--seed", type=non_negative_int, default=0, help="seed of initialisation and data order (default: 0)")
    g = p.add_argument_group("run")
    g.add_argument("--ctx", type=_contexts, default="cpu(0)", help="devices, e.g. 'cpu(0),cpu(1)' (default: cpu(0))")
    g.add_argument("--kvstore", default="device", choices=KVSTORES,
                   help="gradient aggregation; dist_sync uses MXNet's parameter server (default: device)")
    g.add_argument("--run-dir", default=None,
                   help="output folder (default: runs/<model>-<dataset>-w<bits>a<bits-a>)")
    g.add_argument("--resume", action="store_true", help="continue from the newest checkpoint (default: off)")
    g.add_argument("--force", action="store_true",
                   help="replace the run an existing --run-dir holds (default: off, such a folder is refused)")
    g.add_argument("--limit-batches", type=positive_int, default=None,
                   help="train and evaluate on at most this many batches per epoch, for smoke tests "
                        "(default: all)")
    g.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars (default: shown on a terminal, with running loss and accuracy)")
    g.add_argument("--log-interval", type=non_negative_int, default=50,
                   help="log loss, accuracy, lr and samples/s every N batches, also when not on a terminal; 0: "
                        "once per epoch (default: 50)")
    g.add_argument("--tensorboard", action="store_true",
                   help="write TensorBoard event files to <run-dir>/tensorboard (default: off)")
    return p


def _check_quantizer_flags(parser, args):
    """Refuse (usage error) quantizer flags combined with the shorthands they replace."""
    if args.input_quantizer is not None:
        if args.bits_a != 1:
            parser.error(f"--input-quantizer replaces the --bits-a shorthand of the quantized activations: leave "
                         f"--bits-a (and --bits) at 1, got --bits-a {args.bits_a}")
        changed = [flag for flag, name in (("--activation-method", "activation_method"),
                                           ("--clip-threshold", "clip_threshold"))
                   if getattr(args, name) != parser.get_default(name)]
        if changed:
            parser.error(f"--input-quantizer replaces {' and '.join(changed)} (set the gradient with the "
                         f"quantizer's own arguments, e.g. clip_value)")
    if args.kernel_quantizer is not None and args.bits != 1:
        parser.error(f"--kernel-quantizer replaces the --bits shorthand of the binary layers: leave --bits at 1, "
                     f"got --bits {args.bits}")
    if args.kernel_constraint is not None and args.bits != 1:
        parser.error(f"--kernel-constraint applies to the binary layers, which --bits {args.bits} leaves out: "
                     f"leave --bits at 1")
    if args.kernel_quantizer is not None and args.scaling != "none":
        parser.error(f"--kernel-quantizer replaces --scaling {args.scaling} (magnitude_aware_sign is XNOR-Net's "
                     f"per-channel scale)")


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.bits_a is None:
        args.bits_a = args.bits
    _check_quantizer_flags(parser, args)
    if args.run_dir is None:
        args.run_dir = os.path.join("runs", f"{args.model}-{args.dataset}-w{args.bits}a{args.bits_a}")
    return args


def _save_args(args):
    """Write ``args.json`` first; on ``--resume`` warn about settings that differ from the saved ones."""
    path = os.path.join(args.run_dir, "args.json")
    # the preprocessing is recorded for the converter (bmxnet_ext.model_metadata.from_training_args)
    current = {**vars(args), "preprocessing": model_metadata.training_record(args.dataset)}
    if args.resume and os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        changed = {k: (saved.get(k), v) for k, v in current.items()
                   if k not in _NOT_TRAINING_SETTINGS and saved.get(k) != v}
        if changed:
            logger.warning("resuming with settings that differ from %s (saved, now): %s", path, changed)
    write_text(path, json.dumps(current, indent=2, sort_keys=True) + "\n")


def _close_logging():
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def _setup_logging(run_dir):
    """Log to stderr and ``<run_dir>/train.log``, replacing the handlers of an earlier ``main`` in the process."""
    _close_logging()
    handlers = [logging.StreamHandler(sys.stderr), logging.FileHandler(os.path.join(run_dir, "train.log"))]
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _check_run_dir(args):
    """Refuse a run folder that cannot be used, and on ``--resume`` a damaged newest checkpoint, before
    anything is written; remove temporaries a killed run left behind."""
    check_output_folder(args.run_dir)
    if args.resume:
        newest = latest_checkpoint(args.run_dir)
        if newest is not None:
            verify_checkpoint(newest)
    for folder in (args.run_dir, os.path.join(args.run_dir, "checkpoints")):
        remove_stale_temporaries(folder)


def main(argv=None):
    args = parse_args(argv)
    _check_run_dir(args)
    splits = load_dataset(args.dataset, data_dir=args.data_dir, augment=args.augment, image_size=args.image_size,
                          record_classes=args.record_classes)  # a missing dataset fails before the run folder
    check_model_input(args.model, splits[0].shape, bits=args.bits, bits_a=args.bits_a,  # so does a bad size
                      input_quantizer=args.input_quantizer, kernel_quantizer=args.kernel_quantizer,
                      kernel_constraint=args.kernel_constraint)
    if args.init_from:
        source_params_file(args.init_from)
    check_attention_loss(args.attention_loss_weight, args.teacher)
    if args.teacher:
        teacher_files(args.teacher)
    created = not os.path.exists(args.run_dir)
    prepare_run_dir(args.run_dir, resume=args.resume, force=args.force)
    _setup_logging(args.run_dir)
    logger.info("arguments: %s", json.dumps(vars(args), sort_keys=True))
    _save_args(args)
    settings = {k: v for k, v in vars(args).items() if k not in ("run_dir", "debug")}
    try:
        result = train(run_dir=args.run_dir, splits=splits, **settings)
    except ToolError:  # refused while setting up (e.g. a teacher that does not match), or diverged in epoch 1
        if not args.resume:
            _close_logging()
            discard_unfinished_run(args.run_dir, created=created)
        raise
    if result["history"]:
        last = result["history"][-1]
        logger.info("done: eval accuracy %.2f %% after %d epochs; run folder %s", 100 * last["eval_accuracy"],
                    last["epoch"], args.run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
