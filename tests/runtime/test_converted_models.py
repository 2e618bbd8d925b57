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
