"""Dispatch ``python -m tools.benchmark SUBCOMMAND``; every sub-command accepts ``--json FILE``."""
import argparse
import importlib
import json
import os
import sys
import tempfile

SUBCOMMANDS = {
    "kernels": "binary convolution kernels vs MXNet fp32 Convolution, and the machine's xnor/popcount peak",
    "models": "converted binary model inside MXNet vs the float model",
    "runtime": "standalone runtime vs MXNet float model",
    "training": "training step time of a binary zoo model vs its full-precision twin",
    "web": "the demo models natively and in WebAssembly (SIMD128 and portable builds) under Node.js",
}


def parse_args(argv=None):
    """Parse ``argv``; only the chosen sub-command's module is imported.

    Importing one lazily matters: a benchmark may have to set ``OMP_NUM_THREADS`` before MXNet is first
    imported, and another module importing MXNet earlier would silently defeat that.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m tools.benchmark", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE (default: none)")
        if argv and argv[0] == name:
            _module(name).add_arguments(p)
    return parser.parse_args(argv)


def _module(name):
    return importlib.import_module(f"tools.benchmark.{name}")


def write_json_atomically(path, payload):
    """Write ``payload`` as JSON to ``path`` via a temporary file and rename (no partial files)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    args = parse_args(argv)
    results = _module(args.command).run(args)
    if args.json:
        write_json_atomically(args.json, results)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
