"""What binary and full-precision networks look at (paper Section 3.3 / 4.2, Fig. 5 and 6), at CPU scale.

Trains float (W32A32) and binary (W1A1) twins of three zoo families under the common protocol: LeNet on
``--lenet-dataset`` (default the MNIST test split's digits), the small ResNet and DenseNet of
:mod:`.models` on ``--dataset`` (default the offline digits); then draws, with :mod:`tools.visualize`,

- ``visualization-lenet.png`` and ``visualization-digits.png``: VisualBackProp (image, mask, overlay) on
  the first ``--images`` evaluation digits, one row per model (the paper's Fig. 6 layout);
- ``visualization-gradcam.png``: Grad-CAM of the ResNet / DenseNet twins on the same digits;
- ``visualization-dream.png``: deep dream of classes 0 to 4 from the same noise, one row per model (Fig. 5);
- ``visualization-imagenet.png`` / ``visualization-imagenet-dream.png``: BMXNet v1's released binary
  ImageNet ResNet-18 on scikit-learn's two sample photographs (VisualBackProp, Grad-CAM, saliency) and its
  deep dream of three classes; skipped, with a note, when its files are in neither ``--model-root`` nor
  ``--v1-dir``.

``visualization.md`` / ``.json`` / ``.png`` hold the trained models' accuracies (common report).
"""
import argparse
import json
import os

import mxnet as mx

from bmxnet_ext.cli import nonempty_path, positive_int
from tools.train.data import load_dataset

from .common import EXPERIMENT_DATASETS, add_protocol_arguments, error_bars, run_dir_for, run_variants, write_report
from .models import small_densenet, small_resnet

NAME = "visualization"
SHARED_V1_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "models",
                             "bmxnet-v1")
V1_FILES = ("binarized_imagenet-resnet18-64bit-symbol.json", "binarized_imagenet-resnet18-64bit-0040.params")
IMAGENET_DREAMS = ("class:beacon", "class:tabby", "class:daisy")


def add_arguments(parser):
    parser.add_argument("--lenet-dataset", default="mnist-test-split", choices=EXPERIMENT_DATASETS,
                        help="data of the LeNet twins (default: mnist-test-split)")
    parser.add_argument("--lenet-epochs", type=positive_int, default=3, help="epochs of the LeNet twins (default: 3)")
    parser.add_argument("--images", type=positive_int, default=4, help="evaluation digits per figure (default: 4)")
    parser.add_argument("--dream-steps", type=positive_int, default=40,
                        help="deep-dream steps per octave (default: 40)")
    parser.add_argument("--model-root", type=nonempty_path, default=None,
                        help="model store holding BMXNet v1's ResNet-18 (default: $BMXNET_HOME/models)")
    parser.add_argument("--v1-dir", default=SHARED_V1_DIR,
                        help="folder of BMXNet v1's released files, filed into --model-root when present "
                             "(default: ../shared/models/bmxnet-v1)")
    parser.add_argument("--reuse-runs", action="store_true",
                        help="take a variant whose run folder already holds an export from there instead of training "
                             "it again (default: off)")
    add_protocol_arguments(parser, epochs=8, seeds=(0,))


def _train(args, variants):
    """The report rows of ``variants`` (first seed): trained by :func:`run_variants`, or with ``--reuse-runs``
    read from the log of a finished run folder."""
    rows, todo = {}, []
    for label, settings in variants:
        folder = run_dir_for(args.out_dir, NAME, label, args.seeds[0])
        if args.reuse_runs and os.path.exists(os.path.join(folder, "model-0000.params")):
            with open(os.path.join(folder, "log.jsonl")) as f:
                history = [json.loads(line) for line in f if line.strip()]
            accuracy = history[-1]["eval_accuracy"]
            params = mx.nd.load(os.path.join(folder, "model-0000.params"))  # arg: trained values, aux: statistics
            rows[label] = {"label": label, "parameters": sum(v.size for k, v in params.items() if k.startswith("arg:")),
                           "accuracies": [accuracy], "mean": accuracy, "std": 0.0,
                           "seconds": sum(h["epoch_seconds"] for h in history)}
        else:
            todo.append((label, settings))
    rows.update({row["label"]: row for row in run_variants(args, NAME, todo)})
    return [rows[label] for label, _ in variants]


def _trained(args, label, text):
    """The exported run of variant ``label`` (first seed) as a :class:`VisualModel` on 28 x 28 digits."""
    from bmxnet_ext.model_metadata import label_set
    from tools.visualize.models import VisualModel, import_export

    folder = run_dir_for(args.out_dir, NAME, label, args.seeds[0])
    net = import_export(os.path.join(folder, "model-symbol.json"), os.path.join(folder, "model-0000.params"))
    return VisualModel(net=net, label=text, input_shape=(1, 28, 28), class_names=label_set("digits"))


def _eval_images(args, dataset):
    _, held, _ = load_dataset(dataset, data_dir=args.data_dir)
    return [image.transpose(1, 2, 0) for image in held.images[:args.images]]


def _v1_resnet18(args):
    """BMXNet v1's ImageNet ResNet-18, after filing ``--v1-dir``'s files into the store; None if absent."""
    from model_zoo import model_store
    from tools.visualize import load_model

    if all(os.path.exists(os.path.join(args.v1_dir, f)) for f in V1_FILES):
        for name in V1_FILES:
            model_store.add_file(os.path.join(args.v1_dir, name), args.model_root)
    try:
        return load_model("resnet18:pretrained", root=args.model_root, label="v1 ResNet-18 W1A1 (ImageNet)")
    except model_store.ModelStoreError:
        return None


def run(args):
    lenet_args = argparse.Namespace(**{**vars(args), "dataset": args.lenet_dataset, "epochs": args.lenet_epochs})
    lenets = [("LeNet W32A32", {"model": "lenet", "bits": 32, "bits_a": 32}), ("LeNet W1A1", {"model": "lenet"})]
    families = [(f"{family} W{p}A{p}", {"model": build, "bits": p, "bits_a": p})
                for family, build in (("ResNet", small_resnet()), ("DenseNet", small_densenet(16, 2))) for p in (32, 1)]
    rows = _train(lenet_args, lenets) + _train(args, families)
    accuracy = {row["label"]: row["mean"] for row in rows}
    lenet_models = [_trained(args, label, f"{label}, {100 * accuracy[label]:.1f} % ({args.lenet_dataset})")
                    for label, _ in lenets]
    digit_models = [_trained(args, label, f"{label}, {100 * accuracy[label]:.1f} % ({args.dataset})")
                    for label, _ in families]
    figures, dreams = _digit_figures(args, lenet_models, digit_models)
    resnet18 = _v1_resnet18(args)
    if resnet18 is not None:
        figures_v1, dreams_v1 = _imagenet_figures(args, resnet18)
        figures.update(figures_v1)
        dreams.append((resnet18.label, dreams_v1))
    listed = ", ".join(os.path.basename(p) for p in figures.values())
    ascent = "; ".join(_ascent(label, runs) for label, runs in dreams)
    write_report(args, NAME, title="Float vs binary twins for the visualizations (paper Sec. 4.2)",
                 description=f"Accuracy of the models the figures show ({listed}). LeNet trains "
                             f"{args.lenet_epochs} epochs on {args.lenet_dataset}; ResNet (3 stages x 1 unit, "
                             "widths 32/64/128) and DenseNet (k = 16, b = 2) on the protocol's data."
                             + ("" if resnet18 else " BMXNet v1's ResNet-18 was not found: no ImageNet figures.")
                             + " Deep dream's class logit, mean over the dreamed classes, first -> last step: "
                             + f"{ascent}.",
                 rows=rows, plot=lambda ax, r: error_bars(ax, r, xlabel="model"))
    return rows


def _digit_figures(args, lenet_models, digit_models):
    """VisualBackProp, Grad-CAM and deep-dream figures of the trained twins: ``({name: path}, dreams by model)``."""
    from tools.visualize import compare, deep_dream
    from tools.visualize.figures import dream_figure

    figures = {name: _path(args, name) for name in ("lenet", "digits", "gradcam", "dream")}
    compare(lenet_models, images=_eval_images(args, args.lenet_dataset), path=figures["lenet"],
            title="VisualBackProp, LeNet float vs binary")
    digits = _eval_images(args, args.dataset)
    compare(digit_models, images=digits, path=figures["digits"], title="VisualBackProp, ResNet / DenseNet")
    compare(digit_models, images=digits, method="grad-cam", path=figures["gradcam"], title="Grad-CAM")
    dreams = [(m.label, [deep_dream(m, objective=f"class:{k}", steps=args.dream_steps, step_size=0.02, jitter=1,
                                    seed=0) for k in range(5)]) for m in lenet_models + digit_models]
    dream_figure(dreams, figures["dream"], title="Deep dream of classes 0-4 from one noise")
    return figures, dreams


def _imagenet_figures(args, resnet18):
    """BMXNet v1's ResNet-18 on scikit-learn's photographs and its deep dream: ``({name: path}, dreams)``."""
    from tools.visualize import compare, deep_dream, load_image
    from tools.visualize.figures import dream_figure, explanation_figure

    figures = {name: _path(args, name) for name in ("imagenet", "imagenet-dream")}
    photos = [load_image(f"sklearn:{name}") for name in ("china.jpg", "flower.jpg")]
    method_rows = [(method, resnet18, compare([resnet18], images=photos, method=method)[0][2])
                   for method in ("visual-backprop", "grad-cam", "saliency")]
    explanation_figure(method_rows, figures["imagenet"],
                       title="BMXNet v1 binary ResNet-18: VisualBackProp / Grad-CAM / saliency")
    dreams = [deep_dream(resnet18, objective=text, steps=max(1, args.dream_steps // 4), octaves=3, step_size=0.02,
                         jitter=4, seed=0) for text in IMAGENET_DREAMS]
    dream_figure([(resnet18.label, dreams)], figures["imagenet-dream"],
                 title="BMXNet v1 binary ResNet-18: deep dream")
    return figures, dreams


def _ascent(label, dreams):
    start = sum(d.objective[0] for d in dreams) / len(dreams)
    end = sum(d.objective[-1] for d in dreams) / len(dreams)
    return f"{label.split(',')[0]} {start:.2f} -> {end:.2f}"


def _path(args, name):
    return os.path.join(args.out_dir, f"{NAME}-{name}.png")

