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
    """PNG of loss and accuracy per epoch (train and eval) from a run's ``history``; written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for split in ("train", "eval"):
        loss_ax.plot(epochs, [h[f"{split}_loss"] for h in history], marker="o", label=split)
        acc_ax.plot(epochs, [100 * h[f"{split}_accuracy"] for h in history], marker="o", label=split)
    loss_ax.set(xlabel="epoch", ylabel="cross entropy", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure_atomically(fig, path)
    plt.close(fig)
    return path


def save_figure_atomically(fig, path):
    """``fig.savefig`` as PNG, written atomically."""
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
