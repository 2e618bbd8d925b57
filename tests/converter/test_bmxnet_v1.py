"""BMXNet v1 import: the word layout, the released models read and converted, LeNet on the real MNIST test split."""
import os

import mxnet as mx
import numpy as np
import pytest

from bmxnet_ext import bmxnet_v1, ops
from bmxnet_ext.datasets import load_mnist_idx
from tools.model_converter import ConversionError, convert_bmxnet_v1

LENET = "binarized_mnist_64bit"
RESNET18 = "binarized_imagenet-resnet18-64bit"


def v1_files(directory, name, epoch):
    return os.path.join(directory, f"{name}-symbol.json"), os.path.join(directory, f"{name}-{epoch:04d}.params")


def test_v1_words_round_trip_with_set_bit_meaning_plus_one(rng):
    values = rng.standard_normal(128).astype(np.float32)
    values[5] = 0.0
    words = bmxnet_v1.pack_v1_words(values)
    assert words.dtype == np.float64 and words.size == 2
    assert int(words.view(np.uint64)[0]) & 1 == int(values[0] >= 0)  # element 0 is the least significant bit
    assert np.array_equal(bmxnet_v1.unpack_v1_words(words, 128), np.where(values >= 0, 1.0, -1.0))


def test_released_lenet_weights_unpack_to_plus_minus_one(bmxnet_v1_dir):
    model = bmxnet_v1.read_v1_model(*v1_files(bmxnet_v1_dir, LENET, 1))
    shapes = {layer.name: layer.weight_shape for layer in model.binary_layers}
    assert shapes == {"qconvolution0": (64, 64, 5, 5), "qfullyconnected0": (1000, 1024)}
    for layer in model.binary_layers:
        assert set(np.unique(model.args[layer.weight_name])) == {-1.0, 1.0}


def predict(block, images, batch=1000):
    return np.concatenate([block(mx.nd.array(images[i:i + batch])).asnumpy().argmax(axis=1)
                           for i in range(0, len(images), batch)])


@pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")
def test_v1_lenet_converted_classifies_the_mnist_test_split(bmxnet_v1_dir, mnist_dir, tmp_path):
    report = convert_bmxnet_v1(*v1_files(bmxnet_v1_dir, LENET, 1), output_dir=str(tmp_path / "lenet"),
                               input_shape=(4, 1, 28, 28))
    assert report.verification.binary_ops_checked == 2
    converted = mx.gluon.SymbolBlock.imports(str(tmp_path / "lenet" / f"{LENET}-symbol.json"), ["data"],
                                             str(tmp_path / "lenet" / f"{LENET}-0000.params"))
    images, labels = load_mnist_idx(mnist_dir)
    assert len(labels) == 10000
    accuracy = float(np.mean(predict(converted, images) == labels))
    print(f"BMXNet v1 LeNet, converted, MNIST test split (10,000 digits): accuracy {accuracy:.4f}")
    assert accuracy >= 0.97  # measured 0.9740 (the reference symbol gives the same)


@pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")
@pytest.mark.parametrize("exact", [False, True])
def test_v1_imagenet_resnet18_converts_with_its_plus_one_padding(bmxnet_v1_dir, tmp_path, exact):
    # folded: +1 padding as negated packs and weights; exact: the +/-1 tensor padded with +1, then packed
    report = convert_bmxnet_v1(*v1_files(bmxnet_v1_dir, RESNET18, 40), output_dir=str(tmp_path / "r18"),
                               input_shape=(1, 3, 64, 64), exact=exact)
    assert len(report.binary_layers) == 20 and report.verification.binary_ops_checked == 20
    if not exact:
        assert report.bytes_after <= 3.4 * 2 ** 20  # as v1's own file (3,553,824 bytes; ours 3,555,644)


def test_missing_and_corrupt_v1_files_raise_clear_errors(bmxnet_v1_dir, tmp_path):
    symbol, params = v1_files(bmxnet_v1_dir, LENET, 1)
    with pytest.raises(FileNotFoundError, match="not found"):
        bmxnet_v1.read_v1_model(symbol, str(tmp_path / "absent.params"))
    truncated = tmp_path / "truncated.params"
    truncated.write_bytes(open(params, "rb").read()[:1000])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        bmxnet_v1.read_v1_model(symbol, str(truncated))
    if ops.available():
        with pytest.raises(ConversionError, match="truncated or corrupt"):
            convert_bmxnet_v1(symbol, str(truncated), output_dir=str(tmp_path / "out"), input_shape=(1, 1, 28, 28))
        assert not os.path.exists(tmp_path / "out")
