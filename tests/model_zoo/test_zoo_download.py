"""Downloading BMXNet v1's released files for real, from a loopback HTTP server (127.0.0.1) laid out like the
upstream folder: good files, a corrupted one, a connection dropped mid-file; a read-only store; adding a folder."""
import functools
import hashlib
import http.server
import os
import shutil
import threading

import pytest

from model_zoo import get_model, model_store
from model_zoo.model_store import ModelStoreError


class MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Serves ``directory``; ``/corrupt/NAME`` serves NAME with one byte flipped, ``/drop/NAME`` announces
    NAME's full length but closes the connection after half of it. Counts GET requests."""

    requests = []

    def do_GET(self):
        MirrorHandler.requests.append(self.path)
        mode, _, name = self.path.lstrip("/").partition("/")
        if mode not in ("corrupt", "drop"):
            return super().do_GET()
        data = open(os.path.join(self.directory, name), "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode == "corrupt":
            self.wfile.write(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
        else:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(bmxnet_v1_dir, tmp_path):
    """(base URL, folder) of a loopback server holding a copy of the v1 release folder."""
    folder = tmp_path / "mirror"
    shutil.copytree(bmxnet_v1_dir, folder)
    MirrorHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(MirrorHandler,
                                                                                 directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()
    thread.join()


def test_default_url_is_the_v1_repository_at_the_release_commit():
    assert model_store.DEFAULT_BASE_URL == ("https://raw.githubusercontent.com/hpi-xnor/BMXNet/"
                                            "8cac825b90a5a052e20954ee02b73747c2be88fa/smd_hpi/binary_models")


def test_all_five_releases_are_registered_with_their_published_hashes(bmxnet_v1_dir):
    sums = dict(reversed(line.split()) for line in open(os.path.join(bmxnet_v1_dir, "SHA256SUMS")))
    registered = {f.source_name: f for files in model_store.PRETRAINED.values() for f in files}
    assert set(registered) == set(sums)  # every released file, the 32-bit LeNet and the stage-1 ResNet too
    for name, stored in registered.items():
        assert stored.sha256 == sums[name]
        assert stored.size == os.path.getsize(os.path.join(bmxnet_v1_dir, name))


def test_download_verifies_and_places_the_files(mirror, tmp_path, monkeypatch):
    url, _ = mirror
    root = str(tmp_path / "store")
    monkeypatch.setenv("BMXNET_MODEL_URL", url)
    paths = model_store.get_model_files("lenet_32bit", root=root)
    for role, stored in zip(("symbol", "params"), model_store.PRETRAINED["lenet_32bit"]):
        assert model_store.sha256_of(paths[role]) == stored.sha256
        assert os.path.basename(paths[role]) == stored.store_name("lenet_32bit")
    assert sorted(MirrorHandler.requests) == sorted(f"/{f.source_name}" for f in model_store.PRETRAINED["lenet_32bit"])
    assert not [n for n in os.listdir(root) if n.startswith(".")]  # no temporary left behind
    model_store.get_model_files("lenet_32bit", root=root)
    assert len(MirrorHandler.requests) == 2  # present and verified: not fetched again


def test_get_model_pretrained_downloads_and_loads(mirror, tmp_path, monkeypatch):
    import mxnet as mx
    import numpy as np

    url, _ = mirror
    monkeypatch.setenv("BMXNET_MODEL_URL", url)
    net = get_model("lenet", pretrained=True, root=str(tmp_path / "store"))
    out = net(mx.nd.zeros((1, 1, 28, 28))).asnumpy()
    assert out.shape == (1, 10) and np.isfinite(out).all()


@pytest.mark.parametrize("mode,message", [("corrupt", "SHA-256"), ("drop", "connection ended early")])
def test_a_corrupted_or_cut_download_saves_nothing(mirror, tmp_path, mode, message):
    url, _ = mirror
    root = tmp_path / "store"
    with pytest.raises(ModelStoreError, match=message) as info:
        model_store.get_model_files("lenet", root=str(root), url=f"{url}/{mode}")
    assert "model_store add" in str(info.value)
    assert [n for n in os.listdir(root) if not n.endswith(".lock")] == []


def test_a_read_only_store_is_usable(mirror, tmp_path):
    url, _ = mirror
    root = tmp_path / "store"
    expected = model_store.get_model_files("resnet18_cifar", root=str(root), url=url)
    for name in os.listdir(root):
        if name.endswith(".lock"):
            os.unlink(root / name)
    os.chmod(root, 0o555)
    try:
        assert model_store.get_model_files("resnet18_cifar", root=str(root), url="http://127.0.0.1:9") == expected
        assert not [n for n in os.listdir(root) if n.endswith(".lock")]  # reading wrote nothing
    finally:
        os.chmod(root, 0o755)


def test_add_a_release_folder_skips_other_files(bmxnet_v1_dir, tmp_path, capsys):
    root = str(tmp_path / "store")
    assert model_store.main(["--root", root, "add", bmxnet_v1_dir]) == 0
    out = capsys.readouterr().out
    assert "skipped README.md" in out and "skipped SHA256SUMS" in out
    for model in model_store.pretrained_models():
        paths = model_store.get_model_files(model, root=root, url="http://127.0.0.1:9")  # all present
        assert len(paths) == 2
    digest = hashlib.sha256(open(os.path.join(bmxnet_v1_dir, "binarized_mnist_32bit-symbol.json"), "rb").read())
    assert digest.hexdigest() == model_store.PRETRAINED["lenet"][0].sha256  # the shared symbol, placed for both


def test_add_a_folder_without_releases_is_an_error(tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("not a model\n")
    root = tmp_path / "store"
    assert model_store.main(["--root", str(root), "add", str(folder)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no registered pretrained file" in err[0] and "notes" in err[0]
    assert not root.exists() or not [n for n in os.listdir(root) if not n.endswith(".lock")]
