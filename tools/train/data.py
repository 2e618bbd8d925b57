"""Datasets for the training tool and a deterministic, shardable batch order.

Every dataset is a pair of *splits* (train, eval). A split knows its length and assembles a batch
``(data float32 (B, C, H, W), labels int32 (B,))`` from indices; :func:`epoch_batches` decides which indices,
from ``(seed, epoch)`` only, so an epoch is the same whether training ran straight or resumed.

Datasets (``DATASETS``):

- ``digits``: scikit-learn's 1,797 handwritten digits upscaled to 28 x 28 (offline). Fixed split: a
  permutation seeded with 1797, the first 1,437 train, the last 360 evaluate.
- ``mnist-test-split``: the project's protocol on the official MNIST *test* split (idx files in
  ``--data-dir``, default ``../shared/data/mnist-test``): first 8,000 train, last 2,000 evaluate.
- ``mnist``: the official 60,000 / 10,000 split from idx files in ``--data-dir`` (Gluon downloads them there
  when missing and the network allows).
- ``cifar10``: CIFAR-10's binary batches in ``--data-dir`` (Gluon downloads them when missing), scaled to [0, 1].
- ``image-folder``: your own images: ``train/`` and ``val/`` in ``--data-dir``, each with one sub-folder per
  class (Gluon's ``ImageFolderDataset``; the class count and names come from the sub-folders).
- ``recordio``: ``train.rec`` / ``train.idx`` and ``val.rec`` / ``val.idx`` in ``--data-dir``, packed by MXNet's
  ``im2rec`` or ``mx.recordio.MXIndexedRecordIO`` (Gluon's ``ImageRecordDataset``); ``--record-classes``
  classes.
- ``imagenet``: either of the two layouts above, whichever ``--data-dir`` holds.

Image data (the last three) trains on random-resized crops with random flips and evaluates on gluoncv's
ImageNet preset (short side resized to ``size / 0.875``, centre crop), normalised by ImageNet's mean and
standard deviation. A relative ``--data-dir`` is resolved from the current folder; a missing dataset is a
one-line error that names the folder it looked in.
"""
import os

import numpy as np

from bmxnet_ext import datasets as offline
from bmxnet_ext.cli import ToolError

__all__ = ["DATASETS", "AUGMENTATIONS", "ArraySplit", "ImageSplit", "load_dataset", "epoch_batches",
           "DIGITS_EVAL_COUNT"]

DATASETS = ("digits", "mnist-test-split", "mnist", "cifar10", "image-folder", "recordio", "imagenet")
IMAGE_DATASETS = ("image-folder", "recordio", "imagenet")
AUGMENTATIONS = ("none", "shift", "shift-flip")
DIGITS_EVAL_COUNT = 360
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_IMAGE_SIZE = 224
"""Crop size of image data (image-folder, recordio, imagenet) unless ``image_size`` is given."""


def _resized(images, size):
    """``(N, C, H, W)`` float images resized to ``size`` x ``size`` (OpenCV: area when shrinking, else
    bilinear); unchanged when ``size`` is None or already their size."""
    if size is None or images.shape[2:] == (size, size):
        return images
    import cv2

    interpolation = cv2.INTER_AREA if size < images.shape[2] else cv2.INTER_LINEAR
    return np.stack([np.stack([cv2.resize(channel, (size, size), interpolation=interpolation)
                               for channel in image]) for image in images]).astype(np.float32)


class ArraySplit:
    """In-memory images ``(N, C, H, W)`` float32 and labels ``(N,)`` int32, with optional augmentation.

    ``augment``: ``none``; ``shift`` (random translation by up to ``max_shift`` pixels, zero fill);
    ``shift-flip`` (also a random horizontal flip).
    """

    def __init__(self, images, labels, augment="none", max_shift=2):
        if augment not in AUGMENTATIONS:
            raise ValueError(f"Expected `augment` to be one of {list(AUGMENTATIONS)}, got {augment!r}.")
        if len(images) != len(labels):
            raise ValueError(f"Images ({len(images)}) and labels ({len(labels)}) differ in count.")
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.int32)
        self.augment = augment
        self.max_shift = max_shift

    def __len__(self):
        return len(self.labels)

    @property
    def shape(self):
        """Shape of one sample, ``(C, H, W)``."""
        return self.images.shape[1:]

    def batch(self, indices, rng=None):
        """``(data, labels)`` for ``indices``; ``rng`` (a NumPy Generator) drives the augmentation."""
        data = self.images[indices]
        if self.augment != "none" and rng is not None:
            data = self._shift(data, rng)
            if self.augment == "shift-flip":
                flip = rng.random(len(data)) < 0.5
                data[flip] = data[flip, :, :, ::-1]
        return data, self.labels[indices]

    def _shift(self, data, rng):
        s = self.max_shift
        height, width = data.shape[2:]
        padded = np.pad(data, ((0, 0), (0, 0), (s, s), (s, s)))
        offsets = rng.integers(0, 2 * s + 1, size=(len(data), 2))
        return np.stack([padded[i, :, dy:dy + height, dx:dx + width] for i, (dy, dx) in enumerate(offsets)])


class ImageSplit:
    """A Gluon image dataset (items ``(HWC uint8 NDArray, label)``) with a Gluon vision transform.

    Random transforms draw from MXNet's global RNG, which the training loop seeds per epoch.
    """

    def __init__(self, dataset, transform):
        self.dataset = dataset
        self.transform = transform

    def __len__(self):
        return len(self.dataset)

    @property
    def shape(self):
        return tuple(self.batch([0])[0].shape[1:])

    def batch(self, indices, rng=None):
        images, labels = zip(*(self.dataset[int(i)] for i in indices))
        tensors = [self.transform(img) for img in images]  # (C, H, W), or (1, C, H, W) from gluoncv's presets
        data = np.stack([t.asnumpy().reshape(t.shape[-3:]) for t in tensors]).astype(np.float32)
        return data, np.asarray(labels, dtype=np.int32)


def load_dataset(name, *, data_dir=None, augment="none", image_size=None, record_classes=1000):
    """``(train_split, eval_split, num_classes)`` of dataset ``name`` (see the module docstring).

    ``image_size`` resizes in-memory datasets to ``image_size`` x ``image_size`` and is the crop size of
    image data (default: the dataset's own size; 224 for image data). ``record_classes`` is the class count
    of ImageNet RecordIO data (image folders count their sub-folders).
    """
    if name in IMAGE_DATASETS:
        return _image_data(name, _existing_dir(name, data_dir), image_size or DEFAULT_IMAGE_SIZE, record_classes)
    (train_x, train_y), (eval_x, eval_y) = _arrays(name, data_dir)
    train_x, eval_x = _resized(train_x, image_size), _resized(eval_x, image_size)
    return ArraySplit(train_x, train_y, augment), ArraySplit(eval_x, eval_y), 10


def _arrays(name, data_dir):
    """``(train_images, train_labels), (eval_images, eval_labels)`` of an in-memory dataset."""
    if name == "digits":
        images, labels = offline.load_sklearn_digits()
        order = np.random.default_rng(len(labels)).permutation(len(labels))
        train, held = order[:-DIGITS_EVAL_COUNT], order[-DIGITS_EVAL_COUNT:]
        return (images[train], labels[train]), (images[held], labels[held])
    if name == "mnist-test-split":
        directory = os.path.abspath(data_dir or offline.default_mnist_dir())
        _require_files(name, directory, [f"t10k-{kind}-ubyte.gz" for kind in ("images-idx3", "labels-idx1")])
        return offline.mnist_split(directory)
    if name == "mnist":
        directory = _download_dir(name, data_dir)
        if not os.path.exists(os.path.join(directory, "train-images-idx3-ubyte.gz")):
            from mxnet.gluon.data.vision import MNIST
            MNIST(root=directory, train=True), MNIST(root=directory, train=False)  # downloads the idx files
        return offline.load_mnist_idx(directory, prefix="train"), offline.load_mnist_idx(directory, prefix="t10k")
    if name == "cifar10":
        directory = _download_dir(name, data_dir)
        if not os.path.exists(os.path.join(directory, "test_batch.bin")):
            from mxnet.gluon.data.vision import CIFAR10
            CIFAR10(root=directory, train=True), CIFAR10(root=directory, train=False)  # downloads the batches
        return (_read_cifar([os.path.join(directory, f"data_batch_{i}.bin") for i in range(1, 6)]),
                _read_cifar([os.path.join(directory, "test_batch.bin")]))
    raise ValueError(f"Expected `dataset` to be one of {list(DATASETS)}, got {name!r}.")


def _download_dir(name, data_dir):
    """The absolute ``data_dir`` of a dataset Gluon can download into it, created when missing."""
    if not data_dir:
        raise ToolError(f"dataset {name!r} needs --data-dir (the folder holding or receiving its files)")
    directory = os.path.abspath(data_dir)
    os.makedirs(directory, exist_ok=True)
    return directory


def _existing_dir(name, data_dir):
    """The absolute ``data_dir`` of a dataset that must already be there."""
    if not data_dir:
        raise ToolError(f"dataset {name!r} needs --data-dir (the folder holding its files)")
    directory = os.path.abspath(data_dir)
    if not os.path.isdir(directory):
        raise ToolError(f"dataset {name!r} not found: --data-dir {directory} is not a folder")
    return directory


def _require_files(name, directory, files):
    """One-line error naming ``--data-dir`` unless every one of ``files`` is in ``directory``."""
    missing = [f for f in files if not os.path.exists(os.path.join(directory, f))]
    if missing:
        raise ToolError(f"dataset {name!r} not found: --data-dir {directory} lacks {', '.join(missing)}")


def _read_cifar(paths):
    """CIFAR-10 binary batches: records of 1 label byte + 3,072 image bytes (3 x 32 x 32, CHW)."""
    records = []
    for path in paths:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % 3073:
            raise ValueError(f"{path!r} is not a CIFAR-10 binary batch: {raw.size} bytes is not a multiple of "
                             "3073.")
        records.append(raw.reshape(-1, 3073))
    records = np.concatenate(records)
    images = records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    return images, records[:, 0].astype(np.int32)


def _image_data(name, directory, image_size, record_classes):
    """Train and eval :class:`ImageSplit` of an image-folder or RecordIO dataset in ``directory``."""
    import functools

    from gluoncv.data.transforms.presets.imagenet import transform_eval
    from mxnet.gluon.data.vision import transforms as T

    train_tf = T.Compose([T.RandomResizedCrop(image_size), T.RandomFlipLeftRight(), T.ToTensor(),
                          T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    eval_tf = functools.partial(transform_eval, resize_short=int(round(image_size / 0.875)), crop_size=image_size,
                                mean=IMAGENET_MEAN, std=IMAGENET_STD)
    kind = name if name != "imagenet" else _image_layout(directory)
    train, held = (_image_source(kind, directory, part) for part in ("train", "val"))
    if kind == "image-folder":
        if train.synsets != held.synsets:
            raise ToolError(f"dataset {name!r} in --data-dir {directory}: train/ and val/ have different class "
                            f"sub-folders ({len(train.synsets)} vs {len(held.synsets)})")
        classes = len(train.synsets)
    else:
        classes = record_classes
    return ImageSplit(train, train_tf), ImageSplit(held, eval_tf), classes


def _image_layout(directory):
    """``recordio`` or ``image-folder``: which layout of image data ``directory`` holds."""
    if os.path.exists(os.path.join(directory, "train.rec")):
        return "recordio"
    if os.path.isdir(os.path.join(directory, "train")):
        return "image-folder"
    raise ToolError(f"dataset 'imagenet' not found: --data-dir {directory} holds neither train.rec / train.idx "
                    "(RecordIO) nor a train/ folder (one sub-folder of images per class)")


def _image_source(kind, directory, part):
    """Gluon's dataset of ``part`` (``train`` / ``val``): a class-per-sub-folder tree or an indexed ``.rec``."""
    from mxnet.gluon.data.vision import ImageFolderDataset, ImageRecordDataset

    if kind == "recordio":
        _require_files(kind, directory, [f"{part}.rec", f"{part}.idx"])
        return ImageRecordDataset(os.path.join(directory, f"{part}.rec"))
    folder = os.path.join(directory, part)
    if not os.path.isdir(folder):
        raise ToolError(f"dataset {kind!r} not found: --data-dir {directory} has no {part}/ folder (expected "
                        "train/ and val/, each with one sub-folder of images per class)")
    source = ImageFolderDataset(folder)
    if not source.items:
        raise ToolError(f"dataset {kind!r}: {folder} holds no images (expected one sub-folder of .jpg / .png "
                        "images per class)")
    return source


def epoch_batches(length, *, batch_size, seed, epoch, shuffle=True, rank=0, num_workers=1, limit=None):
    """Index arrays of the batches of one epoch, a pure function of the arguments.

    The order is a permutation drawn from ``np.random.default_rng([seed, epoch])`` (identity without
    ``shuffle``). Worker ``rank`` of ``num_workers`` takes every ``num_workers``-th index after the order is
    cut to a multiple of ``num_workers``, so all workers run the same number of equal-sized steps.
    ``limit`` keeps only the first ``limit`` batches.
    """
    if not 0 <= rank < num_workers:
        raise ValueError(f"Expected `rank` in [0, {num_workers}), got {rank}.")
    order = np.random.default_rng([seed, epoch]).permutation(length) if shuffle else np.arange(length)
    order = order[:len(order) - len(order) % num_workers][rank::num_workers]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return batches[:limit] if limit else batches
