"""Print a zoo model's summary: ``python -m tools.summary resnet18 [--input-shape 1,3,224,224]``.

Per layer: type, output shape, bits, parameters and MACs by precision, packed memory; then the totals
(parameters, binary vs full precision, float and packed model size, compression ratio, binary MAC share).
"""
import argparse
import json
import sys

from bmxnet_ext.atomic import check_output_parent, write_text
from bmxnet_ext.cli import ArgumentParser, ToolError, int_in_range, nonempty_path, positive_int, run, shape
from bmxnet_ext.summary import summary
from model_zoo import default_input_shape, get_model, list_models

PROG = "python -m tools.summary"


def parse_args(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=str.lower, choices=list_models(), metavar="model",
                        help=f"zoo model name, one of: {', '.join(list_models())}")
    parser.add_argument("--input-shape", type=shape, default=None,
                        help="input batch shape N,C,H,W (default: the model's own, e.g. 1,3,224,224)")
    parser.add_argument("--bits", type=_bits, default=1, help="weight bits of the quantized layers (default: 1)")
    parser.add_argument("--bits-a", type=_bits, default=None, help="activation bits (default: --bits)")
    parser.add_argument("--classes", type=positive_int, default=None,
                        help="output classes (default: the model's own)")
    parser.add_argument("--json", type=nonempty_path, metavar="FILE", default=None,
                        help="also write the totals as JSON to FILE (default: none)")
    return parser.parse_args(argv)


_bits = int_in_range(1, 32)


def totals(result):
    """The summary's totals as a JSON-serializable dict."""
    return {
        "input_shape": list(result.input_shape),
        "total_params": result.total_params,
        "binary_params": result.binary_params,
        "fp_params": result.fp_params,
        "params_by_bits": {str(bits): n for bits, n in sorted(result.params_by_bits.items())},
        "batchnorm_state": result.state_params,
        "float_bytes": result.float_bytes,
        "packed_bytes": result.packed_bytes,
        "float_mib": result.float_mib,
        "packed_mib": result.packed_mib,
        "compression_ratio": result.compression_ratio,
        "macs_by_bits": {str(bits): n for bits, n in sorted(result.macs_by_bits.items())},
        "binary_mac_share": result.binary_mac_share,
    }


def _main(argv):
    args = parse_args(argv)
    if args.json:
        check_output_parent(args.json)
    net = get_model(args.model, classes=args.classes, bits=args.bits, bits_a=args.bits_a)
    input_shape = args.input_shape or default_input_shape(args.model)
    try:  # a shape the model refuses fails here, before anything is printed
        result = summary(net, input_shape, print_fn=None)
    except ValueError as err:
        if args.input_shape is None:
            raise
        default = ",".join(map(str, default_input_shape(args.model)))
        raise ToolError(f"--input-shape {','.join(map(str, input_shape))}: {err} ({args.model}'s own input shape is "
                        f"{default}: give that, or leave the flag out)") from None
    print(f"{args.model} (bits={args.bits}, bits_a={args.bits_a or args.bits}), input {input_shape}")
    print(result.table())
    if args.json:
        write_text(args.json, json.dumps(dict(model=args.model, **totals(result)), indent=2) + "\n")
    return 0


def main(argv=None):
    return run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
