"""The demo page's models: BMXNet v1's released binary LeNet (MNIST) and ImageNet ResNet-18, converted once to
``.bmx`` by tools.model_converter, and ``models.json``, the manifest the page reads (file, labels, input
convention as web/bmx.js's ``Model`` takes it)."""
import json
import os

from bmxnet_ext.atomic import write_text
from bmxnet_ext.cli import ToolError

from .build import REPO

SHARED = os.environ.get("BMXNET_SHARED_DIR", os.path.join(REPO, "..", "shared"))
DEFAULT_SOURCE = os.path.join(SHARED, "models", "bmxnet-v1")
MANIFEST = "models.json"

DEMO_MODELS = {
    "lenet": {"prefix": "binarized_mnist_64bit", "epoch": 1, "input_shape": (1, 1, 28, 28), "task": "digits",
              "title": "binary LeNet (BMXNet v1, MNIST)",
              "input": {"color": "gray", "scale": 1 / 255, "mean": [0], "std": [1]}},
    "resnet18": {"prefix": "binarized_imagenet-resnet18-64bit", "epoch": 40, "input_shape": (1, 3, 224, 224),
                 "task": "imagenet", "title": "binary ResNet-18 (BMXNet v1, ImageNet)",
                 "input": {"color": "rgb", "scale": 1, "mean": [0], "std": [1]}},
}
"""name -> BMXNet v1 checkpoint, the shape the runtime runs, what the page uses it for, its input convention
(web/bmx.js's, as the runtime's bmx_input_convention: MNIST digits in [0, 1]; the ImageNet model takes raw RGB
0..255, no mean or std)."""


def labels(task):
    if task == "digits":
        return [str(d) for d in range(10)]
    from gluoncv.data.imagenet.classification import ImageNet1kAttr
    return list(ImageNet1kAttr().classes)


def convert(name, output_dir, source_dir=DEFAULT_SOURCE):
    """``output_dir/<name>/<name>.bmx`` converted from BMXNet v1's checkpoint (skipped if present); its path."""
    from tools.model_converter import ConversionError, convert_bmxnet_v1
    spec = DEMO_MODELS[name]
    path = os.path.join(output_dir, name, f"{name}.bmx")
    if os.path.exists(path):
        return path
    prefix = os.path.join(source_dir, spec["prefix"])
    symbol, params = f"{prefix}-symbol.json", f"{prefix}-{spec['epoch']:04d}.params"
    for file in (symbol, params):
        if not os.path.exists(file):
            raise ToolError(f"BMXNet v1 model file {file} not found: pass --models-source (the folder of BMXNet "
                            "v1's released models) or set BMXNET_SHARED_DIR")
    try:
        convert_bmxnet_v1(symbol, params, output_dir=os.path.join(output_dir, name), input_shape=spec["input_shape"],
                          output_format="bmx", prefix=name)
    except ConversionError as err:
        raise ToolError(f"converting {name}: {err}") from err
    return path


def prepare(output_dir, names=tuple(DEMO_MODELS), source_dir=DEFAULT_SOURCE):
    """Convert ``names`` into ``output_dir`` and write its ``models.json``; returns the manifest dict."""
    unknown = sorted(set(names) - set(DEMO_MODELS))
    if unknown:
        raise ToolError(f"Expected demo models among {', '.join(DEMO_MODELS)}, got {', '.join(unknown)}")
    os.makedirs(output_dir, exist_ok=True)
    entries = []
    for name in names:
        spec = DEMO_MODELS[name]
        path = convert(name, output_dir, source_dir)
        entries.append({"name": name, "title": spec["title"], "task": spec["task"],
                        "file": os.path.relpath(path, output_dir).replace(os.sep, "/"),
                        "input": spec["input"], "labels": labels(spec["task"])})
    manifest = {"models": entries}
    write_text(os.path.join(output_dir, MANIFEST), json.dumps(manifest, indent=1) + "\n")
    return manifest
