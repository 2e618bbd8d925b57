"""Shared fixtures: real data and released models from ``../shared``, skipping cleanly when absent."""
import os

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("BMXNET_SHARED_DIR", os.path.join(REPO, "..", "shared"))


@pytest.fixture(scope="session")
def mnist_dir():
    """Folder with the official MNIST test split (idx files); skips the test when absent."""
    path = os.environ.get("BMXNET_MNIST_DIR", os.path.join(SHARED, "data", "mnist-test"))
    if not os.path.exists(os.path.join(path, "t10k-images-idx3-ubyte.gz")):
        pytest.skip(f"MNIST test split not found in {path}")
    return path


@pytest.fixture(scope="session")
def bmxnet_v1_dir():
    """Folder with BMXNet v1's released binarized models; skips the test when absent."""
    path = os.path.join(SHARED, "models", "bmxnet-v1")
    if not os.path.exists(os.path.join(path, "binarized_mnist_64bit-symbol.json")):
        pytest.skip(f"BMXNet v1 models not found in {path}")
    return path


@pytest.fixture
def rng():
    """A seeded NumPy generator, so every failure is reproducible."""
    return np.random.default_rng(20181126)
