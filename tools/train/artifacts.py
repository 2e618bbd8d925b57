"""Files a finished run leaves behind: the exported model and the learning-curve plot."""
import os
import tempfile

from bmxnet_ext.atomic import TEMP_PREFIX, atomic_file

__all__ = ["export_model", "plot_learning_curves", "save_figure_atomically", "EXPORT_PREFIX", "PLOT_NAME"]

EXPORT_PREFIX = "model"
PLOT_NAME = "learning_curves.png"


def export_model(net, run_dir, *, prefix=EXPORT_PREFIX):
    """``net.export`` to ``<run_dir>/<prefix>-symbol.json`` and ``-0000.params``, both renamed into place.

    The net must be hybridized and have run forward once. Returns ``(symbol_file, params_file)``, the input of
    ``mx.gluon.SymbolBlock.imports`` and of the model converter.
    """
    tmp_dir = tempfile.mkdtemp(dir=run_dir, prefix=f"{TEMP_PREFIX}export-")
    try:
        net.export(os.path.join(tmp_dir, prefix), epoch=0)
        finals = []
        for suffix in ("-symbol.json", "-0000.params"):
            final = os.path.join(run_dir, prefix + suffix)
            os.replace(os.path.join(tmp_dir, prefix + suffix), final)
            finals.append(final)
    finally:
        for leftover in os.listdir(tmp_dir):
            os.unlink(os.path.join(tmp_dir, leftover))
        os.rmdir(tmp_dir)
    return tuple(finals)


def plot_learning_curves(history, path, *, title=""):
    """PNG of a run's ``history`` per epoch: loss and accuracy (train and eval), learning rate, and the flip
    ratio of the binary weights when the history records one; whole-number epoch ticks; written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    panels = ["loss", "accuracy", "lr"] + (["flip_ratio"] if all("flip_ratio" in h for h in history) else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    for ax, panel in zip(axes, panels):
        if panel in ("loss", "accuracy"):
            scale = 100 if panel == "accuracy" else 1
            for split in ("train", "eval"):
                ax.plot(epochs, [scale * h[f"{split}_{panel}"] for h in history], marker="o", label=split)
            ax.legend()
        else:
            ax.plot(epochs, [h[panel] for h in history], marker="o")
        ax.set(xlabel="epoch", ylabel=_AXIS_LABELS[panel], title=panel.replace("_", " "))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure_atomically(fig, path)
    plt.close(fig)
    return path


_AXIS_LABELS = {"loss": "cross entropy", "accuracy": "accuracy (%)", "lr": "learning rate (end of epoch)",
                "flip_ratio": "fraction of binary weights flipped"}


def save_figure_atomically(fig, path):
    """``fig.savefig`` as PNG, written atomically."""
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
