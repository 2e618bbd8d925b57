"""Plot each registered quantizer's forward value and pseudo-gradient: ``python -m tools.plot_quantizers [DIR]``.

For every quantizer of :data:`bmxnet_ext.quantizers.REGISTRY` with its default arguments (``dorefa`` in both
modes), evaluates ``q(x)`` and ``d q(x) / d x`` (MXNet autograd, the gradient of ``sum q(x)``) on
``x`` in [-2, 2], fed as one output channel of shape (1, 4001), and writes ``DIR/<name>.png`` (default
``docs/quantizers``), each written atomically. ``docs/quantizers.md`` shows them.
"""
import argparse
import os

import numpy as np

from bmxnet_ext.atomic import atomic_file, check_output_parent
from bmxnet_ext.cli import ArgumentParser, run

PROG = "python -m tools.plot_quantizers"
DEFAULT_DIR = os.path.join("docs", "quantizers")


def cases():
    """``(file name, title, quantizer)`` for every plot."""
    from bmxnet_ext import quantizers

    out = []
    for name in sorted(quantizers.REGISTRY):
        if name == "dorefa":
            for mode in quantizers.DoReFa.MODES:
                q = quantizers.DoReFa(mode=mode)
                out.append((f"dorefa_{mode}", repr(q), q))
        else:
            q = quantizers.get(name)
            out.append((name, repr(q), q))
    return out


def evaluate(quantizer, x):
    """``(q(x), d sum q(x) / dx)`` for a 1-d NumPy ``x``, as one output channel."""
    import mxnet as mx
    from mxnet import autograd

    xs = mx.nd.array(x.reshape(1, -1))
    xs.attach_grad()
    with autograd.record():
        y = quantizer(mx.nd, xs)
    y.backward()
    return y.asnumpy().ravel(), xs.grad.asnumpy().ravel()


def plot(path, title, x, y, grad):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 4.2), sharex=True)
    top.plot(x, y, color="tab:blue")
    top.set_ylabel("forward q(x)")
    top.set_title(title, fontsize=9)
    bottom.plot(x, grad, color="tab:red")
    bottom.set_ylabel("pseudo-gradient")
    bottom.set_xlabel("x")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.axvline(0, color="gray", lw=0.5)
    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=80)
    plt.close(fig)


def main(argv=None):
    parser = ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", nargs="?", default=DEFAULT_DIR, help=f"output folder (default: {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    check_output_parent(args.out_dir, folder=True)
    os.makedirs(args.out_dir, exist_ok=True)
    x = np.linspace(-2, 2, 4001).astype(np.float32)
    for file_name, title, quantizer in cases():
        y, grad = evaluate(quantizer, x)
        path = os.path.join(args.out_dir, f"{file_name}.png")
        plot(path, title, x, y, grad)
        print(path)


if __name__ == "__main__":
    raise SystemExit(run(PROG, main))
