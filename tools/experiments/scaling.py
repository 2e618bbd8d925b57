"""Scaling modes N / B / FB (paper Fig. 4b): does a weight scaling factor help a binary ResNet?

N: no scaling; B: ``alpha = mean |W|`` only in the backward pass; FB: ``alpha`` in forward and backward
(DoReFa). The paper found no gain from scaling on ImageNet ResNet-18.
"""
import argparse

from bmxnet_ext.cli import comma_list

from .common import add_protocol_arguments, error_bars, run_variants, write_report
from .models import small_resnet

NAME = "scaling"
MODES = {"N": "none", "B": "backward", "FB": "forward_backward"}


def _mode(text):
    """argparse type: a scaling mode name of :data:`MODES`."""
    if text not in MODES:
        raise argparse.ArgumentTypeError(f"expected modes among {','.join(MODES)}, got {text!r}")
    return text


def add_arguments(parser):
    parser.add_argument("--modes", type=comma_list(_mode), default=list(MODES),
                        help=f"modes among {','.join(MODES)} (default: all)")
    add_protocol_arguments(parser, epochs=8)


def run(args):
    variants = [(f"{m} ({MODES[m]})", {"model": small_resnet(), "scaling": MODES[m]}) for m in args.modes]
    rows = run_variants(args, NAME, variants)
    write_report(args, NAME, title="Binary ResNet: weight scaling modes (paper Fig. 4b)",
                 description="Binary ResNet (3 stages x 1 unit, widths 32/64/128), W1A1, t_clip 0.5; only the "
                             "scaling mode of the binary convolutions changes.",
                 rows=rows, plot=lambda ax, r: error_bars(ax, r, xlabel="scaling mode"))
    return rows
