"""What a deployed model needs besides its graph: how to turn an image into its input, and its class names.

A converted model carries one :class:`ModelMetadata`: in the ``.bmx`` file's metadata section
(``docs/bmx_format.md``) and, for the MXNet format, in ``PREFIX-metadata.json`` beside the symbol. The
runtime (``bmx-run``, the C API's ``bmx_model_set_input_image``, :class:`bmxnet_ext.runtime.Model`) applies it
to an 8-bit image of H x W pixels:

1. colour: ``color`` ``"RGB"``, ``"BGR"`` (channels reversed) or ``"GRAY"`` (luma
   ``0.299 R + 0.587 G + 0.114 B``; a grey image feeds an RGB model as three equal channels);
2. size: ``resize == "crop"`` scales the shorter side to ``round(min(h, w) / crop_fraction)`` for an input of
   h x w and crops the centre (the ImageNet evaluation convention); ``"stretch"`` resizes to h x w directly;
   both bilinear with pixel centres aligned;
3. values: ``x[c] = (pixel[c] * scale - mean[c]) / std[c]`` in layout ``NCHW``.

A model without metadata (an older file, or a converter given nothing) gets :data:`DEFAULT`, ImageNet's
convention. Class names come from a known set (:data:`LABEL_SETS`: ImageNet-1k from gluoncv, CIFAR-10,
digits) or the user's list.
"""
import json
import math
from dataclasses import asdict, dataclass, field, replace

from .atomic import write_text

__all__ = ["ModelMetadata", "DEFAULT", "BMXNET_V1", "LABEL_SETS", "label_set", "read_labels_file",
           "for_dataset", "training_record", "from_training_args", "metadata_file_name", "write_metadata_file",
           "read_metadata_file"]

COLORS = ("RGB", "BGR", "GRAY")
RESIZES = ("crop", "stretch")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class ModelMetadata:
    """A model's input convention (see the module docstring) and class names (index = output position)."""

    layout: str = "NCHW"
    color: str = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    resize: str = "crop"
    crop_fraction: float = 0.875
    labels: tuple = field(default=(), repr=False)

    def __post_init__(self):
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "labels", tuple(str(v) for v in self.labels))
        if self.layout != "NCHW":
            raise ValueError(f"Expected layout 'NCHW', got {self.layout!r}.")
        if self.color not in COLORS:
            raise ValueError(f"Expected color to be one of {list(COLORS)}, got {self.color!r}.")
        if self.resize not in RESIZES:
            raise ValueError(f"Expected resize to be one of {list(RESIZES)}, got {self.resize!r}.")
        channels = 1 if self.color == "GRAY" else 3
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) not in (1, channels) or not all(math.isfinite(v) for v in values):
                raise ValueError(f"Expected {name} to be 1 or {channels} finite numbers for {self.color}, "
                                 f"got {values}.")
        if any(v == 0 for v in self.std):
            raise ValueError(f"Expected std values to be non-zero, got {self.std}.")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"Expected scale to be a positive number, got {self.scale}.")
        if not 0 < self.crop_fraction <= 1:
            raise ValueError(f"Expected crop_fraction in (0, 1], got {self.crop_fraction}.")
        if any("\n" in v for v in self.labels):
            raise ValueError("Class names must not contain line breaks.")

    @property
    def channels(self):
        return 1 if self.color == "GRAY" else 3

    def with_overrides(self, **fields):
        """A copy with the given fields replaced (a ``None`` value keeps a field)."""
        unknown = sorted(set(fields) - set(self.__dataclass_fields__))
        if unknown:
            raise ValueError(f"Unknown metadata fields {unknown}; expected some of {sorted(self.__dataclass_fields__)}.")
        return replace(self, **{k: v for k, v in fields.items() if v is not None})

    def as_dict(self):
        d = asdict(self)
        d["mean"], d["std"], d["labels"] = list(self.mean), list(self.std), list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d):
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


DEFAULT = ModelMetadata()
"""ImageNet's convention, assumed for models whose file records none."""

BMXNET_V1 = ModelMetadata(scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
"""BMXNet v1's released ImageNet models: RGB pixels in 0..255, no mean or std (their first layer is a
BatchNorm that normalises)."""


def _imagenet1k():
    from gluoncv.data.imagenet.classification import ImageNet1kAttr

    return tuple(ImageNet1kAttr().classes)


LABEL_SETS = {"imagenet1k": _imagenet1k, "cifar10": lambda: CIFAR10_CLASSES,
              "digits": lambda: tuple(str(i) for i in range(10))}
"""Known class-name lists by name (``digits`` also serves MNIST)."""


def label_set(name):
    """The class names of the known set ``name`` (:data:`LABEL_SETS`)."""
    if name not in LABEL_SETS:
        raise ValueError(f"Expected a label set among {sorted(LABEL_SETS)}, got {name!r}.")
    return LABEL_SETS[name]()


def read_labels_file(path):
    """Class names from a text file, one per line (blank trailing lines ignored)."""
    with open(path, encoding="utf-8") as f:
        names = f.read().splitlines()
    while names and not names[-1].strip():
        names.pop()
    if not names:
        raise ValueError(f"Labels file {path!r} holds no class names (expected one per line).")
    return tuple(names)


_DATASETS = {
    "digits": dict(color="GRAY", scale=1.0 / 255.0, mean=(0.0,), std=(1.0,), resize="stretch", labels="digits"),
    "mnist": dict(color="GRAY", scale=1.0 / 255.0, mean=(0.0,), std=(1.0,), resize="stretch", labels="digits"),
    "cifar10": dict(color="RGB", scale=1.0 / 255.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), resize="stretch",
                    labels="cifar10"),
    "imagenet": dict(color="RGB", scale=1.0 / 255.0, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize="crop",
                     labels="imagenet1k"),
}
_DATASETS["mnist-test-split"] = _DATASETS["mnist"]


def for_dataset(name, with_labels=True):
    """The metadata of a model trained by ``bmxnet-train`` on dataset ``name`` (its preprocessing: pixels
    scaled to [0, 1], ImageNet also mean/std normalised), or ``None`` for an unknown dataset."""
    if name not in _DATASETS:
        return None
    settings = dict(_DATASETS[name])
    labels = settings.pop("labels")
    return ModelMetadata(labels=label_set(labels) if with_labels else (), **settings)


def training_record(dataset):
    """What ``bmxnet-train`` records as ``preprocessing`` in a run's ``args.json``: the input convention of
    ``dataset`` and the name of its label set (``None`` for an unknown dataset)."""
    meta = for_dataset(dataset, with_labels=False)
    if meta is None:
        return None
    record = meta.as_dict()
    del record["labels"]
    record["label_set"] = _DATASETS[dataset]["labels"]
    return record


def from_training_args(args):
    """The metadata of a model from its training run's ``args.json`` contents: the recorded
    ``preprocessing`` (see :func:`training_record`), else the convention of its ``dataset``; ``None`` if
    neither is known."""
    record = args.get("preprocessing")
    if not record:
        return for_dataset(args.get("dataset"))
    record = dict(record)
    names = record.pop("label_set", None)
    return ModelMetadata.from_dict({**record, "labels": label_set(names) if names else ()})


def metadata_file_name(prefix):
    """``PREFIX-metadata.json``: the metadata of an MXNet-format model beside its symbol and params."""
    return f"{prefix}-metadata.json"


def write_metadata_file(path, metadata):
    """Write ``metadata`` as JSON (atomically)."""
    write_text(path, json.dumps(metadata.as_dict(), indent=2) + "\n")


def read_metadata_file(path):
    """The :class:`ModelMetadata` of a ``PREFIX-metadata.json`` file."""
    with open(path, encoding="utf-8") as f:
        return ModelMetadata.from_dict(json.load(f))
