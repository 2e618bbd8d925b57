"""Bottleneck vs basic units (paper Table 3): bottlenecks hurt binary ResNets.

The paper's binary ResNet-26 bottleneck reached 25.2 % top-1 on ImageNet against 42.0 % for the basic
ResNet-18. Here the same widths with basic (3x3, 3x3) or bottleneck (1x1 w/4, 3x3 w/4, 1x1 w) units, binary
and, as a control, full precision (where bottlenecks are known to work).
"""
from .common import add_protocol_arguments, error_bars, run_variants, write_report
from .models import small_resnet

NAME = "bottleneck"


def add_arguments(parser):
    parser.add_argument("--with-float", action="store_true",
                        help="also train the full-precision twins as a control (default: off)")
    add_protocol_arguments(parser, epochs=8)


def run(args):
    precisions = [1, 32] if args.with_float else [1]
    variants = [(f"{'bottleneck' if b else 'basic'} W{p}A{p}",
                 {"model": small_resnet(bottleneck=b), "bits": p, "bits_a": p})
                for p in precisions for b in (False, True)]
    rows = run_variants(args, NAME, variants)
    write_report(args, NAME, title="ResNet units: basic vs bottleneck (paper Table 3)",
                 description="ResNet, 3 stages x 1 unit, widths 32/64/128; basic units (two 3x3) or bottleneck "
                             "units (1x1 to w/4, 3x3, 1x1 to w). Binary W1A1 (t_clip 0.5) unless marked W32A32.",
                 rows=rows, plot=lambda ax, r: error_bars(ax, r, xlabel="unit"))
    return rows
