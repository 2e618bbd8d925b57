"""The demo page in headless Chromium, served by tools.web's server: real MNIST digits drawn on the pad are
classified by the binary LeNet shown on the page, a photo by the ImageNet ResNet-18; a screenshot is saved."""
import base64
import os
import threading
import urllib.parse

import numpy as np
import pytest

from .chromium import Browser, find_chromium
from .wasm import REPO

SCREENSHOT = os.environ.get("BMX_WEB_SCREENSHOT", os.path.join(REPO, "build", "web", "demo-page.png"))
STATE = "document.body.dataset.state !== 'loading' && document.body.dataset.state"
TOP = "[...document.querySelectorAll('#{}-top li')].map(li => [Number(li.dataset.index), li.textContent])"


def _data_url(kind, image):
    import cv2
    ok, data = cv2.imencode("." + kind, image)
    assert ok
    return f"data:image/{'jpeg' if kind == 'jpg' else kind};base64," + base64.b64encode(data.tobytes()).decode()


@pytest.fixture(scope="module")
def demo_server(wasm_dir, bmxnet_v1_dir):
    """tools.web's server on a free port, with the demo models converted once into build/web/models."""
    from tools.web import models, server
    models_dir = os.path.join(REPO, "build", "web", "models")
    models.prepare(models_dir, source_dir=bmxnet_v1_dir)
    httpd = server.make_server(wasm_dir, models_dir, port=0, quiet=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    yield f"http://{host}:{port}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.skip("Chromium not found (Debian: apt-get install chromium)")
    with Browser(executable) as b:
        yield b


@pytest.mark.slow
def test_page_classifies_drawn_digits_and_a_photo(demo_server, browser, mnist_dir):
    import cv2
    from sklearn.datasets import load_sample_images

    from bmxnet_ext.datasets import read_idx
    digits = read_idx(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz"))[:3]
    labels = read_idx(os.path.join(mnist_dir, "t10k-labels-idx1-ubyte.gz"))[:3]
    photo = cv2.cvtColor(load_sample_images().images[0], cv2.COLOR_RGB2BGR)  # scikit-learn's china.jpg
    photo = cv2.resize(photo, (320, 240), interpolation=cv2.INTER_AREA)
    for i, (digit, label) in enumerate(zip(digits, labels)):
        query = {"digit": _data_url("png", cv2.resize(digit, (280, 280), interpolation=cv2.INTER_NEAREST))}
        if i == len(digits) - 1:
            query["photo"] = _data_url("jpg", photo)
        assert browser.open(demo_server + "?" + urllib.parse.urlencode(query), STATE) == "ready", \
            browser.evaluate("document.getElementById('status').textContent")
        top = browser.evaluate(TOP.format("digits"))
        assert top[0][0] == label, top
        assert len(top) == 3 and top[0][1].startswith(f"{label} — ")
        latency = browser.evaluate("document.getElementById('digits-latency').textContent")
        assert latency.endswith(" ms)") and "median of the last 1:" in latency
    assert "binary kernels: wasm_simd" in browser.evaluate("document.getElementById('status').textContent")
    from gluoncv.data.imagenet.classification import ImageNet1kAttr
    classes = ImageNet1kAttr().classes
    photos = browser.evaluate(TOP.format("photos"))
    assert len(photos) == 3 and all(text.startswith(classes[index] + " — ") for index, text in photos)
    shares = [float(text.split(" — ")[1].split(" %")[0]) for _, text in photos]
    assert shares == sorted(shares, reverse=True) and 0 < shares[0] <= 100
    os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
    browser.screenshot(SCREENSHOT)
    shot = cv2.imread(SCREENSHOT)
    assert shot is not None and shot.shape[:2] == (760, 1000) and np.ptp(shot) > 0
