"""Datasets that work offline: MNIST in its original idx format, and scikit-learn's handwritten digits.

MNIST images are returned as float32 ``(N, 1, 28, 28)`` scaled to [0, 1], labels as int32 ``(N,)``.
"""
import gzip
import os

import numpy as np

__all__ = ["default_mnist_dir", "read_idx", "load_mnist_idx", "mnist_split", "load_sklearn_digits"]


def default_mnist_dir():
    """Where the official MNIST test split lives: ``$BMXNET_MNIST_DIR``, else ``../shared/data/mnist-test``
    (the project's layout, seen from the repository root), resolved from the current folder."""
    return os.path.abspath(os.environ.get("BMXNET_MNIST_DIR", os.path.join("..", "shared", "data", "mnist-test")))

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an idx file (optionally gzip-compressed) into a NumPy array; errors name the file."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"Cannot read idx file {path!r}: {err}") from err
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path!r} is not an idx file (bad magic number).")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path!r} is truncated or corrupt: header says {shape} ({expected} bytes), "
                         f"file has {len(data) - header} bytes of data.")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def load_mnist_idx(directory=None, prefix="t10k"):
    """Images ``(N, 1, 28, 28)`` float32 in [0, 1] and labels ``(N,)`` int32 from ``directory``.

    ``directory`` defaults to :func:`default_mnist_dir`. Raises ``FileNotFoundError`` naming the missing file.
    """
    directory = default_mnist_dir() if directory is None else directory
    paths = [os.path.join(directory, f"{prefix}-{kind}-idx{nd}-ubyte.gz") for kind, nd in (("images", 3),
                                                                                       ("labels", 1))]
    for path in paths:
        if not os.path.exists(path):
            raise FileNotFoundError(f"MNIST file {path} not found (no {os.path.basename(path)} in "
                                    f"{os.path.abspath(directory)})")
    images = read_idx(paths[0]).astype(np.float32)[:, None, :, :] / 255.0
    labels = read_idx(paths[1]).astype(np.int32)
    if len(images) != len(labels):
        raise ValueError(f"MNIST images ({len(images)}) and labels ({len(labels)}) differ in count.")
    return images, labels


def mnist_split(directory=None, train_count=8000):
    """The project's protocol on the official test split: first ``train_count`` digits train, the rest evaluate.

    Returns ``(train_images, train_labels), (eval_images, eval_labels)``.
    """
    images, labels = load_mnist_idx(directory)
    return (images[:train_count], labels[:train_count]), (images[train_count:], labels[train_count:])


def load_sklearn_digits(size=28):
    """scikit-learn's 1,797 handwritten 8x8 digits, upscaled to ``size`` x ``size`` like MNIST.

    Ships inside scikit-learn, so it works with no network. Returns images ``(N, 1, size, size)`` float32 in
    [0, 1] and labels ``(N,)`` int32.
    """
    from sklearn.datasets import load_digits

    import cv2

    digits = load_digits()
    images = np.stack([cv2.resize(img.astype(np.float32) / 16.0, (size, size), interpolation=cv2.INTER_LINEAR)
                       for img in digits.images])
    return images[:, None, :, :].astype(np.float32), digits.target.astype(np.int32)
