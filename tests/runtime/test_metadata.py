"""Model metadata in .bmx files (format 1.1): written and read back, applied by the runtime to images (checked
against a NumPy reference of the convention), overridable, old 1.0 files still load with the default; the batch
size chosen at run time; a real photo through BMXNet v1's ResNet-18 gets a sensible class name."""
import os

import numpy as np
import pytest

from bmx_graphs import Graph, small_resnet
from bmxnet_ext import bmx_format, model_metadata
from bmxnet_ext.model_metadata import ModelMetadata

def identity_graph(shape):
    """input -> Flatten: the output shows exactly the input the runtime prepared."""
    g = Graph()
    x = g.input("data", shape)
    g.output(g.op("Flatten", "flat", [x]))
    return g


def write(path, graph, metadata):
    bmx_format.write_bmx(str(path), graph.symbol_text(), graph.params, graph.input_shapes, metadata)
    return str(path)


def reference_input(pixels, meta, channels, height, width):
    """NumPy statement of the convention (bmxnet_ext/model_metadata.py): colour, resize, scale/mean/std."""
    img = pixels.astype(np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    if channels == 1:
        img = img[:, :, :1] if img.shape[2] == 1 else (img[:, :, :3] @ np.array([0.299, 0.587, 0.114]))[:, :, None]
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif meta.color == "BGR":
        img = img[:, :, 2::-1]
    h, w = img.shape[:2]
    if meta.resize == "crop":
        target = np.round(min(height, width) / meta.crop_fraction)
        scale = target / min(h, w)
        rh, rw = max(height, np.round(h * scale)), max(width, np.round(w * scale))
        top, left = np.floor((rh - height) / 2), np.floor((rw - width) / 2)
    else:
        rh, rw, top, left = height, width, 0, 0
    sy = np.clip((np.arange(height) + top + 0.5) * h / rh - 0.5, 0, h - 1)
    sx = np.clip((np.arange(width) + left + 0.5) * w / rw - 0.5, 0, w - 1)
    y0, x0 = sy.astype(int), sx.astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (sy - y0)[:, None, None], (sx - x0)[None, :, None]
    v = (1 - fy) * ((1 - fx) * img[y0][:, x0] + fx * img[y0][:, x1]) + fy * ((1 - fx) * img[y1][:, x0] + fx * img[y1][:, x1])
    mean = np.resize(np.array(meta.mean), channels)
    std = np.resize(np.array(meta.std), channels)
    return ((v * meta.scale - mean) / std).transpose(2, 0, 1).astype(np.float32)


def test_metadata_round_trips_through_the_file(tmp_path):
    meta = ModelMetadata(color="BGR", scale=1.0, mean=(1.0, 2.0, 3.0), std=(4.0, 5.0, 6.0), resize="stretch",
                         labels=("cat", "dog", "ünïcode"))
    path = write(tmp_path / "m.bmx", identity_graph((1, 3, 8, 8)), meta)
    model = bmx_format.read_bmx(path)
    assert model.version == (1, 1) and model.metadata == meta


def test_runtime_reports_the_recorded_convention_and_labels(runtime, tmp_path):
    meta = model_metadata.for_dataset("cifar10")
    path = write(tmp_path / "m.bmx", identity_graph((1, 3, 8, 8)), meta)
    with runtime.Model(path) as model:
        assert model.labels == model_metadata.CIFAR10_CLASSES
        c = model.convention
        assert (c["color"], c["resize"], c["recorded"]) == ("RGB", "stretch", True)
        assert c["scale"] == pytest.approx(1 / 255) and c["mean"] == (0, 0, 0) and c["std"] == (1, 1, 1)


@pytest.mark.parametrize("meta,shape,channels_in", [
    (model_metadata.DEFAULT, (1, 3, 24, 20), 3),                        # ImageNet: crop 0.875, mean/std
    (model_metadata.BMXNET_V1, (1, 3, 16, 16), 3),                      # 0..255, no mean/std
    (ModelMetadata(color="BGR", resize="stretch", mean=(0.5,), std=(0.25,)), (1, 3, 10, 14), 4),  # RGBA in
    (model_metadata.for_dataset("digits"), (1, 1, 12, 12), 3),          # colour photo into a grey model
    (model_metadata.for_dataset("digits"), (1, 1, 12, 12), 1),          # grey image
    (model_metadata.DEFAULT, (1, 3, 16, 16), 1),                        # grey image into an RGB model
])
def test_images_become_the_input_the_convention_states(runtime, tmp_path, rng, meta, shape, channels_in):
    pixels = rng.integers(0, 256, (37, 53, channels_in), dtype=np.uint8)
    path = write(tmp_path / "m.bmx", identity_graph(shape), meta)
    with runtime.Model(path) as model:
        model.set_image(pixels[:, :, 0] if channels_in == 1 else pixels)
        model._call(model._lib.bmx_model_run, model._handle)
        got = model._outputs()[0].reshape(shape[1:])
    expected = reference_input(pixels, meta, shape[1], shape[2], shape[3])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_convention_override_and_bad_values(runtime, tmp_path, rng):
    pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    path = write(tmp_path / "m.bmx", identity_graph((1, 3, 8, 8)), model_metadata.BMXNET_V1)
    with runtime.Model(path) as model:
        model.set_convention(scale=2.0, mean=(1.0,), std=(0.5,))
        model.set_image(pixels)
        model._call(model._lib.bmx_model_run, model._handle)
        got = model._outputs()[0].reshape(3, 8, 8)
        expected = reference_input(pixels, model_metadata.BMXNET_V1.with_overrides(scale=2.0, mean=(1.0,),
                                                                                    std=(0.5,)), 3, 8, 8)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
        with pytest.raises(runtime.BmxRuntimeError, match="std has a zero value"):
            model.set_convention(std=(0.0,))
        with pytest.raises(runtime.BmxRuntimeError, match="1, 3 or 4 channels"):
            model.set_image(np.zeros((4, 4, 2), np.uint8))


def test_format_1_0_files_load_with_the_default_convention(runtime, rng):
    """A 1.0 file is a 1.1 file without the metadata section: the same bytes with minor version 0, where the
    1.1 file's zero metadata count lies in the zero padding before the first constant."""
    g = small_resnet(rng, channels=64, size=16)
    blob = bytearray(bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes))
    graph_end = bmx_format.read_bmx(bytes(blob)).graph_end
    assert blob[graph_end - 4:graph_end] == bytes(4)
    blob[10:12] = (0).to_bytes(2, "little")
    old = bmx_format.read_bmx(bytes(blob))
    assert old.version == (1, 0) and old.metadata is None and old.graph_end == graph_end - 4
    with runtime.Model(bytes(blob)) as model:
        assert model.labels == () and model.convention["recorded"] is False
        assert model.convention["mean"] == pytest.approx(model_metadata.IMAGENET_MEAN)
        x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
        np.testing.assert_allclose(model.run(x)[2], g.reference({"data": x})[2], rtol=1e-4, atol=1e-4)


def test_invalid_metadata_is_rejected_at_write_and_load(runtime, tmp_path):
    with pytest.raises(ValueError, match="GRAY"):
        ModelMetadata(color="GRAY", mean=(0.1, 0.2, 0.3))
    meta = ModelMetadata(color="GRAY", mean=(0.0,), std=(1.0,))
    blob = bytearray(bmx_format.to_bytes(identity_graph((1, 1, 4, 4)).symbol_text(), {}, {"data": (1, 1, 4, 4)},
                                         meta))
    blob[blob.index(b"GRAY"):blob.index(b"GRAY") + 4] = b"GREY"
    import struct
    import zlib
    blob[24:28] = struct.pack("<I", zlib.crc32(bytes(blob[32:])))
    with pytest.raises(runtime.BmxRuntimeError, match="metadata color is 'GREY'"):
        runtime.Model(bytes(blob))


def test_batch_size_is_chosen_at_run_time(runtime, tmp_path, rng):
    g = small_resnet(rng, channels=64, size=16)
    path = write(tmp_path / "m.bmx", g, None)
    x = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    with runtime.Model(path, threads=2) as model:
        singles = [model.run(x[i:i + 1]) for i in range(3)]
        model.set_batch_size(3)
        assert model.inputs[0][1] == (3, 3, 16, 16)
        batched = model.run(x)
    for out, parts in zip(batched, zip(*singles)):
        np.testing.assert_allclose(out, np.concatenate(parts), rtol=1e-5, atol=1e-5)
    with runtime.Model(path, batch_size=2) as model:
        assert model.outputs[0][1][0] == 2
        with pytest.raises(runtime.BmxRuntimeError, match="batch size"):
            model.set_batch_size(0)
        assert model.inputs[0][1][0] == 2  # unchanged after the rejected call


def test_v1_resnet18_names_a_real_photo(runtime, bmxnet_v1_dir, tmp_path):
    """scikit-learn's china.jpg (a Chinese temple) through BMXNet v1's ImageNet ResNet-18, converted with the
    recorded v1 convention (RGB 0..255): the top classes are buildings of that kind. ImageNet mean/std
    normalisation instead (the convention files without metadata get) gives an unrelated class."""
    from sklearn.datasets import load_sample_images

    from tools.model_converter import convert_bmxnet_v1

    name = "binarized_imagenet-resnet18-64bit"
    convert_bmxnet_v1(os.path.join(bmxnet_v1_dir, f"{name}-symbol.json"),
                      os.path.join(bmxnet_v1_dir, f"{name}-0040.params"), output_dir=str(tmp_path / "out"),
                      input_shape=(1, 3, 224, 224), output_format="bmx")
    images = load_sample_images()
    china = images.images[[os.path.basename(f) for f in images.filenames].index("china.jpg")]
    with runtime.Model(str(tmp_path / "out" / f"{name}.bmx")) as model:
        top = model.classify(china, top=5)
        assert [name for _, _, name in top[:2]] == ["bell cote", "palace"]
        assert {name for _, _, name in top} <= {"bell cote", "palace", "boathouse", "monastery", "dome", "stupa",
                                                "church", "castle"}
        model.set_convention(scale=1 / 255, mean=model_metadata.IMAGENET_MEAN, std=model_metadata.IMAGENET_STD)
        assert model.classify(china, top=1)[0][2] == "nematode"
