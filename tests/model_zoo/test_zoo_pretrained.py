"""get_model(..., pretrained=True): BMXNet v1's released models, exact against v1's own inference graph."""
import os

import mxnet as mx
import numpy as np
import pytest

from bmxnet_ext import bmxnet_v1
from bmxnet_ext.datasets import load_mnist_idx
from model_zoo import get_model, model_store

RELEASES = {
    "lenet": ("binarized_mnist_64bit-symbol.json", "binarized_mnist_64bit-0001.params"),
    "resnet18": ("binarized_imagenet-resnet18-64bit-symbol.json", "binarized_imagenet-resnet18-64bit-0040.params"),
    "resnet18_cifar": ("binarized_cifar10-resnet18-64bit-symbol.json", "binarized_cifar10-resnet18-64bit-0000.params"),
}


@pytest.fixture(scope="module")
def store(bmxnet_v1_dir, tmp_path_factory):
    """A store root holding the released files, filed in by hash as a user would."""
    root = str(tmp_path_factory.mktemp("bmxnet-home") / "models")
    for files in RELEASES.values():
        for name in files:
            model_store.add_file(os.path.join(bmxnet_v1_dir, name), root)
    return root


def v1_reference(bmxnet_v1_dir, name, data):
    """Logits of v1's own graph (bmxnet_v1.reference_symbol), the spec our Gluon model must reproduce."""
    symbol_file, params_file = (os.path.join(bmxnet_v1_dir, f) for f in RELEASES[name])
    model = bmxnet_v1.read_v1_model(symbol_file, params_file)
    args = {k: mx.nd.array(v) for k, v in model.args.items()}
    args["data"] = mx.nd.array(data)
    executor = bmxnet_v1.reference_symbol(model).bind(
        mx.cpu(), args, aux_states={k: mx.nd.array(v) for k, v in model.aux.items()})
    return executor.forward(is_train=False)[0].asnumpy()


@pytest.mark.slow
def test_pretrained_lenet_accuracy_on_the_mnist_test_split(store, mnist_dir, bmxnet_v1_dir):
    images, labels = load_mnist_idx(mnist_dir)
    assert len(images) == 10_000
    net = get_model("lenet", pretrained=True, root=store)
    net.hybridize(static_alloc=True)
    logits = np.concatenate([net(mx.nd.array(images[i:i + 1000])).asnumpy() for i in range(0, 10_000, 1000)])
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    assert accuracy == pytest.approx(0.974, abs=0.0005)  # v1's released model, measured; the paper reports 99.3 %
    reference = v1_reference(bmxnet_v1_dir, "lenet", images[:1000])
    np.testing.assert_allclose(logits[:1000], reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, shape", [("resnet18", (2, 3, 64, 64)), ("resnet18_cifar", (3, 3, 32, 32))])
def test_pretrained_resnets_reproduce_v1(store, bmxnet_v1_dir, name, shape):
    data = np.random.default_rng(7).uniform(-2, 2, shape).astype(np.float32)
    net = get_model(name, pretrained=True, root=store)
    logits = net(mx.nd.array(data)).asnumpy()
    np.testing.assert_allclose(logits, v1_reference(bmxnet_v1_dir, name, data), rtol=1e-4, atol=1e-4)


def test_pretrained_settings_the_weights_cannot_serve(store):
    with pytest.raises(ValueError, match="expected bits=1 and bits_a=1"):
        get_model("lenet", pretrained=True, root=store, bits=32)
    with pytest.raises(ValueError, match="10 classes, got classes=5"):
        get_model("lenet", pretrained=True, root=store, classes=5)
    with pytest.raises(ValueError, match="need pad_value=1.0"):
        get_model("resnet18", pretrained=True, root=store, pad_value=-1.0)


def test_missing_release_explains_how_to_add_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BMXNET_MODEL_URL", "http://127.0.0.1:9/models")  # no mirror reachable, fail fast
    with pytest.raises(model_store.ModelStoreError, match="python -m model_zoo.model_store add"):
        get_model("lenet", pretrained=True, root=str(tmp_path))
