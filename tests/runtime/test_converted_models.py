"""Models converted by tools.model_converter (--format bmx) run on the runtime and agree with the same
converted model running inside MXNet (whose binary operators use the same native kernels)."""
import os

import mxnet as mx
import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _convert_both(tmp_path, convert, *args, input_shape, **kwargs):
    """Convert to MXNet and .bmx formats; returns (MXNet SymbolBlock, runtime Model)."""
    from bmxnet_ext import runtime
    import bmxnet_ext.ops  # noqa: F401  registers the Bmx* operators in MXNet
    convert(*args, output_dir=str(tmp_path / "mx"), input_shape=input_shape, prefix="model", **kwargs)
    convert(*args, output_dir=str(tmp_path / "bmx"), input_shape=input_shape, output_format="bmx", prefix="model",
            **kwargs)
    net = mx.gluon.SymbolBlock.imports(str(tmp_path / "mx" / "model-symbol.json"), ["data"],
                                       str(tmp_path / "mx" / "model-0000.params"))
    return net, runtime.Model(str(tmp_path / "bmx" / "model.bmx"), threads=2)


def _compare(net, model, x):
    ref = net(mx.nd.array(x)).asnumpy()
    out = model.run(x)
    assert out.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-3 * scale)
    assert (out.argmax(axis=1) == ref.argmax(axis=1)).all()


@pytest.mark.parametrize("name,size", [("resnet18", 96), ("densenet21_k140", 64)])
def test_zoo_model_runs_like_mxnet(runtime, tmp_path, rng, name, size):
    import model_zoo
    from tools.model_converter import convert_block
    mx.random.seed(3)
    block = model_zoo.get_model(name, bits=1)
    block.initialize(mx.init.Xavier())
    net, model = _convert_both(tmp_path, convert_block, block, input_shape=(1, 3, size, size))
    for _ in range(2):
        _compare(net, model, rng.standard_normal((1, 3, size, size)).astype(np.float32))


def test_bmxnet_v1_imagenet_resnet18_runs(runtime, tmp_path, bmxnet_v1_dir, rng):
    """BMXNet v1's released ImageNet ResNet-18, imported by the converter, runs on the runtime."""
    from tools.model_converter import convert_bmxnet_v1
    prefix = os.path.join(bmxnet_v1_dir, "binarized_imagenet-resnet18-64bit")
    if not os.path.exists(prefix + "-0040.params"):
        pytest.skip("BMXNet v1 ImageNet ResNet-18 not found")
    net, model = _convert_both(tmp_path, convert_bmxnet_v1, prefix + "-symbol.json", prefix + "-0040.params",
                               input_shape=(1, 3, 224, 224))
    x = rng.uniform(-2, 2, (1, 3, 224, 224)).astype(np.float32)
    _compare(net, model, x)


def test_bmxnet_v1_lenet_via_cli_classifies_mnist_like_mxnet(runtime, tmp_path, bmxnet_v1_dir, mnist_dir):
    """`python -m tools.model_converter ... --format bmx` on BMXNet v1's MNIST LeNet; on the 10,000 real test
    digits the runtime predicts what the converted model predicts inside MXNet."""
    import subprocess
    import sys
    from bmxnet_ext.datasets import load_mnist_idx
    prefix = os.path.join(bmxnet_v1_dir, "binarized_mnist_64bit")
    batch = 100
    for fmt in ("bmx", "mxnet"):
        proc = subprocess.run([sys.executable, "-m", "tools.model_converter", prefix + "-symbol.json",
                               prefix + "-0001.params", "-o", str(tmp_path / fmt), "--format", fmt,
                               "--input-shape", f"{batch},1,28,28", "--prefix", "lenet"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
    import bmxnet_ext.ops  # noqa: F401
    net = mx.gluon.SymbolBlock.imports(str(tmp_path / "mxnet" / "lenet-symbol.json"), ["data"],
                                       str(tmp_path / "mxnet" / "lenet-0000.params"))
    images, labels = load_mnist_idx(mnist_dir)
    ours, theirs = [], []
    with runtime.Model(str(tmp_path / "bmx" / "lenet.bmx"), threads=2) as model:
        for i in range(0, len(images), batch):
            ours.append(model.run(images[i:i + batch]).argmax(axis=1))
            theirs.append(net(mx.nd.array(images[i:i + batch])).asnumpy().argmax(axis=1))
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    accuracy = float(np.mean(ours == labels))
    print(f"BMXNet v1 LeNet on the runtime, 10,000 MNIST test digits: accuracy {accuracy:.4f}")
    assert np.mean(ours == theirs) >= 0.999
    assert accuracy >= 0.97  # MXNet gives 0.9740 on the converted model
