"""tools.web's server: three folders under one origin on 127.0.0.1, the right MIME types for ES modules and
WebAssembly, nothing outside the folders."""
import threading
import urllib.error
import urllib.request

import pytest

from tools.web.server import make_server


@pytest.fixture
def served(tmp_path):
    folders = {name: tmp_path / name for name in ("static", "wasm", "models")}
    for folder in folders.values():
        folder.mkdir()
    (folders["static"] / "index.html").write_text("<p>page</p>")
    (folders["static"] / "bmx.js").write_text("export {};")
    (folders["wasm"] / "bmx_web.wasm").write_bytes(b"\0asm\1\0\0\0")
    (folders["wasm"] / "bmx_web.mjs").write_text("export default 1;")
    (folders["models"] / "models.json").write_text('{"models": []}')
    (tmp_path / "secret.txt").write_text("outside")
    httpd = make_server(folders["wasm"], folders["models"], port=0, static_dir=folders["static"], quiet=True)
    assert httpd.server_address[0] == "127.0.0.1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.headers["Content-Type"], response.read()


def test_folders_and_types(served):
    assert _get(served + "/") == ("text/html", b"<p>page</p>")
    assert _get(served + "/bmx.js") == ("text/javascript", b"export {};")
    assert _get(served + "/wasm/bmx_web.wasm") == ("application/wasm", b"\0asm\1\0\0\0")
    assert _get(served + "/wasm/bmx_web.mjs") == ("text/javascript", b"export default 1;")
    assert _get(served + "/models/models.json") == ("application/json", b'{"models": []}')


@pytest.mark.parametrize("path", ["/../secret.txt", "/wasm/../../secret.txt", "/models/%2e%2e/secret.txt",
                                  "/wasm/missing.wasm"])
def test_nothing_outside_the_folders(served, path):
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(served + path)
    assert err.value.code == 404
