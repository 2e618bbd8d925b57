"""Models to visualize, each with its own input convention: zoo models, ``bmxnet-train`` run folders, BMXNet v1.

A :class:`VisualModel` is a network plus what it takes to feed it an image: the input shape ``(C, H, W)``
and the map from an image with values in [0, 1] to the network's input,

    input = (image * pixel_scale - mean) / std        (per channel)

- **Zoo models** (``get_model(name, bits=...)``) without weights are initialised from a seed (Xavier) and
  take [0, 1] images: useful to try a method, meaningless to interpret.
- **BMXNet v1's released models** (``pretrained=True``): LeNet takes MNIST digits in [0, 1] (the pretrained
  test reproduces its 97.4 % that way); the ImageNet ResNet-18 takes RGB pixels in 0..255 without mean or
  std (its first layer is a BatchNorm; see ``../shared/models/bmxnet-v1/README.md``), and the CIFAR-10
  ResNet-18, whose input BatchNorm has statistics of the same scale, is given the same.
- **Run folders** of ``bmxnet-train``: the export ``model-symbol.json`` / ``model-0000.params`` loaded as a
  ``SymbolBlock``, the input shape and normalisation of the dataset named in ``args.json`` (digits / MNIST
  ``(1, 28, 28)`` and CIFAR-10 ``(3, 32, 32)`` in [0, 1]; ImageNet ``(3, S, S)``, ``S = --image-size``,
  with ImageNet's mean and std, as :mod:`tools.train.data` feeds them).

A model is named on the command line by a *spec*: a zoo name or a run folder, optionally followed by
``:`` and comma-separated options ``bits=B``, ``bits_a=B``, ``pretrained``, e.g. ``lenet:bits=32`` or
``resnet18:pretrained``.
"""
import json
import os
import warnings
from dataclasses import dataclass, field

import cv2
import mxnet as mx
import numpy as np

from tools.train.artifacts import EXPORT_PREFIX
from tools.train.data import IMAGENET_MEAN, IMAGENET_STD

from .graph import layers_of

__all__ = ["VisualModel", "load_model", "parse_model_spec", "fit_image", "import_export", "ModelNameError"]

V1_PIXEL_SCALE = {"lenet": 1.0, "resnet18": 255.0, "resnet18_cifar": 255.0}
"""Pixel scale of BMXNet v1's released models (images in [0, 1] are multiplied by it; no mean or std)."""

RUN_DATASETS = {"digits": ((1, 28, 28), 1.0, (0.0,), (1.0,)),
                "mnist-test-split": ((1, 28, 28), 1.0, (0.0,), (1.0,)),
                "mnist": ((1, 28, 28), 1.0, (0.0,), (1.0,)),
                "cifar10": ((3, 32, 32), 1.0, (0.0,), (1.0,)),
                "imagenet": (None, 1.0, IMAGENET_MEAN, IMAGENET_STD)}
"""Input shape, pixel scale, mean and std per ``bmxnet-train`` dataset (ImageNet's size is ``--image-size``)."""

DIGIT_NAMES = tuple(str(d) for d in range(10))


class ModelNameError(ValueError):
    """A model spec that is neither a zoo name nor a run folder; the message lists the zoo's names."""


@dataclass
class VisualModel:
    """A network and its input convention (see the module docstring)."""

    net: mx.gluon.HybridBlock
    label: str
    input_shape: tuple
    pixel_scale: float = 1.0
    mean: tuple = (0.0,)
    std: tuple = (1.0,)
    class_names: tuple = None
    _layers: list = field(default=None, repr=False)

    def normalize(self, images):
        """NDArray ``(N, C, H, W)`` of images in [0, 1] -> the network's input (differentiable)."""
        mean = mx.nd.array(self.mean, ctx=images.context).reshape((1, -1, 1, 1))
        std = mx.nd.array(self.std, ctx=images.context).reshape((1, -1, 1, 1))
        return mx.nd.broadcast_div(mx.nd.broadcast_sub(images * self.pixel_scale, mean), std)

    def fit(self, image):
        """An image ``(H, W, C)`` in [0, 1] (grey or RGB) as this model sees it: ``(H', W', C')`` of its input."""
        return fit_image(image, self.input_shape)

    def batch(self, images):
        """Images fitted with :meth:`fit` -> NDArray ``(N, C, H, W)`` in [0, 1] (not yet normalized)."""
        return mx.nd.array(np.stack([img.transpose(2, 0, 1) for img in images]).astype(np.float32))

    @property
    def layers(self):
        """The feature-map layers of the network (:func:`tools.visualize.graph.layers_of`), computed once."""
        if self._layers is None:
            self._layers = layers_of(self.net, self.input_shape)
        return self._layers

    def class_name(self, index):
        names = self.class_names
        return names[index] if names is not None and index < len(names) else f"class {index}"


def fit_image(image, input_shape):
    """Centre-crop ``image`` ``(H, W, C)`` to the aspect of ``input_shape`` ``(C', H', W')``, resize, and convert
    grey <-> RGB (grey = channel mean). Values stay in [0, 1]."""
    channels, height, width = input_shape
    h, w = image.shape[:2]
    crop_h, crop_w = (h, int(round(h * width / height))) if w * height > h * width else \
        (int(round(w * height / width)), w)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    image = image[top:top + crop_h, left:left + crop_w]
    shrink = crop_h > height
    resized = cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (width, height),
                         interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    resized = resized.reshape(height, width, -1)
    if resized.shape[2] != channels:
        grey = resized.mean(axis=2, keepdims=True)
        resized = grey if channels == 1 else np.repeat(grey, channels, axis=2)
    return np.clip(resized, 0.0, 1.0)


def parse_model_spec(spec):
    """``"NAME[:opt,opt...]"`` -> ``(NAME, options)`` with options ``bits``, ``bits_a`` (int), ``pretrained``."""
    name, _, text = spec.partition(":") if not os.path.isdir(spec) else (spec, "", "")
    options = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, _, value = item.partition("=")
        if key == "pretrained" and not value:
            options["pretrained"] = True
        elif key in ("bits", "bits_a") and value.isdigit():
            options[key] = int(value)
        else:
            raise ValueError(f"Expected model options like 'bits=32', 'bits_a=2' or 'pretrained' after "
                             f"{name!r}, got {item!r} in {spec!r}.")
    return name, options


def load_model(spec, *, bits=1, bits_a=None, pretrained=False, root=None, seed=0, label=None):
    """The :class:`VisualModel` of ``spec``: a zoo name, a ``bmxnet-train`` run folder, or a spec string with
    options (which override the keyword arguments).

    ``root`` is the model store of ``pretrained`` weights (default ``$BMXNET_HOME/models``); ``seed`` seeds the
    initialisation of a zoo model without weights. Raises :class:`ModelNameError` (listing the zoo's models)
    for an unknown name, ``FileNotFoundError`` for an incomplete run folder.
    """
    name, options = parse_model_spec(spec)
    bits = options.get("bits", bits)
    bits_a = options.get("bits_a", bits if bits_a is None else bits_a)
    pretrained = options.get("pretrained", pretrained)
    if os.path.isdir(name):
        return _load_run(name, label)
    from model_zoo import default_input_shape, get_model, list_models

    if name.lower() not in list_models():
        raise ModelNameError(f"Expected a zoo model name or a bmxnet-train run folder, got {name!r} (no such "
                             f"folder); zoo models: {', '.join(list_models())}.")
    key = name.lower()
    net = get_model(key, pretrained=pretrained, root=root, bits=bits, bits_a=bits_a)
    input_shape = default_input_shape(key)[1:]
    if pretrained:
        scale, state = V1_PIXEL_SCALE[key], "BMXNet v1"
    else:
        mx.random.seed(seed)
        net.initialize(mx.init.Xavier(magnitude=2))
        scale, state = 1.0, f"untrained, seed {seed}"
    data = "imagenet" if input_shape[1] > 32 else "digits" if input_shape[0] == 1 else "cifar10"
    return VisualModel(net=net, label=label or f"{key} W{bits}A{bits_a} ({state})", input_shape=input_shape,
                       pixel_scale=scale, class_names=_class_names(data))


def _load_run(folder, label):
    paths = {part: os.path.join(folder, f"{EXPORT_PREFIX}{part}") for part in ("-symbol.json", "-0000.params")}
    args_path = os.path.join(folder, "args.json")
    missing = [p for p in (*paths.values(), args_path) if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(f"{folder} is not a finished bmxnet-train run folder: missing "
                                f"{', '.join(os.path.basename(p) for p in missing)}.")
    with open(args_path) as f:
        args = json.load(f)
    dataset = args.get("dataset")
    if dataset not in RUN_DATASETS:
        raise ValueError(f"{args_path}: expected `dataset` to be one of {sorted(RUN_DATASETS)}, got {dataset!r}.")
    shape, scale, mean, std = RUN_DATASETS[dataset]
    if shape is None:
        size = int(args.get("image_size", 224))
        shape = (3, size, size)
    net = import_export(paths["-symbol.json"], paths["-0000.params"])
    default_label = f"{args.get('model', '?')} W{args.get('bits', '?')}A{args.get('bits_a', '?')} ({dataset})"
    return VisualModel(net=net, label=label or default_label, input_shape=shape, pixel_scale=scale, mean=mean,
                       std=std, class_names=_class_names(dataset if dataset != "imagenet" else None))


def import_export(symbol_file, params_file):
    """The ``SymbolBlock`` of an exported model (input ``data``), without MXNet's warning that it cannot infer
    the input's type (float32, as every input here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return mx.gluon.SymbolBlock.imports(symbol_file, ["data"], params_file)


def _class_names(dataset):
    """Class names of a zoo model's data (ImageNet-1k from gluoncv, digits 0-9), else None (indices)."""
    if dataset == "imagenet":
        from gluoncv.data.imagenet.classification import ImageNet1kAttr

        return tuple(ImageNet1kAttr().classes)
    if dataset in ("digits", "mnist", "mnist-test-split"):
        return DIGIT_NAMES
    return None
