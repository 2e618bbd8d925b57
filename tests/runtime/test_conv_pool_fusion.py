"""Load-time fusion of Convolution -> max Pooling (docs/runtime.md): where nothing else reads the convolution's
output, the convolution pools its own rows and the model's arena holds only the pooled tensor. The fused
result equals, bit for bit, the same graph run unfused (the convolution's output also a graph output, so the
fusion cannot apply), and both agree with MXNet."""
import numpy as np
import pytest

from bmx_graphs import Graph
from bmxnet_ext import bmx_format

# (name, input shape (N, C, H, W), convolution attributes, pooling attributes, BatchNorm + ReLU between them)
CASES = [
    ("resnet_stem", (1, 3, 64, 70), dict(kernel=(7, 7), stride=(2, 2), pad=(3, 3), num_filter=10),
     dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1)), True),
    ("no_pad", (1, 4, 20, 21), dict(kernel=(3, 3), pad=(1, 1), num_filter=7), dict(kernel=(2, 2), stride=(2, 2)),
     False),
    ("full_convention", (1, 3, 22, 24), dict(kernel=(3, 3), num_filter=8),
     dict(kernel=(3, 3), stride=(2, 2), pooling_convention="full"), True),
    ("odd_stride1", (1, 5, 17, 19), dict(kernel=(3, 3), pad=(1, 1), num_filter=9),
     dict(kernel=(3, 3), stride=(1, 1), pad=(1, 1)), True),
    ("stride_over_kernel", (1, 3, 23, 25), dict(kernel=(3, 3), pad=(1, 1), num_filter=6),
     dict(kernel=(2, 2), stride=(3, 3)), False),
    ("big_window", (1, 3, 26, 30), dict(kernel=(3, 3), pad=(1, 1), num_filter=5),
     dict(kernel=(5, 4), stride=(3, 3), pad=(2, 1)), True),
    ("batch2_groups", (2, 4, 40, 36), dict(kernel=(5, 5), stride=(2, 2), pad=(2, 2), num_filter=12, num_group=2),
     dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1)), True),
]


def _graph(rng, shape, conv_attrs, pool_attrs, bn_relu, pool_type="max", expose_conv=False):
    """data -> Convolution [-> BatchNorm -> ReLU] -> Pooling; outputs: the pooling [, the pooling's input]."""
    g = Graph()
    x = g.input("data", shape)
    o, groups = conv_attrs["num_filter"], conv_attrs.get("num_group", 1)
    w = rng.standard_normal((o, shape[1] // groups) + conv_attrs["kernel"]).astype(np.float32)
    h = g.op("Convolution", "conv", [x, g.param("w", w), g.param("b", rng.standard_normal(o).astype(np.float32))],
             **conv_attrs)
    if bn_relu:
        stats = [rng.uniform(0.5, 2, o), rng.standard_normal(o), rng.standard_normal(o), rng.uniform(0.5, 2, o)]
        h = g.op("BatchNorm", "bn", [h] + [g.param(f"bn{i}", s.astype(np.float32)) for i, s in enumerate(stats)],
                 eps=1e-5, fix_gamma=False)
        h = g.op("Activation", "relu", [h], act_type="relu")
    pool = g.op("Pooling", "pool", [h], pool_type=pool_type, **pool_attrs)
    return g.output(pool, h) if expose_conv else g.output(pool)


def _run(runtime, g, image, threads):
    """(outputs, arena bytes) of the graph on the runtime."""
    with runtime.Model(bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes), threads=threads) as model:
        outs = model.run(image)
        return (outs if isinstance(outs, list) else [outs]), model.memory()["arena"]


def _pair(runtime, seed, case, threads, pool_type="max", image=None):
    """Run the graph fused (only the pooling is an output) and unfused (the convolution's output too)."""
    _, shape, conv_attrs, pool_attrs, bn_relu = case
    image = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) if image is None else image
    results = []
    for expose in (False, True):
        g = _graph(np.random.default_rng(seed), shape, conv_attrs, pool_attrs, bn_relu, pool_type, expose)
        results.append(_run(runtime, g, image, threads) + (g,))
    return image, results


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fused_conv_pool_is_bit_identical_to_unfused(runtime, case, threads):
    image, ((fused, fused_arena, g), (unfused, unfused_arena, _)) = _pair(runtime, 7, case, threads)
    conv_bytes, pooled_bytes = unfused[1].nbytes, unfused[0].nbytes
    # Fused, the arena holds only the pooled output; unfused, the convolution's output lives beside it.
    assert pooled_bytes <= fused_arena < conv_bytes + pooled_bytes <= unfused_arena
    np.testing.assert_array_equal(fused[0], unfused[0])
    np.testing.assert_allclose(fused[0], g.reference({"data": image})[0], rtol=1e-4, atol=1e-4)


def test_fused_conv_pool_drops_nan_as_unfused(runtime):
    """A NaN input pixel spreads through the convolution (no ReLU here); max pooling (`v > acc ? v : acc` from
    -FLT_MAX, rows then columns in ascending order) drops it the same way fused and unfused."""
    case = CASES[1]
    image = np.random.default_rng(3).standard_normal(case[1]).astype(np.float32)
    image[0, 1, 10, 10] = np.nan
    _, ((fused, fused_arena, _), (unfused, _, _)) = _pair(runtime, 3, case, 2, image=image)
    assert fused_arena < unfused[1].nbytes + unfused[0].nbytes
    assert np.isnan(unfused[1]).sum() == 9 * unfused[1].shape[1]
    np.testing.assert_array_equal(fused[0], unfused[0])


@pytest.mark.parametrize("pool_type,shape", [("avg", (1, 3, 64, 70)), ("max", (1, 3, 64, 20))],
                         ids=["avg_pool", "narrow_rows"])
def test_conv_pool_not_fused(runtime, pool_type, shape):
    """Average pooling, and a convolution whose output rows (10 pixels) are narrower than any GEMM kernel's
    block (the packed path), keep two buffers; the results still match MXNet."""
    case = ("case", shape) + CASES[0][2:]
    image, ((outs, arena, g), _) = _pair(runtime, 5, case, 2, pool_type=pool_type)
    conv_shape = (1, 10, shape[2] // 2, shape[3] // 2)
    assert arena >= (np.prod(conv_shape) + outs[0].size) * 4
    np.testing.assert_allclose(outs[0], g.reference({"data": image})[0], rtol=1e-4, atol=1e-4)
