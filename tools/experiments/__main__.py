"""The paper's studies at small scale, one command each: ``python -m tools.experiments NAME [options]``.

Each writes ``<out-dir>/NAME.md`` (protocol and table), ``NAME.png`` (plot) and ``NAME.json`` (results), and
keeps every run's folder under ``<out-dir>/runs/NAME/``.
"""
import importlib
import sys

from bmxnet_ext.atomic import check_output_folder
from bmxnet_ext.cli import ArgumentParser, run

from .common import apply_quick

PROG = "python -m tools.experiments"
EXPERIMENTS = {
    "clip": "clipping threshold sweep of the STE (paper Fig. 4a)",
    "scaling": "weight scaling modes N / B / FB (paper Fig. 4b)",
    "densenet": "DenseNet growth rate vs blocks per unit (paper Fig. 3)",
    "bottleneck": "ResNet basic vs bottleneck units (paper Table 3)",
    "precision": "LeNet binary vs k-bit vs full precision",
    "connections": "binary DenseNet vs binary ResNet at matched parameters (paper Table 4)",
    "visualization": "deep dream and VisualBackProp of float vs binary twins (paper Fig. 5, 6)",
}


def parse_args(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__)
    sub = parser.add_subparsers(dest="experiment", required=True, parser_class=ArgumentParser)
    for name, help_text in EXPERIMENTS.items():
        importlib.import_module(f"tools.experiments.{name}").add_arguments(sub.add_parser(name, help=help_text))
    return parser.parse_args(argv)


def _main(argv):
    args = apply_quick(parse_args(argv))
    check_output_folder(args.out_dir)
    module = importlib.import_module(f"tools.experiments.{args.experiment}")
    rows = module.run(args)
    for row in rows:
        print(f"{row['label']:40s} {100 * row['mean']:6.2f} % +- {100 * row['std']:.2f}  ({row['parameters']:,} "
              "parameters)")
    print(f"wrote {args.out_dir}/{args.experiment}.md, .png, .json")
    return 0


def main(argv=None):
    return run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
