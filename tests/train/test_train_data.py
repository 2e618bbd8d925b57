"""Dataset loaders of the training tool and the deterministic, shardable batch order."""
import gzip
import json
import os

import numpy as np
import pytest

from tools.train.data import DIGITS_EVAL_COUNT, ArraySplit, epoch_batches, load_dataset


def _write_idx(path, array):
    """An idx file (unsigned bytes) as MNIST ships it, gzip-compressed."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_digits_split_is_fixed_disjoint_and_complete():
    train, held, classes = load_dataset("digits")
    assert (len(train), len(held), classes) == (1797 - DIGITS_EVAL_COUNT, DIGITS_EVAL_COUNT, 10)
    assert train.shape == (1, 28, 28)
    again, _, _ = load_dataset("digits")
    np.testing.assert_array_equal(train.images, again.images)
    train_rows = {row.tobytes() for row in train.images}
    assert not any(row.tobytes() in train_rows for row in held.images[:50])
    assert set(np.unique(held.labels)) == set(range(10))


def test_mnist_test_split_is_first_8000_then_last_2000(mnist_dir):
    train, held, _ = load_dataset("mnist-test-split", data_dir=mnist_dir)
    assert (len(train), len(held)) == (8000, 2000)
    x, y = train.batch(np.array([0, 7999]))
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == np.int32


def test_mnist_reads_idx_files_from_data_dir(tmp_path, rng):
    for prefix, count in (("train", 12), ("t10k", 5)):
        _write_idx(str(tmp_path / f"{prefix}-images-idx3-ubyte.gz"), rng.integers(0, 256, (count, 28, 28)))
        _write_idx(str(tmp_path / f"{prefix}-labels-idx1-ubyte.gz"), rng.integers(0, 10, count))
    train, held, classes = load_dataset("mnist", data_dir=str(tmp_path))
    assert (len(train), len(held), classes) == (12, 5, 10)


def test_cifar10_reads_binary_batches(tmp_path, rng):
    records = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records[name] = rng.integers(0, 256, (3, 3073)).astype(np.uint8)
        records[name][:, 0] %= 10
        records[name].tofile(str(tmp_path / name))
    train, held, _ = load_dataset("cifar10", data_dir=str(tmp_path))
    assert (len(train), len(held), train.shape) == (15, 3, (3, 32, 32))
    x, y = held.batch(np.array([1]))
    np.testing.assert_array_equal(x[0] * 255, records["test_batch.bin"][1, 1:].reshape(3, 32, 32))
    assert y[0] == records["test_batch.bin"][1, 0]


def test_cifar10_rejects_a_truncated_batch(tmp_path):
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        np.zeros(3073 + 5, np.uint8).tofile(str(tmp_path / name))
    with pytest.raises(ValueError, match="not a multiple of 3073"):
        load_dataset("cifar10", data_dir=str(tmp_path))


def _image_folder(root, rng):
    """train/ and val/ with three class sub-folders of two JPEGs each, of different sizes, as a user has them."""
    import cv2

    for part in ("train", "val"):
        for label in ("cat", "dog", "eel"):
            os.makedirs(root / part / label)
            for i in range(2):
                image = rng.integers(0, 256, (40 + 3 * i, 50, 3)).astype(np.uint8)
                assert cv2.imwrite(str(root / part / label / f"{i}.jpg"), image)


def _record_files(root, rng, count=4):
    """train.rec/.idx and val.rec/.idx packed by MXNet's own indexed RecordIO writer, labels alternating 0/1."""
    import mxnet as mx

    for part in ("train", "val"):
        record = mx.recordio.MXIndexedRecordIO(str(root / f"{part}.idx"), str(root / f"{part}.rec"), "w")
        for i in range(count):
            image = rng.integers(0, 256, (36, 44, 3)).astype(np.uint8)
            record.write_idx(i, mx.recordio.pack_img(mx.recordio.IRHeader(0, float(i % 2), i, 0), image,
                                                     img_fmt=".jpg"))
        record.close()


@pytest.mark.parametrize("name", ["image-folder", "imagenet"])
def test_image_folder_of_jpegs(tmp_path, rng, name):
    _image_folder(tmp_path, rng)
    train, held, classes = load_dataset(name, data_dir=str(tmp_path), image_size=32)
    assert (len(train), len(held), classes) == (6, 6, 3)
    x, y = train.batch(np.array([0, 5]))
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.float32
    assert list(y) == [0, 2]
    assert held.batch(np.array([3]))[0].shape == (1, 3, 32, 32)


def test_image_folder_eval_is_gluoncvs_imagenet_preset(tmp_path, rng):
    """Short side to size / 0.875 keeping the aspect ratio, centre crop, ImageNet mean / std."""
    import mxnet as mx
    from gluoncv.data.transforms.presets.imagenet import transform_eval

    _image_folder(tmp_path, rng)
    _, held, _ = load_dataset("image-folder", data_dir=str(tmp_path), image_size=32)
    image = mx.image.imread(str(tmp_path / "val" / "cat" / "1.jpg"))
    expected = transform_eval(image, resize_short=37, crop_size=32).asnumpy()[0]
    np.testing.assert_array_equal(held.batch(np.array([1]))[0][0], expected)


@pytest.mark.parametrize("name", ["recordio", "imagenet"])
def test_recordio_packed_by_mxnet(tmp_path, rng, name):
    _record_files(tmp_path, rng)
    train, held, classes = load_dataset(name, data_dir=str(tmp_path), image_size=24, record_classes=2)
    assert (len(train), len(held), classes) == (4, 4, 2)
    x, y = train.batch(np.arange(4))
    assert x.shape == (4, 3, 24, 24) and list(y) == [0, 1, 0, 1]


@pytest.mark.parametrize("kind", ["image-folder", "recordio"])
def test_the_command_line_trains_a_zoo_model_on_image_files_in_a_relative_data_dir(tmp_path, rng, monkeypatch,
                                                                                   kind):
    from tools.train.cli import main

    (tmp_path / "data").mkdir()
    (_image_folder if kind == "image-folder" else _record_files)(tmp_path / "data", rng)
    monkeypatch.chdir(tmp_path)
    assert main(["--model", "resnet18", "--dataset", kind, "--data-dir", "data", "--record-classes", "2",
                 "--image-size", "32", "--epochs", "1", "--batch-size", "4", "--no-progress",
                 "--run-dir", "run"]) == 0
    record = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")][0]
    assert 0 <= record["eval_accuracy"] <= 1


@pytest.mark.parametrize("name, missing", [("image-folder", "has no train/ folder"),
                                           ("recordio", "lacks train.rec, train.idx"),
                                           ("mnist-test-split", "lacks t10k-images-idx3-ubyte.gz")])
def test_a_missing_dataset_is_one_line_naming_data_dir(tmp_path, monkeypatch, name, missing):
    from bmxnet_ext.cli import ToolError

    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ToolError, match=rf"^dataset '{name}' not found: --data-dir {tmp_path / 'empty'} {missing}"):
        load_dataset(name, data_dir="empty")


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Expected `dataset` to be one of \['digits'"):
        load_dataset("svhn")


def test_epoch_batches_depend_only_on_seed_and_epoch():
    a = epoch_batches(100, batch_size=32, seed=1, epoch=2)
    b = epoch_batches(100, batch_size=32, seed=1, epoch=2)
    c = epoch_batches(100, batch_size=32, seed=1, epoch=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert [len(x) for x in a] == [32, 32, 32, 4]
    assert sorted(np.concatenate(a)) == list(range(100))


def test_worker_shards_are_disjoint_and_equal_sized():
    shards = [np.concatenate(epoch_batches(101, batch_size=8, seed=0, epoch=1, rank=r, num_workers=2))
              for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 50
    assert not set(shards[0]) & set(shards[1])


def test_shift_augmentation_moves_pixels_and_keeps_shape(rng):
    images = np.zeros((4, 1, 10, 10), np.float32)
    images[:, :, 5, 5] = 1
    split = ArraySplit(images, np.zeros(4, np.int32), augment="shift")
    x, _ = split.batch(np.arange(4), np.random.default_rng(0))
    assert x.shape == images.shape and np.all(x.sum(axis=(1, 2, 3)) == 1)
    assert not np.array_equal(x, images)
    np.testing.assert_array_equal(split.batch(np.arange(4))[0], images)  # no rng: no augmentation
