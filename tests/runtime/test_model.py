"""Whole converted-style models on the runtime: outputs, threads, memory plan, the C API's error paths."""
import numpy as np
import pytest

from bmx_graphs import Graph, peak_live_bytes, small_dense_net, small_densenet, small_resnet, write_corpus
from bmxnet_ext import bmx_format


@pytest.mark.parametrize("threads", [1, 2])
def test_small_resnet_matches_reference(run_graph, rng, threads):
    """Packed activations inside the binary unit are bit-exact; float outputs agree to float tolerance."""
    g = small_resnet(rng, channels=70, size=32)
    image = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    (probs, packed, logits), (ref_probs, ref_packed, ref_logits) = run_graph(g, {"data": image}, threads=threads)
    np.testing.assert_array_equal(packed, ref_packed)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probs, ref_probs, rtol=1e-4, atol=1e-6)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_results_identical_across_threads_and_runs(runtime, rng):
    g = small_resnet(rng, channels=64, size=32)
    blob = bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes)
    images = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32) for _ in range(2)]
    with runtime.Model(blob, threads=1) as one, runtime.Model(blob, threads=2) as two:
        for image in images + images:
            for a, b in zip(one.run(image), two.run(image)):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("build,pooled_in_cache", [
    (lambda rng: small_resnet(rng, channels=64, size=64), ("stem", "stem_bn", "stem_relu")),
    (small_densenet, ()), (small_dense_net, ())], ids=["resnet", "densenet", "dense_net"])
def test_memory_plan_reuses_buffers(runtime, rng, build, pooled_in_cache):
    """The arena holds the largest intermediate the runtime writes (not the ResNet stem's convolution output,
    which the convolution max-pools row by row itself: `pooled_in_cache`), is strictly smaller than all
    intermediates side by side (a plan without reuse) and fits in the peak of bytes live at one step counted
    without fusion or aliasing (fusion and aliasing only merge buffers, shrink them and shorten lifetimes, so
    a plan that reuses freed bytes well needs no more)."""
    g = build(rng)
    intervals = g.buffer_intervals({name: rng.standard_normal(shape).astype(np.float32)
                                    for name, shape in g.input_shapes.items()})
    with runtime.Model(bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes)) as model:
        arena = model.memory()["arena"]
    sizes = [size for size, _, _ in intervals]
    steps = [node["name"] for node in g.nodes if node["op"] != "null"]
    written = [size for size, name in zip(sizes, steps) if name not in pooled_in_cache]
    assert max(written) <= arena <= peak_live_bytes(intervals) < sum(sizes)
    assert arena < max(sizes) or not pooled_in_cache


def _unfused_chain():
    """A graph the runtime runs node by node (no fusion, no aliasing): a full-resolution chain of
    element-wise operators with a skip connection, max pooling, a low-resolution chain, a concat of both
    resolutions' ends and a global pool."""
    g = Graph()
    x = g.input("data", (1, 8, 32, 32))
    skip = h = g.op("_mul_scalar", "scale", [x], scalar=0.5)
    for i, act in enumerate(["tanh", "sigmoid", "softrelu", "tanh"]):
        h = g.op("Activation", f"act{i}", [h], act_type=act)
        h = g.op("_plus_scalar", f"shift{i}", [h], scalar=0.1 * i)
    h = g.op("elemwise_add", "skip_add", [h, skip])
    down = h = g.op("Pooling", "pool", [h], kernel=(2, 2), stride=(2, 2), pool_type="max")
    for i in range(3):
        h = g.op("Activation", f"low{i}", [h], act_type="tanh")
    h = g.op("Concat", "cat", [h, down], dim=1, num_args=2)
    return g.output(g.op("Pooling", "gap", [h], kernel=(1, 1), global_pool=True, pool_type="avg"))


def test_memory_plan_near_peak_liveness(run_graph, runtime, rng):
    """Without fusion every operator output is a buffer live from its writer to its last reader: the arena is
    at least the peak of bytes live at one step (live buffers never share bytes), at most 10 % above it (dead
    buffers' bytes are reused), and the outputs still match MXNet."""
    g = _unfused_chain()
    inputs = {"data": rng.standard_normal((1, 8, 32, 32)).astype(np.float32)}
    intervals = g.buffer_intervals(inputs)
    peak = peak_live_bytes(intervals)
    assert 3 * peak < sum(size for size, _, _ in intervals)  # the graph leaves much to reuse
    with runtime.Model(bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes)) as model:
        arena = model.memory()["arena"]
    assert peak <= arena <= 1.1 * peak
    (out,), (ref,) = run_graph(g, inputs)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_reader_round_trip(rng):
    g = small_resnet(rng, channels=64, size=16)
    model = bmx_format.read_bmx(bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes))
    assert model.version == bmx_format.VERSION
    consts = {t["name"]: t for t in model.tensors if t["kind"] == bmx_format.KIND_CONSTANT}
    np.testing.assert_array_equal(consts["unit_conv1_weight"]["array"], g.params["unit_conv1_weight"])
    assert consts["unit_conv1_weight"]["dtype"] == bmx_format.DTYPE_UINT64
    conv = next(n for n in model.nodes if n["name"] == "stem")
    assert conv["attrs"]["stride"] == (2, 2) and conv["attrs"]["num_group"] == (1,)
    assert conv["attrs"]["dilate"] == ()  # an MXNet default left for the runtime: 1 per spatial axis


def test_run_errors_name_the_problem(runtime, rng):
    g = small_resnet(rng, channels=64, size=16)
    with runtime.Model(bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes)) as model:
        with pytest.raises(ValueError, match=r"shape \(1, 3, 16, 16\)"):
            model.run(np.zeros((1, 3, 8, 8), np.float32))
        with pytest.raises(runtime.BmxRuntimeError, match="threads"):
            model.set_threads(0)


def test_writer_rejects_unknown_operators_and_attributes():
    g = Graph()
    g.op("Custom", "mystery", [g.input("data", (1, 4))])
    with pytest.raises(ValueError, match="operator 'Custom'"):
        bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes)
    g = Graph()
    g.op("Activation", "act", [g.input("data", (1, 4))], act_type="relu", slope=0.1)
    with pytest.raises(ValueError, match="slope"):
        bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes)


def test_runtime_rejects_invalid_graphs(runtime):
    """A structurally valid file whose operator semantics are wrong gets a clear load error."""
    g = Graph()
    x = g.input("data", (1, 3, 8, 8))
    g.op("Convolution", "conv", [x, g.param("w", np.zeros((4, 2, 3, 3), np.float32))], kernel=(3, 3),
         num_filter=4, no_bias=True)
    with pytest.raises(runtime.BmxRuntimeError, match=r"weight 'w' to have shape \(4, 3, 3, 3\)"):
        runtime.Model(bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes))
    g = Graph()
    g.op("Activation", "act", [g.input("data", (1, 4))], act_type="gelu")
    with pytest.raises(runtime.BmxRuntimeError, match="unsupported.*gelu"):
        runtime.Model(bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes))


@pytest.mark.parametrize("expose", [(), ("conv",), ("bn",), ("conv", "bn")])
def test_conv_batchnorm_relu_fusion_keeps_every_read_value(run_graph, rng, expose):
    """Convolution -> BatchNorm -> ReLU is fused at load time only where nothing else reads the intermediate
    values; graph outputs that expose them still see the unfused values."""
    g = Graph()
    x = g.input("data", (1, 3, 12, 12))
    conv = g.op("Convolution", "conv", [x, g.param("w", rng.standard_normal((8, 3, 3, 3)).astype(np.float32)),
                                        g.param("b", rng.standard_normal(8).astype(np.float32))],
                kernel=(3, 3), pad=(1, 1), num_filter=8)
    stats = [rng.uniform(0.5, 2, 8), rng.standard_normal(8), rng.standard_normal(8), rng.uniform(0.5, 2, 8)]
    bn = g.op("BatchNorm", "bn", [conv] + [g.param(f"bn{i}", s.astype(np.float32)) for i, s in enumerate(stats)],
              eps=1e-5, fix_gamma=False)
    relu = g.op("Activation", "relu", [bn], act_type="relu")
    g.output(relu, *[{"conv": conv, "bn": bn}[name] for name in expose])
    outs, refs = run_graph(g, {"data": rng.standard_normal((1, 3, 12, 12)).astype(np.float32)})
    assert len(outs) == 1 + len(expose)
    for out, ref in zip(outs, refs):
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("builder", [small_dense_net, small_densenet])
def test_other_small_models_match_reference(run_graph, rng, builder):
    g = builder(rng)
    name, shape = next(iter(g.input_shapes.items()))
    outs, refs = run_graph(g, {name: rng.standard_normal(shape).astype(np.float32)}, threads=2)
    for out, ref in zip(outs, refs):
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_fuzz_corpus_is_current(runtime, tmp_path):
    """The seed corpus in the repository loads and runs, and equals what write_corpus produces now."""
    import os
    corpus = os.path.join(os.path.dirname(__file__), "..", "..", "native", "runtime", "fuzz", "corpus")
    write_corpus(str(tmp_path))
    names = sorted(os.listdir(corpus))
    assert names == sorted(os.listdir(tmp_path))
    for name in names:
        with open(os.path.join(corpus, name), "rb") as f:
            data = f.read()
        assert data == (tmp_path / name).read_bytes(), f"regenerate: python tests/runtime/bmx_graphs.py {corpus}"
        with runtime.Model(data) as model:
            model.run(*[np.ones(shape, dtype) for _, shape, dtype in model.inputs])


def test_small_resnet_matches_mxnet_extension_operators(runtime, rng):
    """Against the converted model's operators inside MXNet (bmxnet_ext.ops): packed activations identical."""
    from bmxnet_ext import ops
    try:
        ops.load()
    except ImportError as err:
        pytest.skip(str(err))
    g = small_resnet(rng, channels=130, size=32)
    image = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    with runtime.Model(bmx_format.to_bytes(g.symbol_text(), g.params, g.input_shapes), threads=2) as model:
        probs, packed, logits = model.run(image)
    ref_probs, ref_packed, ref_logits = g.reference({"data": image}, binary_ops="mxnet")
    np.testing.assert_array_equal(packed, ref_packed)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probs, ref_probs, rtol=1e-4, atol=1e-6)
