"""Masks of the input pixels that drive a prediction: VisualBackProp, Grad-CAM, input-gradient saliency.

Each method takes a :class:`~tools.visualize.models.VisualModel` and one image ``(H, W, C)`` with values in
[0, 1] (any size: the model crops and resizes it to its input) and returns an :class:`Explanation` whose
``mask`` has the input's spatial shape ``(H', W')`` and values in [0, 1] (min-max normalised; a constant map
becomes zeros).

- :func:`visual_backprop` (Bojarski et al., 2016, the paper's Fig. 6): average each stage's feature maps over
  channels, ``a_s = mean_c A_s``, min-max normalise each, then from the deepest stage up
  ``m <- upscale(m, size(a_s)) * a_s``; finally upscale ``m`` to the input. Stages: one layer per
  resolution (:func:`~tools.visualize.graph.stage_layers`) or the named layers. Forward pass only.
  Upscaling is bilinear, a simplification: the original upscales with a deconvolution whose kernel is all
  ones, of each layer's kernel size and stride.
- :func:`grad_cam` (Selvaraju et al., 2017): ``w_c = mean_{h,w} dy_t / dA_c`` at one layer (default the
  deepest stage), ``m = ReLU(sum_c w_c A_c)``, upscaled. In a binary network the gradient passes every sign
  through the straight-through estimator (zero where ``|x| > t_clip``).
- :func:`saliency` (Simonyan et al., 2014): ``m = max_c |dy_t / dx_c|`` at the input pixels.

``y_t`` is the logit of the target class (default: the predicted one).
"""
from dataclasses import dataclass

import cv2
import mxnet as mx
import numpy as np

from .graph import Probe, find_layers, stage_layers

__all__ = ["Explanation", "visual_backprop", "grad_cam", "saliency", "METHODS", "normalize01", "upscale"]


@dataclass
class Explanation:
    """A mask for one image: ``image`` ``(H, W, C)`` as the model saw it, ``mask`` ``(H, W)`` in [0, 1], the
    predicted class and its softmax probability, the explained ``target`` class and the ``layers`` used."""

    image: np.ndarray
    mask: np.ndarray
    predicted: int
    probability: float
    target: int
    layers: tuple


def normalize01(values):
    """Min-max normalisation to [0, 1]; a constant array becomes zeros."""
    values = np.asarray(values, dtype=np.float64)
    span = values.max() - values.min()
    return ((values - values.min()) / span if span > 0 else np.zeros_like(values)).astype(np.float32)


def upscale(values, size):
    """Bilinear resize of a 2-D map to ``size = (H, W)``."""
    return cv2.resize(np.ascontiguousarray(values, dtype=np.float32), (size[1], size[0]),
                      interpolation=cv2.INTER_LINEAR)


def _prediction(logits):
    probabilities = mx.nd.softmax(logits).asnumpy()[0]
    predicted = int(probabilities.argmax())
    return predicted, probabilities


def visual_backprop(model, *, image, layers=None):
    """VisualBackProp mask of ``image`` (see the module docstring); ``layers``: names of the stage maps."""
    chosen = find_layers(model.layers, layers) if layers else stage_layers(model.layers)
    chosen = sorted(chosen, key=lambda layer: -layer.shape[2] * layer.shape[3])  # shallow (large) -> deep
    fitted = model.fit(image)
    logits, maps, _ = Probe(model.net, chosen).forward(model.normalize(model.batch([fitted])))
    averaged = [normalize01(m[0].mean(axis=0).asnumpy()) for m in maps]
    mask = averaged[-1]
    for shallower in reversed(averaged[:-1]):
        mask = upscale(mask, shallower.shape) * shallower
    mask = normalize01(upscale(mask, fitted.shape[:2]))
    predicted, probabilities = _prediction(logits)
    return Explanation(fitted, mask, predicted, float(probabilities[predicted]), predicted,
                       tuple(layer.name for layer in chosen))


def grad_cam(model, *, image, layer=None, target=None):
    """Grad-CAM mask of ``image`` at ``layer`` (default the deepest stage) for class ``target``."""
    chosen = find_layers(model.layers, [layer])[0] if layer else stage_layers(model.layers)[-1]
    fitted = model.fit(image)
    probe = Probe(model.net, [chosen], differentiable=True)
    with mx.autograd.record(train_mode=False):
        logits, (features,), (zero,) = probe.forward(model.normalize(model.batch([fitted])))
        predicted, probabilities = _prediction(logits)
        target = predicted if target is None else _checked_class(target, logits.shape[1])
        score = logits[0, target]
    score.backward()
    weights = zero.grad[0].mean(axis=(1, 2)).asnumpy()
    cam = np.maximum(np.tensordot(weights, features[0].asnumpy(), axes=1), 0.0)
    mask = normalize01(upscale(cam, fitted.shape[:2]))
    return Explanation(fitted, mask, predicted, float(probabilities[predicted]), target, (chosen.name,))


def saliency(model, *, image, target=None):
    """Input-gradient saliency ``max_c |dy_t / dx_c|`` of ``image`` for class ``target``."""
    fitted = model.fit(image)
    pixels = model.batch([fitted])
    pixels.attach_grad()
    with mx.autograd.record(train_mode=False):
        logits, _, _ = Probe(model.net, []).forward(model.normalize(pixels))
        predicted, probabilities = _prediction(logits)
        target = predicted if target is None else _checked_class(target, logits.shape[1])
        score = logits[0, target]
    score.backward()
    mask = normalize01(np.abs(pixels.grad[0].asnumpy()).max(axis=0))
    return Explanation(fitted, mask, predicted, float(probabilities[predicted]), target, ())


def _checked_class(target, classes):
    if not 0 <= target < classes:
        raise ValueError(f"Expected a target class in [0, {classes}), got {target}.")
    return target


METHODS = {"visual-backprop": visual_backprop, "grad-cam": grad_cam, "saliency": saliency}
"""The mask methods by their command-line name."""
