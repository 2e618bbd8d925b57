"""Clipping threshold sweep (paper Fig. 4a): accuracy of a binary ResNet as ``t_clip`` varies.

The straight-through estimator passes a gradient only where ``|x| <= t_clip``. The paper swept [0.1, 2.0] on
ImageNet ResNet-18 and found the optimum between 0.5 and 0.75 (1.0, the common choice, was suboptimal).
"""
from bmxnet_ext.cli import comma_list, positive_float

from .common import add_protocol_arguments, error_bars, run_variants, write_report
from .models import small_resnet

NAME = "clip"


def add_arguments(parser):
    parser.add_argument("--thresholds", type=comma_list(positive_float),
                        default=[0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
                        help="t_clip values (default: 0.1,0.25,0.5,0.75,1.0,1.5,2.0)")
    add_protocol_arguments(parser, epochs=8)


def run(args):
    variants = [(f"t_clip={t:g}", {"model": small_resnet(), "clip_threshold": t}) for t in args.thresholds]
    rows = run_variants(args, NAME, variants)
    write_report(args, NAME, title="Binary ResNet: clipping threshold of the STE (paper Fig. 4a)",
                 description="Binary ResNet (3 stages x 1 unit, widths 32/64/128, full-precision stem and "
                             "classifier), W1A1, `det_sign`, no scaling; only `t_clip` changes.",
                 rows=rows, plot=lambda ax, r: error_bars(ax, r, x=args.thresholds, xlabel="t_clip"))
    return rows
