"""What every experiment shares: the protocol flags, running a grid of trainings, and the report files.

An experiment is a list of *variants* (a label and the :func:`tools.train.train` settings that differ),
each trained once per seed under one protocol (dataset, epochs, batch size, optimizer, lr schedule). The
result of a run is its final-epoch accuracy on the held-out split (not the best epoch: no selection on the
evaluation data). The report gives the mean and standard deviation over seeds and every single value.
"""
import json
import os
import statistics

import numpy as np

from bmxnet_ext.atomic import write_text
from bmxnet_ext.cli import comma_list, non_negative_int, positive_float, positive_int
from tools.train import train
from tools.train.artifacts import save_figure_atomically
from tools.train.data import load_dataset

__all__ = ["add_protocol_arguments", "run_variants", "run_dir_for", "write_report", "error_bars", "count_parameters",
           "protocol_text"]

EXPERIMENT_DATASETS = ("digits", "mnist-test-split")


def add_protocol_arguments(parser, *, epochs, seeds=(0, 1), lr=2e-3, batch_size=64):
    """Flags of the training protocol, with the experiment's own defaults."""
    g = parser.add_argument_group("protocol")
    g.add_argument("--dataset", default="digits", choices=EXPERIMENT_DATASETS,
                   help="digits: offline, 1,437 train / 360 eval; mnist-test-split: the MNIST test split, "
                        "first 8,000 train / last 2,000 eval (default: digits)")
    g.add_argument("--data-dir", default=None, help="folder of the MNIST idx files (default: ../shared/...)")
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

    A row has ``label``, ``settings``-derived ``parameters``, ``accuracies`` (per seed), ``mean``, ``std``
    and ``seconds`` (mean training time per run).
    """
    splits = load_dataset(args.dataset, data_dir=args.data_dir)
    rows = []
    for label, settings in variants:
        accuracies, seconds, parameters = [], [], None
        for seed in args.seeds:
            run = train(run_dir=run_dir_for(args.out_dir, name, label, seed), dataset=args.dataset, splits=splits,
                        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed,
                        limit_batches=args.limit_batches, progress=False, resume=True, **settings)
            accuracies.append(run["history"][-1]["eval_accuracy"])
            seconds.append(sum(h["epoch_seconds"] for h in run["history"]))
            parameters = count_parameters(run["net"])
        rows.append({"label": label, "parameters": parameters, "accuracies": accuracies,
                     "mean": statistics.mean(accuracies),
                     "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
                     "seconds": statistics.mean(seconds)})
    return rows


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
    fig, ax = plt.subplots(figsize=(6, 4))
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
        ax.set_xticklabels([r["label"] for r in rows], rotation=15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("eval accuracy (%)")
