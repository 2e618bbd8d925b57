"""What every experiment shares: the protocol flags, running a grid of trainings, and the report files.

An experiment is a list of *variants* (a label and the :func:`tools.train.train` settings that differ),
each trained once per seed under one protocol (dataset, epochs, batch size, optimizer, lr schedule). The
result of a run is its final-epoch accuracy on the held-out split (not the best epoch: no selection on the
evaluation data). The report gives the mean and standard deviation over seeds and every single value.
"""
import json
import os
import statistics
import sys
import time

import numpy as np

from bmxnet_ext.atomic import write_text
from bmxnet_ext.cli import comma_list, non_negative_int, nonempty_path, positive_float, positive_int
from tools.train import train
from tools.train.artifacts import save_figure_atomically
from tools.train.data import load_dataset
from tools.train.run_dir import holds_run

__all__ = ["add_protocol_arguments", "apply_quick", "Progress", "run_variants", "run_dir_for", "write_report",
           "error_bars", "count_parameters", "protocol_text"]

EXPERIMENT_DATASETS = ("digits", "mnist-test-split")
QUICK = {"epochs": 2, "limit_batches": 25}
"""What ``--quick`` shortens the protocol to (besides keeping only the first seed)."""


def apply_quick(args):
    """Shorten ``args``' protocol in place when ``--quick`` is set (never lengthen it)."""
    if args.quick:
        args.epochs = min(args.epochs, QUICK["epochs"])
        args.limit_batches = min(args.limit_batches or QUICK["limit_batches"], QUICK["limit_batches"])
        args.seeds = args.seeds[:1]
    return args


def add_protocol_arguments(parser, *, epochs, seeds=(0, 1), lr=2e-3, batch_size=64, dataset="digits"):
    """Flags of the training protocol, with the experiment's own defaults."""
    g = parser.add_argument_group("protocol")
    g.add_argument("--dataset", default=dataset, choices=EXPERIMENT_DATASETS,
                   help="digits: offline, 1,437 train / 360 eval; mnist-test-split: the MNIST test split, "
                        f"first 8,000 train / last 2,000 eval (default: {dataset})")
    g.add_argument("--quick", action="store_true",
                   help=f"a preview in a few minutes: {QUICK['epochs']} epochs of at most {QUICK['limit_batches']} "
                        "batches, the first seed only (default: off, the full protocol)")
    g.add_argument("--data-dir", type=nonempty_path, default=None,
                   help="folder of the MNIST idx files (default: $BMXNET_MNIST_DIR or ../shared/data/mnist-test)")
    g.add_argument("--epochs", type=positive_int, default=epochs, help=f"epochs per run (default: {epochs})")
    g.add_argument("--seeds", type=comma_list(non_negative_int), default=list(seeds),
                   help=f"comma-separated seeds, one run each (default: {','.join(map(str, seeds))})")
    g.add_argument("--batch-size", type=positive_int, default=batch_size, help=f"batch size (default: {batch_size})")
    g.add_argument("--lr", type=positive_float, default=lr, help=f"Adam learning rate, cosine schedule (default: {lr})")
    g.add_argument("--limit-batches", type=positive_int, default=None,
                   help="batches per epoch, for smoke tests (default: all)")
    g.add_argument("--out-dir", default="experiments", help="output folder (default: experiments)")


def count_parameters(net):
    """Trainable parameters plus BatchNorm gamma/beta, excluding running statistics (DESIGN.md convention)."""
    return int(sum(np.prod(p.shape) for p in net.collect_params().values() if p.grad_req != "null"))


def protocol_text(args):
    """One paragraph stating data, epochs, seeds and optimisation of ``args``."""
    data = {"digits": "scikit-learn's handwritten digits upscaled to 28x28 (fixed split: 1,437 train, 360 eval)",
            "mnist-test-split": "the official MNIST test split (first 8,000 digits train, last 2,000 evaluate)"}
    limit = f", at most {args.limit_batches} batches per epoch" if args.limit_batches else ""
    return (f"Data: {data[args.dataset]}. Each variant trains {args.epochs} epochs{limit} with Adam (lr "
            f"{args.lr:g}, cosine schedule, batch {args.batch_size}, no weight decay on binary weights) once per "
            f"seed in {args.seeds}; the score is the final-epoch accuracy on the evaluation split "
            f"(mean +- standard deviation over seeds).")


def run_variants(args, name, variants):
    """Train every ``(label, settings)`` of ``variants`` once per seed; returns one row per variant.

    A run folder that already holds a run is resumed (a finished one is reused as it is), so an interrupted
    study continues where it stopped.

    A row has ``label``, ``settings``-derived ``parameters``, ``accuracies`` (per seed), ``mean``, ``std``
    and ``seconds`` (mean training time per run).
    """
    splits = load_dataset(args.dataset, data_dir=args.data_dir)
    rows, progress = [], Progress(len(variants) * len(args.seeds), name)
    for label, settings in variants:
        accuracies, seconds, parameters = [], [], None
        for seed in args.seeds:
            progress.start(f"{label}, seed {seed}")
            run_dir = run_dir_for(args.out_dir, name, label, seed)
            run = train(run_dir=run_dir, dataset=args.dataset, splits=splits, epochs=args.epochs,
                        batch_size=args.batch_size, lr=args.lr, seed=seed, limit_batches=args.limit_batches,
                        progress=True, resume=holds_run(run_dir), **settings)
            accuracies.append(run["history"][-1]["eval_accuracy"])
            seconds.append(sum(h["epoch_seconds"] for h in run["history"]))
            parameters = count_parameters(run["net"])
            progress.done(f"eval accuracy {100 * accuracies[-1]:.2f} %")
        rows.append({"label": label, "parameters": parameters, "accuracies": accuracies,
                     "mean": statistics.mean(accuracies),
                     "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
                     "seconds": statistics.mean(seconds)})
    return rows


class Progress:
    """One line per run on stderr, whether or not it is a terminal: ``[3/14] clip: t_clip=0.5, seed 1`` when it
    starts, and when it ends its result, the time so far and an estimate of the time left (mean time of the
    runs done so far times the runs left; runs reused from an earlier invocation count as instant)."""

    def __init__(self, total, name, stream=None):
        self.total, self.name, self.count = total, name, 0
        self.stream = stream or sys.stderr
        self.began = self.run_began = time.time()

    def start(self, what):
        self.count += 1
        self.run_began = time.time()
        print(f"[{self.count}/{self.total}] {self.name}: {what} ...", file=self.stream, flush=True)

    def done(self, result):
        now = time.time()
        elapsed = now - self.began
        left = elapsed / self.count * (self.total - self.count)
        print(f"[{self.count}/{self.total}] {result} in {_duration(now - self.run_began)}; {_duration(elapsed)} "
              f"elapsed, about {_duration(left)} left", file=self.stream, flush=True)


def _duration(seconds):
    """``42 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def run_dir_for(out_dir, name, label, seed):
    """The run folder of variant ``label`` of experiment ``name`` with ``seed``: train.log, log.jsonl, export."""
    slug = "".join(c if c.isalnum() or c in "-." else "_" for c in label)
    return os.path.join(out_dir, "runs", name, f"{slug}-seed{seed}")


def write_report(args, name, *, title, description, rows, plot):
    """Write ``<out>/<name>.md`` (protocol + table), ``<name>.json`` (rows) and ``<name>.png``.

    ``plot(ax, rows)`` draws on a matplotlib axis. Returns the markdown text.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out_dir, exist_ok=True)
    lines = [f"# {title}", "", description, "", f"**Protocol.** {protocol_text(args)}", "",
             "| variant | parameters | accuracy (%) | per seed (%) | train s / run |", "|---|---:|---:|---|---:|"]
    for r in rows:
        per_seed = ", ".join(f"{100 * a:.2f}" for a in r["accuracies"])
        lines.append(f"| {r['label']} | {r['parameters']:,} | {100 * r['mean']:.2f} +- {100 * r['std']:.2f} | "
                     f"{per_seed} | {r['seconds']:.1f} |")
    text = "\n".join(lines) + "\n"
    write_text(os.path.join(args.out_dir, f"{name}.md"), text)
    write_text(os.path.join(args.out_dir, f"{name}.json"), json.dumps(rows, indent=1) + "\n")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot(ax, rows)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure_atomically(fig, os.path.join(args.out_dir, f"{name}.png"))
    plt.close(fig)
    return text


def error_bars(ax, rows, *, x=None, xlabel=""):
    """Mean accuracy with standard-deviation bars per variant (at ``x``, or evenly spaced with labels)."""
    positions = list(range(len(rows))) if x is None else x
    ax.errorbar(positions, [100 * r["mean"] for r in rows], yerr=[100 * r["std"] for r in rows], marker="o",
                capsize=4)
    if x is None:
        ax.set_xticks(positions)
        ax.set_xticklabels([r["label"] for r in rows], rotation=20, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(rows) - 0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("eval accuracy (%)")
