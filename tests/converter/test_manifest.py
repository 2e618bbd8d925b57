"""The converter's integrity manifest: written with every converted model, checked by ``import_converted``."""
import hashlib
import json
import os

import mxnet as mx
import numpy as np
import pytest

from bmxnet_ext import ops
from bmxnet_ext.manifest import MANIFEST_NAME, CorruptModelError, import_converted, verify_manifest
from model_zoo import get_model
from tools.model_converter import convert_block

pytestmark = pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")
SHAPE = (1, 1, 28, 28)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    net = get_model("lenet")
    net.initialize(mx.init.Xavier())
    report = convert_block(net, output_dir=str(tmp_path_factory.mktemp("c") / "lenet"), input_shape=SHAPE)
    return net, report


@pytest.fixture
def model(converted, tmp_path):
    """A fresh copy of the converted folder: (folder, symbol file, params file)."""
    _, report = converted
    folder = tmp_path / "lenet"
    folder.mkdir()
    for name in report.files:
        (folder / name).write_bytes(open(os.path.join(report.output_dir, name), "rb").read())
    return str(folder), str(folder / "model-symbol.json"), str(folder / "model-0000.params")


def test_manifest_lists_every_file_with_size_and_sha256(converted):
    _, report = converted
    assert report.files[-1] == MANIFEST_NAME
    manifest = json.load(open(os.path.join(report.output_dir, MANIFEST_NAME)))
    assert sorted(manifest["files"]) == sorted(report.files[:-1])
    for name, entry in manifest["files"].items():
        data = open(os.path.join(report.output_dir, name), "rb").read()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_import_converted_loads_a_verified_model(converted, model):
    net, _ = converted
    _, symbol, params = model
    block = import_converted(symbol, params)
    x = mx.nd.array(np.random.default_rng(0).standard_normal(SHAPE))
    assert np.allclose(block(x).asnumpy(), net(x).asnumpy(), atol=1e-3)


@pytest.mark.parametrize("damage, match", [
    (lambda folder, params: open(params, "r+b").write(b"\xff"), "model-0000.params' is corrupt"),
    (lambda folder, params: open(params, "ab").write(b"\0"), "model-0000.params' is corrupt"),
    (lambda folder, params: os.truncate(params, 100), "expected .* bytes"),
    (lambda folder, params: os.unlink(params), "model-0000.params'.*is missing"),
    (lambda folder, params: os.unlink(os.path.join(folder, MANIFEST_NAME)), "has no MANIFEST.json"),
    (lambda folder, params: open(os.path.join(folder, MANIFEST_NAME), "w").write("{"), "unreadable or corrupt"),
    (lambda folder, params: open(os.path.join(folder, MANIFEST_NAME), "w").write('{"format": "x", "files": {}}'),
     "unreadable or corrupt"),
])
def test_damaged_models_are_refused_naming_the_file(model, damage, match):
    folder, symbol, params = model
    damage(folder, params)
    with pytest.raises(CorruptModelError, match=match):
        import_converted(symbol, params)


def test_a_manifest_that_omits_a_file_is_refused(model):
    folder, symbol, params = model
    path = os.path.join(folder, MANIFEST_NAME)
    manifest = json.load(open(path))
    del manifest["files"]["model-0000.params"]
    json.dump(manifest, open(path, "w"))
    assert verify_manifest(folder) == ["model-symbol.json"]
    with pytest.raises(CorruptModelError, match="does not list.*model-0000.params"):
        import_converted(symbol, params)


def test_a_manifest_cannot_point_outside_its_folder(model):
    folder, symbol, params = model
    path = os.path.join(folder, MANIFEST_NAME)
    manifest = json.load(open(path))
    manifest["files"]["../escape"] = {"bytes": 0, "sha256": hashlib.sha256(b"").hexdigest()}
    json.dump(manifest, open(path, "w"))
    with pytest.raises(CorruptModelError, match="escape"):
        verify_manifest(folder)
