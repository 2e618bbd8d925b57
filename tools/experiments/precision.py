"""Binary vs full precision: the same LeNet with 1-bit, k-bit and 32-bit weights and activations.

The paper's binary LeNet reached 99.3 % on MNIST (Table 2) and its Section 5 reports k-bit results; this
experiment puts W1A1, W2A2 and W32A32 of one architecture side by side under one protocol.
"""
import argparse
import re

from bmxnet_ext.cli import comma_list

from .common import add_protocol_arguments, error_bars, run_variants, write_report

NAME = "precision"


def _precision(text):
    """argparse type: ``W<bits>A<bits>`` with bits 1..32, e.g. ``W2A2``."""
    match = re.fullmatch(r"w?(\d+)a(\d+)", text.lower())
    if not match or not all(1 <= int(b) <= 32 for b in match.groups()):
        raise argparse.ArgumentTypeError(f"expected W<bits>A<bits> with bits 1..32 like W2A2, got {text!r}")
    return tuple(int(b) for b in match.groups())


def add_arguments(parser):
    parser.add_argument("--precisions", type=comma_list(_precision), default=[(1, 1), (2, 2), (32, 32)],
                        help="weight/activation bits as W<b>A<b> (default: W1A1,W2A2,W32A32)")
    add_protocol_arguments(parser, epochs=10, lr=1e-3)


def run(args):
    variants = [(f"W{w}A{a}", {"model": "lenet", "bits": w, "bits_a": a}) for w, a in args.precisions]
    rows = run_variants(args, NAME, variants)
    write_report(args, NAME, title="LeNet: binary vs k-bit vs full precision",
                 description="The zoo's LeNet (BMXNet v1's binarized MNIST network); first and last layers "
                             "always full precision; the 32-bit twin uses ReLU where the binary net has sign.",
                 rows=rows, plot=lambda ax, r: error_bars(ax, r, xlabel="precision"))
    return rows
