"""The model store: hash-verified files, atomic add / download, clear errors that leave files untouched."""
import functools
import hashlib
import http.server
import os
import threading

import pytest

from model_zoo import get_model, model_store
from model_zoo.model_store import ModelStoreError, StoredFile

CONTENT = b"\x00weights of a tiny released model\xff" * 100


@pytest.fixture
def fake_release(monkeypatch, tmp_path):
    """Register model 'tiny' with one params file whose bytes are CONTENT; returns the source file."""
    source = tmp_path / "tiny-release.params"
    source.write_bytes(CONTENT)
    stored = StoredFile("params", source.name, hashlib.sha256(CONTENT).hexdigest(), len(CONTENT))
    monkeypatch.setitem(model_store.PRETRAINED, "tiny", (stored,))
    return source, stored


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "store"
    path.mkdir()
    return str(path)


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving ``tmp_path / 'mirror'``; yields (folder, base URL)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    handler = functools.partial(QuietHandler, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield mirror, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_store_names_carry_the_hash(fake_release):
    _, stored = fake_release
    assert stored.store_name("tiny") == f"tiny-{stored.sha256[:8]}.params"
    assert model_store.PRETRAINED["lenet"][0].store_name("lenet") == "lenet-cefcb32b-symbol.json"


def test_add_then_get(fake_release, root):
    source, stored = fake_release
    path = model_store.add_file(str(source), root)
    assert os.path.basename(path) == stored.store_name("tiny")
    assert model_store.get_model_files("tiny", root=root) == {"params": path}
    assert model_store.get_model_files("tiny", tag=stored.sha256[:6], root=root) == {"params": path}
    assert sorted(os.listdir(root)) == sorted([stored.store_name("tiny"), stored.store_name("tiny") + ".lock"])


def test_wrong_hash_is_reported_and_left_untouched(fake_release, root):
    _, stored = fake_release
    path = os.path.join(root, stored.store_name("tiny"))
    corrupt = CONTENT[:-1] + b"\x00"
    with open(path, "wb") as f:
        f.write(corrupt)
    with pytest.raises(ModelStoreError) as info:
        model_store.get_model_files("tiny", root=root, url="http://127.0.0.1:9")
    message = str(info.value)
    assert path in message and stored.sha256 in message and hashlib.sha256(corrupt).hexdigest() in message
    assert "model_store add" in message
    assert open(path, "rb").read() == corrupt


def test_truncated_file_says_so(fake_release, root):
    _, stored = fake_release
    path = os.path.join(root, stored.store_name("tiny"))
    with open(path, "wb") as f:
        f.write(CONTENT[:100])
    with pytest.raises(ModelStoreError, match=f"truncated \\(100 of {len(CONTENT):,} bytes\\)"):
        model_store.get_model_files("tiny", root=root)
    assert os.path.getsize(path) == 100


def test_add_never_overwrites_a_corrupt_store_file(fake_release, root):
    source, stored = fake_release
    path = os.path.join(root, stored.store_name("tiny"))
    with open(path, "wb") as f:
        f.write(b"junk")
    with pytest.raises(ModelStoreError, match="left untouched"):
        model_store.add_file(str(source), root)
    assert open(path, "rb").read() == b"junk"


def test_add_rejects_unregistered_files(tmp_path, root):
    other = tmp_path / "other.params"
    other.write_bytes(b"not a release")
    with pytest.raises(ModelStoreError, match="none of the registered pretrained files"):
        model_store.add_file(str(other), root)
    assert os.listdir(root) == []


def test_unknown_names_and_tags():
    with pytest.raises(ModelStoreError, match=r"expected one of \['lenet', 'lenet_32bit', 'resnet18', "
                                              r"'resnet18_cifar', 'resnet18_fp_stage1'\]"):
        model_store.get_model_files("densenet21")
    with pytest.raises(ModelStoreError, match="No pretrained weights for model 'densenet21'"):
        get_model("densenet21", pretrained=True)
    with pytest.raises(ValueError, match="Expected `name`"):
        get_model("densenet22", pretrained=True)
    with pytest.raises(ModelStoreError, match="prefix of f11c6abc"):
        model_store.get_model_files("lenet", tag="deadbeef")


def test_download_failure_names_the_url_and_the_manual_fix(fake_release, root):
    _, stored = fake_release
    url = "http://127.0.0.1:9/models"  # the discard port: nothing listens
    with pytest.raises(ModelStoreError) as info:
        model_store.get_model_files("tiny", root=root, url=url)
    message = str(info.value)
    assert f"{url}/{stored.source_name}" in message
    assert "python -m model_zoo.model_store add" in message and stored.source_name in message
    assert [n for n in os.listdir(root) if not n.endswith(".lock")] == []


def test_download_from_a_local_server(fake_release, root, http_server):
    _, stored = fake_release
    mirror, url = http_server
    (mirror / stored.source_name).write_bytes(CONTENT)
    paths = model_store.get_model_files("tiny", root=root, url=url)
    assert open(paths["params"], "rb").read() == CONTENT
    assert sorted(os.listdir(root)) == sorted([stored.store_name("tiny"), stored.store_name("tiny") + ".lock"])


def test_download_with_a_wrong_hash_saves_nothing(fake_release, root, http_server, monkeypatch):
    _, stored = fake_release
    mirror, url = http_server
    (mirror / stored.source_name).write_bytes(CONTENT[:-8] + b"tampered")
    monkeypatch.setenv("BMXNET_MODEL_URL", url)
    with pytest.raises(ModelStoreError, match="not saved"):
        model_store.get_model_files("tiny", root=root)
    assert [n for n in os.listdir(root) if not n.endswith(".lock")] == []


def test_download_from_a_file_url(fake_release, root, tmp_path):
    _, stored = fake_release
    mirror = tmp_path / "file-mirror"
    mirror.mkdir()
    (mirror / stored.source_name).write_bytes(CONTENT)
    path = model_store.get_model_files("tiny", root=root, url=mirror.as_uri())["params"]
    assert open(path, "rb").read() == CONTENT


def test_root_follows_bmxnet_home(monkeypatch, tmp_path):
    monkeypatch.setenv("BMXNET_HOME", str(tmp_path))
    assert model_store.default_root() == os.path.join(str(tmp_path), "models")
    monkeypatch.delenv("BMXNET_HOME")
    assert model_store.default_root() == os.path.join(os.path.expanduser("~"), ".bmxnet", "models")


def test_cli_add_and_list(fake_release, root, capsys):
    source, stored = fake_release
    assert model_store.main(["--root", root, "add", str(source)]) == 0
    assert model_store.main(["--root", root, "list"]) == 0
    out = capsys.readouterr().out
    assert stored.store_name("tiny") in out and "present" in out and "missing" in out
    assert model_store.main(["--root", root, "add", __file__]) == 1
