"""The figures, laid out like the paper's Fig. 5 and 6, written as PNG atomically (:mod:`bmxnet_ext.atomic`).

- :func:`explanation_figure`: one row per model; per image three panels, the image as the model saw it (with
  the predicted class), the mask (``viridis``, 0 to 1) and the overlay (the image under the mask coloured by
  ``jet`` at 50 %).
- :func:`dream_figure`: one row per model, one panel per objective.
"""
import io
import textwrap

import numpy as np

from bmxnet_ext.atomic import write_bytes

__all__ = ["explanation_figure", "dream_figure", "overlay"]

PANEL_INCHES = 1.35
DPI = 72
LABEL_WIDTH = 22


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rgb(image):
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def overlay(image, mask, alpha=0.5):
    """``(H, W, 3)`` in [0, 1]: ``image`` blended with ``mask`` coloured by the ``jet`` colour map."""
    from matplotlib import colormaps

    return (1 - alpha) * _rgb(image) + alpha * colormaps["jet"](mask)[..., :3]


def _save(fig, path, plt, title):
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight() if title else 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return path


def explanation_figure(rows, path, *, title=None, method=""):
    """PNG at ``path`` of ``rows``: ``[(model label, model, [Explanation, ...]), ...]``; returns ``path``."""
    plt = _pyplot()
    count = max(len(explanations) for _, _, explanations in rows)
    fig, axes = plt.subplots(len(rows), 3 * count, squeeze=False,
                             figsize=(3 * count * PANEL_INCHES + 0.9, len(rows) * PANEL_INCHES + 0.6))
    for r, (label, model, explanations) in enumerate(rows):
        for i, ex in enumerate(explanations):
            image_ax, mask_ax, overlay_ax = axes[r, 3 * i:3 * i + 3]
            image_ax.imshow(_rgb(ex.image), interpolation="nearest")
            image_ax.set_title(f"{model.class_name(ex.predicted)[:18]} {100 * ex.probability:.0f}%", fontsize=7)
            mask_ax.imshow(ex.mask, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
            overlay_ax.imshow(overlay(ex.image, ex.mask), interpolation="nearest")
            if r == 0:
                mask_ax.set_title(f"{method} mask" if i == 0 else "mask", fontsize=7)
                overlay_ax.set_title("overlay", fontsize=7)
        axes[r, 0].set_ylabel(textwrap.fill(label, LABEL_WIDTH), fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path, plt, title)


def dream_figure(rows, path, *, title=None):
    """PNG at ``path`` of ``rows``: ``[(model label, [Dream, ...]), ...]``; returns ``path``."""
    plt = _pyplot()
    count = max(len(dreams) for _, dreams in rows)
    fig, axes = plt.subplots(len(rows), count, squeeze=False,
                             figsize=(count * PANEL_INCHES + 0.9, len(rows) * PANEL_INCHES + 0.6))
    for r, (label, dreams) in enumerate(rows):
        for i, dream in enumerate(dreams):
            axes[r, i].imshow(_rgb(dream.image), interpolation="nearest")
            axes[r, i].set_title(dream.description[:22], fontsize=7)
        axes[r, 0].set_ylabel(textwrap.fill(label, LABEL_WIDTH), fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path, plt, title)
