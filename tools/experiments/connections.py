"""Dense vs residual connections at a matched parameter count (paper Table 4, the headline claim).

The paper's binary DenseNet-21 (k = 140, 11.5 M parameters) reached higher ImageNet accuracy than the binary
ResNet-18 (11.7 M), and DenseNet-45 than ResNet-68: at equal size, dense shortcuts keep more information
flowing past the binary convolutions than residual ones. Here the two families at MNIST scale, sized to match
within 3 %: the zoo's ResNet (3 stages x 1 unit, widths 32/64/128: 308,715 parameters) and a DenseNet-21 of
the same family as the paper's (b = 2, k = 24: 301,211 parameters).
"""
from .common import add_protocol_arguments, error_bars, run_variants, write_report
from .models import small_densenet, small_resnet

NAME = "connections"


def add_arguments(parser):
    parser.add_argument("--with-float", action="store_true",
                        help="also train the full-precision twins as a control (default: off)")
    add_protocol_arguments(parser, epochs=6, seeds=(0, 1, 2), dataset="mnist-test-split")


def run(args):
    precisions = [1, 32] if args.with_float else [1]
    variants = []
    for p in precisions:
        variants += [(f"ResNet W{p}A{p}", {"model": small_resnet(), "bits": p, "bits_a": p}),
                     (f"DenseNet-21 k=24 W{p}A{p}", {"model": small_densenet(24, 2), "bits": p, "bits_a": p})]
    rows = run_variants(args, NAME, variants)
    write_report(args, NAME, title="Dense vs residual shortcuts at matched size (paper Table 4)",
                 description="Binary ResNet (3 stages x 1 basic unit, widths 32/64/128) vs binary DenseNet-21 "
                             "(4 units of b = 2 blocks, growth k = 24, no compression), both with a CIFAR-style "
                             "full-precision stem and classifier, W1A1, t_clip 0.5, unless marked W32A32.",
                 rows=rows, plot=lambda ax, r: error_bars(ax, r, xlabel="architecture"))
    return rows
