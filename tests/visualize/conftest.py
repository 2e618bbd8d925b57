"""Small models for the visualization tests: tiny zoo ResNets (binary and float twin), a float ResNet trained in
a few seconds to detect a bright square, and BMXNet v1's releases."""
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from model_zoo import model_store, resnet
from tools.visualize import VisualModel

TINY_SHAPE = (1, 16, 16)
SQUARE_SIZE, SQUARE_SIDE = 24, 6


def tiny_resnet(bits, *, hybridize=False, seed=3, classes=10):
    """The zoo's pre-activation ResNet, two stages of one unit (widths 8, 16) on 16 x 16 grey images."""
    mx.random.seed(seed)
    net = resnet([1, 1], [8, 8, 16], thumbnail=True, in_channels=1, classes=classes, bits=bits, bits_a=bits)
    net.initialize(mx.init.Xavier(magnitude=2))
    if hybridize:
        net.hybridize()
    net(mx.nd.zeros((1,) + TINY_SHAPE))
    return VisualModel(net=net, label=f"tiny W{bits}", input_shape=TINY_SHAPE, class_names=None)


def square_images(rng, count):
    """Noise in [0, 0.4]; every second image has a bright (1.0) square of SQUARE_SIDE pixels at a random place.

    Returns images ``(count, H, W, 1)`` and labels (1 = square).
    """
    images = rng.uniform(0, 0.4, (count, SQUARE_SIZE, SQUARE_SIZE, 1)).astype(np.float32)
    labels = np.arange(count) % 2
    corners = rng.integers(0, SQUARE_SIZE - SQUARE_SIDE + 1, (count, 2))
    for image, label, (y, x) in zip(images, labels, corners):
        if label:
            image[y:y + SQUARE_SIDE, x:x + SQUARE_SIDE] = 1.0
    return images, labels


@pytest.fixture(scope="session")
def square_finder():
    """A float zoo ResNet (three stages of one unit, widths 8/16/16) trained for 30 Adam steps (about 2 s) to
    tell images with a bright square from images without; returns ``(model, test accuracy)``."""
    mx.random.seed(11)
    net = resnet([1, 1, 1], [8, 8, 16, 16], thumbnail=True, in_channels=1, classes=2, bits=32, bits_a=32)
    net.initialize(mx.init.Xavier(magnitude=2))
    net.hybridize()
    images, labels = square_images(np.random.default_rng(0), 256)
    data, target = mx.nd.array(images.transpose(0, 3, 1, 2)), mx.nd.array(labels)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    for step in range(30):
        batch = slice(32 * (step % 8), 32 * (step % 8) + 32)
        with autograd.record():
            value = loss(net(data[batch]), target[batch])
        value.backward()
        trainer.step(32)
    test_images, test_labels = square_images(np.random.default_rng(5), 64)
    accuracy = (net(mx.nd.array(test_images.transpose(0, 3, 1, 2))).asnumpy().argmax(axis=1) == test_labels).mean()
    return VisualModel(net=net, label="square finder", input_shape=(1, SQUARE_SIZE, SQUARE_SIZE)), accuracy


@pytest.fixture(scope="session")
def v1_store(bmxnet_v1_dir, tmp_path_factory):
    """A model store holding BMXNet v1's LeNet and ImageNet ResNet-18, filed in by hash."""
    root = str(tmp_path_factory.mktemp("bmxnet-home") / "models")
    for name in ("binarized_mnist_64bit-symbol.json", "binarized_mnist_64bit-0001.params",
                 "binarized_imagenet-resnet18-64bit-symbol.json", "binarized_imagenet-resnet18-64bit-0040.params"):
        model_store.add_file(os.path.join(bmxnet_v1_dir, name), root)
    return root
