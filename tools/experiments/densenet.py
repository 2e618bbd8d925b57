"""Growth rate vs blocks (paper Fig. 3): binary DenseNets with ``k * b`` constant.

The paper compared DenseNet-13/21/37/69 (k = 256/128/64/32, b = 1/2/4/8) on ImageNet: more, thinner blocks
gave a 31 % smaller model for about 1 point of accuracy. Here the same family at MNIST scale.
"""
import argparse

from bmxnet_ext.cli import comma_list, positive_int

from .common import add_protocol_arguments, run_variants, write_report
from .models import small_densenet

NAME = "densenet"


def _pair(text):
    """argparse type: ``KxB``, growth rate and blocks per unit, both positive."""
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected growth x blocks like 16x2, got {text!r}")
    return tuple(positive_int(v) for v in parts)


def add_arguments(parser):
    parser.add_argument("--configs", type=comma_list(_pair), default=[(32, 1), (16, 2), (8, 4), (4, 8)],
                        help="growth x blocks pairs (default: 32x1,16x2,8x4,4x8)")
    add_protocol_arguments(parser, epochs=8)


def _plot(ax, rows):
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.errorbar([r["parameters"] for r in rows], [100 * r["mean"] for r in rows],
                yerr=[100 * r["std"] for r in rows], marker="o", linestyle="none", capsize=4)
    for r in rows:
        ax.annotate(r["label"], (r["parameters"], 100 * r["mean"]), textcoords="offset points", xytext=(4, 4),
                    fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value / 1e3:,.0f}k"))
    ax.margins(x=0.15)
    ax.set_xlabel("parameters")
    ax.set_ylabel("eval accuracy (%)")


def run(args):
    variants = [(f"k={k}, b={b} (n={8 * b + 5})", {"model": small_densenet(k, b)}) for k, b in args.configs]
    rows = run_variants(args, NAME, variants)
    write_report(args, NAME, title="Binary DenseNet: growth rate k vs blocks per unit b (paper Fig. 3)",
                 description="Binary DenseNets without bottleneck or compression, CIFAR-style stem of 2k "
                             "filters, four units of b blocks (n = 8b + 5 layers), W1A1, t_clip 0.5.",
                 rows=rows, plot=_plot)
    return rows
