"""Print a zoo model's summary: ``python -m tools.summary resnet18 [--input-shape 1,3,224,224]``.

Per layer: type, output shape, bits, parameters and MACs by precision, packed memory; then the totals
(parameters, binary vs full precision, float and packed model size, compression ratio, binary MAC share).
"""
import argparse
import sys

from bmxnet_ext.summary import summary
from model_zoo import default_input_shape, get_model, list_models
from tools.benchmark.__main__ import write_json_atomically


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.summary", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help=f"zoo model name, one of: {', '.join(list_models())}")
    parser.add_argument("--input-shape", type=_shape, default=None,
                        help="input batch shape N,C,H,W (default: the model's own, e.g. 1,3,224,224)")
    parser.add_argument("--bits", type=int, default=1, help="weight bits of the quantized layers (default: 1)")
    parser.add_argument("--bits-a", type=int, default=None, help="activation bits (default: --bits)")
    parser.add_argument("--classes", type=int, default=None, help="output classes (default: the model's own)")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the totals as JSON to FILE (default: none)")
    return parser.parse_args(argv)


def _shape(text):
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,3,224,224, got {text!r}")
    if not shape or min(shape) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive dimensions, got {text!r}")
    return shape


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


def main(argv=None):
    args = parse_args(argv)
    try:
        net = get_model(args.model, classes=args.classes, bits=args.bits, bits_a=args.bits_a)
        shape = args.input_shape or default_input_shape(args.model)
        print(f"{args.model} (bits={args.bits}, bits_a={args.bits_a or args.bits}), input {shape}")
        result = summary(net, shape)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        write_json_atomically(args.json, dict(model=args.model, **totals(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
