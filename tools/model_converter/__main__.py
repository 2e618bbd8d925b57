"""``python -m tools.model_converter PREFIX-symbol.json PREFIX-NNNN.params -o OUTDIR [--input-shape 1,3,224,224]``.

Converts a Gluon model exported from ``bmxnet_ext`` layers (or, with BMXNet v1 operators in the symbol, a
BMXNet v1 released model), verifies it against the original, writes it atomically and prints the report.
Exit status: 0 on success, 2 on a bad flag (or an existing output folder without ``--force``), 1 on a bad
input or a failed verification; nothing is written
then, and the error is one line ``bmxnet-convert: error: ...`` (``--debug`` or ``BMX_DEBUG=1`` for the
traceback).
"""
import json
import os
import sys

from bmxnet_ext.atomic import check_output_parent, write_text
from bmxnet_ext.cli import (ArgumentParser, ToolError, UsageError, comma_list, finite_float, nonempty_path,
                            positive_float, run, shape)

from . import WRITERS, convert_bmxnet_v1, convert_files

PROG = "bmxnet-convert"


def parse_args(argv=None):
    parser = ArgumentParser(
        prog=PROG,
        description="Convert a model trained with bmxnet_ext layers (or a BMXNet v1 released model) into packed "
                    "binary operators that run inside MXNet; verify it against the original; write it atomically.")
    parser.add_argument("symbol_file", help="the model's PREFIX-symbol.json")
    parser.add_argument("params_file", help="the model's PREFIX-NNNN.params")
    parser.add_argument("-o", "--output-dir", required=True, help="directory to create for the converted model")
    parser.add_argument("--input-shape", type=shape, default=None,
                        help="data shape for verification, e.g. 1,3,224,224 (default: recorded by zoo exports, "
                             "else guessed from the first layer; required for BMXNet v1 models)")
    parser.add_argument("--exact", action="store_true",
                        help="keep BatchNorm unfolded: outputs identical to the original (default: fold)")
    parser.add_argument("--no-fuse", dest="fuse", action="store_false",
                        help="mxnet format: one operator per step instead of one call per binary layer with its "
                             "input packing and epilogue (default: fuse)")
    parser.add_argument("--force", action="store_true", help="replace an existing output directory (default: error)")
    parser.add_argument("--format", default="mxnet", choices=sorted(WRITERS), help="output format (default: mxnet)")
    parser.add_argument("--prefix", default=None, help="output file prefix (default: the input's)")
    parser.add_argument("--bmxnet-v1", choices=("auto", "yes", "no"), default="auto",
                        help="treat the input as a BMXNet v1 model (default: auto, by its operators)")
    parser.add_argument("--json", type=nonempty_path, metavar="FILE", default=None,
                        help="also write the report as JSON (default: none)")
    meta = parser.add_argument_group(
        "input convention and class names recorded in the output (default: from the training run's args.json "
        "beside the symbol, or BMXNet v1's convention; docs/converter.md)")
    meta.add_argument("--mean", type=comma_list(finite_float), default=None,
                      help="per-channel (or one) mean, e.g. 0.485,0.456,0.406")
    meta.add_argument("--std", type=comma_list(finite_float), default=None,
                      help="per-channel (or one) std, e.g. 0.229,0.224,0.225")
    meta.add_argument("--scale", type=positive_float, default=None,
                      help="pixel multiplier before mean/std: 0.00392156862745098 (1/255) for [0, 1], 1 for 0..255")
    meta.add_argument("--labels", default=None, metavar="FILE|SET",
                      help="class names: a file with one per line, or one of imagenet1k, cifar10, digits")
    return parser.parse_args(argv)


def _metadata_flags(args):
    """The metadata fields the flags replace (an empty dict without flags)."""
    from bmxnet_ext import model_metadata

    fields = {"mean": args.mean, "std": args.std, "scale": args.scale}
    if args.labels in model_metadata.LABEL_SETS:
        fields["labels"] = model_metadata.label_set(args.labels)
    elif args.labels:
        try:
            fields["labels"] = model_metadata.read_labels_file(args.labels)
        except OSError as err:
            raise ToolError(f"--labels {args.labels!r} is neither a readable file ({err.strerror}) nor one of "
                            f"{', '.join(model_metadata.LABEL_SETS)}") from None
    return {k: v for k, v in fields.items() if v is not None}


def _is_v1(symbol_file):
    try:
        with open(symbol_file, encoding="utf-8") as f:
            nodes = json.load(f).get("nodes", [])
    except (OSError, ValueError, AttributeError):
        return False  # convert_files reports the unreadable file
    return any(n.get("op") in ("QConvolution", "QFullyConnected") for n in nodes if isinstance(n, dict))


def _check_paths(args):
    """Every output path is usable and distinct from the inputs, checked before any work."""
    if args.json:
        out = os.path.abspath(args.output_dir)
        if os.path.abspath(args.json) == out or os.path.abspath(args.json).startswith(out + os.sep):
            raise UsageError(f"--json {args.json!r} lies inside the output folder {args.output_dir!r}, which is "
                             "replaced as a whole: write the report elsewhere")
        check_output_parent(args.json)


def main(argv=None):
    return run(PROG, _main, argv)


def _main(argv):
    args = parse_args(argv)
    _check_paths(args)
    v1 = args.bmxnet_v1 == "yes" or (args.bmxnet_v1 == "auto" and _is_v1(args.symbol_file))
    convert = convert_bmxnet_v1 if v1 else convert_files
    report = convert(args.symbol_file, args.params_file, output_dir=args.output_dir,
                     input_shape=args.input_shape, exact=args.exact, overwrite=args.force,
                     output_format=args.format, prefix=args.prefix, metadata=_metadata_flags(args), fuse=args.fuse)
    print(report.format())
    if args.json:
        write_text(args.json, json.dumps(report.as_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
