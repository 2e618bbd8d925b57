"""Dispatch ``python -m tools.benchmark SUBCOMMAND``; every sub-command accepts ``--json FILE``.

MXNet reads ``OMP_NUM_THREADS`` once, when it is first imported, and the shared command-line helpers
(``bmxnet_ext.cli``, ``bmxnet_ext.atomic``) import MXNet with their package; so the thread flags are read
first, with the standard library only (:func:`preset_openmp_threads`), and the helpers imported after.
"""
import argparse
import importlib
import json
import os
import sys

PROG = "python -m tools.benchmark"

SUBCOMMANDS = {
    "kernels": "binary convolution kernels vs MXNet fp32 Convolution, and the machine's xnor/popcount peak",
    "models": "converted binary model inside MXNet vs the float model",
    "runtime": "standalone runtime vs MXNet float model",
    "training": "training step time of a binary zoo model vs its full-precision twin",
    "web": "the demo models natively and in WebAssembly (SIMD128 and portable builds) under Node.js",
}


def preset_openmp_threads(argv):
    """Set ``OMP_NUM_THREADS`` (unless the user did) to the thread count the binary side of ``kernels`` /
    ``models`` will use: 1 with ``--per-core``, else ``--threads``, else ``BMX_NUM_THREADS`` or all hardware
    threads. Invalid values are left to the real parser, which reports them."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", action="append", default=[])
    pre.add_argument("--per-core", action="store_true")
    known, _ = pre.parse_known_args(argv)
    threads = "1" if known.per_core else (known.threads[-1:] or [os.environ.get("BMX_NUM_THREADS")])[0]
    if not (threads or "").isdigit() or int(threads) < 1:
        threads = str(os.cpu_count())
    os.environ.setdefault("OMP_NUM_THREADS", threads)


def parse_args(argv=None):
    """Parse ``argv``; only the chosen sub-command's module is imported.

    Importing one lazily matters: a benchmark may have to set ``OMP_NUM_THREADS`` before MXNet is first
    imported, and another module importing MXNet earlier would silently defeat that.
    """
    from bmxnet_ext.cli import ArgumentParser, nonempty_path

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = ArgumentParser(prog=PROG, description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    for name, help_text in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", type=nonempty_path, metavar="FILE",
                       help="also write the results as JSON to FILE (default: none)")
        if argv and argv[0] == name:
            _module(name).add_arguments(p)
    return parser.parse_args(argv)


def _module(name):
    return importlib.import_module(f"tools.benchmark.{name}")


def _main(argv):
    from bmxnet_ext.atomic import check_output_parent, write_text

    args = parse_args(argv)
    module = _module(args.command)
    if hasattr(module, "check_args"):
        module.check_args(args)
    if args.json:
        check_output_parent(args.json)
    results = module.run(args)
    if args.json:
        write_text(args.json, json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["kernels"], ["models"]):
        preset_openmp_threads(argv[1:])
    from bmxnet_ext.cli import run

    return run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
