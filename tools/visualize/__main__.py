"""``bmxnet-visualize`` / ``python -m tools.visualize``: deep dream and input masks of zoo, trained and v1 models.

Examples::

    bmxnet-visualize layers --model resnet18:pretrained
    bmxnet-visualize visual-backprop --model resnet18:pretrained --image sklearn:china.jpg -o vbp.png
    bmxnet-visualize compare --method grad-cam --model runs/lenet-w1 --model runs/lenet-w32 \\
        --image digits:0 --image digits:1 -o compare.png
    bmxnet-visualize deep-dream --model lenet:pretrained --objective class:3 --objective class:8 -o dream.png

A model is a zoo name or a bmxnet-train run folder, optionally with ``:bits=B``, ``:bits_a=B`` or
``:pretrained`` (several joined by commas, e.g. ``lenet:bits=32``); an image is a file, ``sklearn:china.jpg``,
``sklearn:flower.jpg`` or ``digits:N``.
"""
import argparse
import os
import sys

from bmxnet_ext.atomic import check_output_parent, remove_stale_temporaries
from bmxnet_ext.cli import (ArgumentParser, UsageError, non_negative_int, nonempty_path, positive_float, positive_int,
                            run)

PROG = "bmxnet-visualize"


def _models_and_output(parser, *, output=True):
    parser.add_argument("--model", action="append", required=True, metavar="SPEC",
                        help="zoo name or run folder, with options ':bits=32', ':pretrained' (repeat for rows)")
    parser.add_argument("--model-root", type=nonempty_path, default=None,
                        help="model store of pretrained weights (default: $BMXNET_HOME/models)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of untrained zoo models and of deep dream's noise and jitter (default: 0)")
    if output:
        parser.add_argument("-o", "--output", required=True, help="PNG file to write")
        parser.add_argument("--title", default=None, help="figure title (default: none)")
        parser.add_argument("--no-progress", dest="progress", action="store_false",
                            help="no progress bar (default: shown)")


def _mask_options(parser, *, with_method):
    if with_method:
        parser.add_argument("--method", default="visual-backprop", choices=("visual-backprop", "grad-cam", "saliency"),
                            help="mask method (default: visual-backprop)")
    parser.add_argument("--image", action="append", required=True, metavar="IMAGE",
                        help="image file, sklearn:china.jpg, sklearn:flower.jpg or digits:N (repeat for columns)")
    parser.add_argument("--layers", default=None,
                        help="visual-backprop: comma-separated stage layers (default: one per resolution); "
                             "grad-cam: one layer (default: the deepest stage)")
    parser.add_argument("--target", type=non_negative_int, default=None,
                        help="grad-cam / saliency: class to explain (default: the predicted one)")


def build_parser():
    parser = ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _models_and_output(sub.add_parser("layers", help="list a model's feature-map layers and its VisualBackProp "
                                                     "stages"), output=False)
    for method, text in (("visual-backprop", "VisualBackProp masks (paper Fig. 6)"),
                         ("grad-cam", "Grad-CAM masks"), ("saliency", "input-gradient saliency masks")):
        p = sub.add_parser(method, help=text)
        _models_and_output(p)
        _mask_options(p, with_method=False)
    p = sub.add_parser("compare", help="several models side by side: image, mask, overlay per image, a row per model")
    _models_and_output(p)
    _mask_options(p, with_method=True)
    p = sub.add_parser("deep-dream", help="gradient ascent on the input (paper Fig. 5)")
    _models_and_output(p)
    p.add_argument("--objective", action="append", required=True,
                   help="class:K | class:NAME | layer:NAME | filter:NAME:F (repeat for columns)")
    p.add_argument("--image", default=None, help="start image (default: noise from --seed)")
    p.add_argument("--steps", type=positive_int, default=20, help="steps per octave (default: 20)")
    p.add_argument("--step-size", type=positive_float, default=0.02,
                   help="step length relative to the mean absolute gradient (default: 0.02)")
    p.add_argument("--octaves", type=positive_int, default=1, help="coarse-to-fine octaves (default: 1)")
    p.add_argument("--octave-scale", type=positive_float, default=1.4, help="size ratio of octaves (default: 1.4)")
    p.add_argument("--jitter", type=non_negative_int, default=1, help="random shift in pixels (default: 1)")
    return parser


def _load_models(args):
    from . import load_model

    return [load_model(spec, root=args.model_root, seed=args.seed) for spec in args.model]


def _prepare_output(path):
    check_output_parent(path)
    remove_stale_temporaries(os.path.dirname(os.path.abspath(path)))


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "output", None):
        _prepare_output(args.output)
    models = _load_models(args)
    if args.command == "layers":
        from . import stage_layers

        for model in models:
            stages = {layer.name for layer in stage_layers(model.layers)}
            print(f"# {model.label}: input {model.input_shape}; * = VisualBackProp stage")
            for layer in model.layers:
                print(f"{'*' if layer.name in stages else ' '} {layer.name:50s} {layer.kind:12s} {layer.shape[1:]}")
        return 0
    if args.command == "deep-dream":
        return _deep_dream(args, models)
    from . import compare, load_image

    method = args.method if args.command == "compare" else args.command
    options = {}
    if args.layers and method == "visual-backprop":
        options["layers"] = [name for name in args.layers.split(",") if name]
    elif args.layers and method == "grad-cam":
        options["layer"] = args.layers
    elif args.layers:
        raise UsageError("--layers applies to visual-backprop and grad-cam only")
    if args.target is not None:
        if method == "visual-backprop":
            raise UsageError("--target applies to grad-cam and saliency only (VisualBackProp explains the prediction)")
        options["target"] = args.target
    images = [load_image(spec) for spec in args.image]
    compare(models, images=images, method=method, path=args.output, title=args.title, progress=args.progress,
            **options)
    print(f"wrote {args.output}")
    return 0


def _deep_dream(args, models):
    from tqdm import tqdm

    from . import deep_dream, load_image, parse_objective
    from .figures import dream_figure

    start = load_image(args.image) if args.image else None
    objectives = [[parse_objective(text, model) for text in args.objective] for model in models]  # check all first
    rows = []
    for model, model_objectives in tqdm(list(zip(models, objectives)), desc="models", disable=not args.progress):
        dreams = [deep_dream(model, objective=objective, image=start, steps=args.steps, step_size=args.step_size,
                             octaves=args.octaves, octave_scale=args.octave_scale, jitter=args.jitter, seed=args.seed,
                             progress=args.progress) for objective in model_objectives]
        for dream in dreams:
            first, last = dream.objective[0], dream.objective[-1]
            print(f"{model.label}: {dream.description}: objective {first:.4g} -> {last:.4g}")
        rows.append((model.label, dreams))
    dream_figure(rows, args.output, title=args.title)
    print(f"wrote {args.output}")
    return 0


def console_main():
    """Entry point of the ``bmxnet-visualize`` console script."""
    return run(PROG, main)


if __name__ == "__main__":
    sys.exit(console_main())
