"""Deep dream (Mordvintsev et al., 2015; the paper's Fig. 5): gradient ascent on the input image.

Objectives (``parse_objective``):

- ``class:K`` (or ``class:NAME`` for a model with class names): the logit ``y_K``;
- ``layer:NAME``: ``mean(A^2)`` of layer ``NAME``'s output ``A`` (DeepDream's L2 objective);
- ``filter:NAME:F``: ``mean(A[:, F])``, the mean activation of filter ``F``.

Each step shifts the image by a random ``(dy, dx)`` in ``[-jitter, jitter]`` (cyclically), takes the gradient
``g`` of the objective with respect to the image ``x`` (values in [0, 1], through the model's input
normalisation and, in a binary network, through every sign by the straight-through estimator), shifts it
back and updates ``x <- clip(x + step_size * g / mean|g|, 0, 1)``. Octaves work coarse to fine: octave
``o`` of ``n`` optimises the image at ``1 / octave_scale^(n-1-o)`` of the input size (bilinearly upscaled to
the input inside the graph, so fixed-size networks such as LeNet work too); between octaves the detail
gained is upscaled and added to the start image at the next size. The start image is uniform noise in
[0.4, 0.6] drawn from ``seed``, or a given image; equal seeds give equal results.
"""
from dataclasses import dataclass

import cv2
import mxnet as mx
import numpy as np
from tqdm import tqdm

from .graph import Probe, find_layers, stage_layers

__all__ = ["Objective", "Dream", "parse_objective", "deep_dream"]


@dataclass(frozen=True)
class Objective:
    """What deep dream maximises: ``kind`` ``class`` / ``layer`` / ``filter``, a ``layer`` name, an ``index``."""

    kind: str
    layer: str = None
    index: int = None

    def describe(self, model):
        if self.kind == "class":
            return f"class {model.class_name(self.index)}" if model.class_names else f"class {self.index}"
        return f"{self.layer}" if self.kind == "layer" else f"{self.layer} filter {self.index}"


@dataclass
class Dream:
    """The result: ``image`` ``(H, W, C)`` in [0, 1] and the objective's value before each step."""

    image: np.ndarray
    objective: list
    description: str


def parse_objective(text, model):
    """``"class:K"``, ``"class:NAME"``, ``"layer:NAME"``, ``"layer"`` (deepest stage), ``"filter:NAME:F"`` ->
    :class:`Objective` checked against ``model`` (errors list the valid classes, layers or filters)."""
    kind, _, rest = text.partition(":")
    if kind == "class":
        classes = model.class_names or ()
        if rest in classes:
            return Objective("class", index=classes.index(rest))
        if not rest.isdigit():
            raise ValueError(f"Expected `class:K` with a class index{' or a class name' if classes else ''}, got "
                             f"{text!r}.")
        return Objective("class", index=int(rest))
    if kind in ("layer", "filter"):
        name, _, index = rest.rpartition(":") if kind == "filter" else (rest, "", "")
        layer = find_layers(model.layers, [name])[0] if name else stage_layers(model.layers)[-1]
        if kind == "layer":
            return Objective("layer", layer.name)
        channels = layer.shape[1]
        if not index.isdigit() or int(index) >= channels:
            raise ValueError(f"Expected `filter:LAYER:F` with F in [0, {channels}) for layer {layer.name!r}, got "
                             f"{text!r}.")
        return Objective("filter", layer.name, int(index))
    raise ValueError(f"Expected an objective 'class:K', 'layer:NAME' or 'filter:NAME:F', got {text!r}.")


def _resize(image, size):
    """``(C, H, W)`` -> ``(C, size[0], size[1])``, bilinear."""
    return np.stack([cv2.resize(channel, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) for channel in image])


def deep_dream(model, *, objective, image=None, steps=20, step_size=0.02, octaves=1, octave_scale=1.4, jitter=1,
               seed=0, progress=False):
    """Maximise ``objective`` (an :class:`Objective` or its text) by gradient ascent on the input image.

    ``image`` ``(H, W, C)`` in [0, 1] starts the ascent (default: noise from ``seed``). Returns a
    :class:`Dream`. ``progress`` shows a tqdm bar over the ``octaves * steps`` steps.
    """
    if isinstance(objective, str):
        objective = parse_objective(objective, model)
    if steps < 1 or octaves < 1 or step_size <= 0 or octave_scale < 1 or jitter < 0:
        raise ValueError(f"Expected steps >= 1, octaves >= 1, step_size > 0, octave_scale >= 1 and jitter >= 0, "
                         f"got {steps}, {octaves}, {step_size}, {octave_scale}, {jitter}.")
    rng = np.random.default_rng(seed)
    channels, height, width = model.input_shape
    base = (model.fit(image).transpose(2, 0, 1) if image is not None else
            rng.uniform(0.4, 0.6, size=(channels, height, width))).astype(np.float32)
    layers = [] if objective.kind == "class" else find_layers(model.layers, [objective.layer])
    probe = Probe(model.net, layers)
    sizes = [(max(1, round(height / octave_scale ** k)), max(1, round(width / octave_scale ** k)))
             for k in reversed(range(octaves))]
    history, detail = [], np.zeros((channels,) + sizes[0], dtype=np.float32)
    with tqdm(total=octaves * steps, desc=f"deep dream {objective.describe(model)}", disable=not progress,
              leave=False) as bar:
        for size in sizes:
            start = _resize(base, size)
            current = np.clip(start + _resize(detail, size), 0.0, 1.0)
            for _ in range(steps):
                shift = tuple(int(s) for s in rng.integers(-jitter, jitter + 1, size=2))
                gradient, value = _gradient(model, probe, objective, np.roll(current, shift, axis=(1, 2)))
                gradient = np.roll(gradient, (-shift[0], -shift[1]), axis=(1, 2))
                current = np.clip(current + step_size * gradient / (np.abs(gradient).mean() + 1e-12), 0.0, 1.0)
                history.append(value)
                bar.update(1)
            detail = current - start
    return Dream(current.transpose(1, 2, 0), history, objective.describe(model))


def _gradient(model, probe, objective, image):
    """``(d objective / d image, objective)`` at ``image`` ``(C, h, w)``, upscaled to the input inside the graph."""
    channels, height, width = model.input_shape
    pixels = mx.nd.array(image[None])
    pixels.attach_grad()
    with mx.autograd.record(train_mode=False):
        full = pixels if image.shape[1:] == (height, width) else \
            mx.nd.contrib.BilinearResize2D(pixels, height=height, width=width)
        logits, maps, _ = probe.forward(model.normalize(full))
        if objective.kind == "class":
            if objective.index >= logits.shape[1]:
                raise ValueError(f"Expected a class index in [0, {logits.shape[1]}), got {objective.index}.")
            value = logits[0, objective.index]
        elif objective.kind == "layer":
            value = (maps[0] ** 2).mean()
        else:
            value = maps[0][0, objective.index].mean()
    value.backward()
    return pixels.grad[0].asnumpy(), float(value.asscalar())
