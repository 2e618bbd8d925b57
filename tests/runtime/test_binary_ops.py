"""The binary operators (BmxPack, BmxBinaryConv2D, BmxBinaryDense) against plain NumPy references: bit-exact."""
import numpy as np
import pytest

from bmx_graphs import Graph, pack_conv_weights, pack_dense_weights


def _affine(rng, c):
    scale = rng.standard_normal(c).astype(np.float32)
    scale[::5] = 0.0  # a zero scale: the sign of the bias alone
    return scale, rng.standard_normal(c).astype(np.float32)


@pytest.mark.parametrize("shape,groups,affine", [((2, 70, 5, 4), 1, True), ((1, 130, 3, 3), 2, False),
                                                ((1, 64, 2, 2), 4, True), ((3, 200), 1, True), ((2, 7), 1, False)])
def test_pack(run_graph, rng, shape, groups, affine):
    g = Graph()
    x = g.input("data", shape)
    ins = [x]
    if affine:
        scale, bias = _affine(rng, shape[1])
        ins += [g.param("scale", scale), g.param("bias", bias)]
    g.op("BmxPack", "pack", ins, affine=affine, num_group=groups)
    data = rng.standard_normal(shape).astype(np.float32)
    data.flat[::7] = 0.0  # zero maps to +1
    (out,), (ref,) = run_graph(g, {"data": data})
    assert out.dtype == np.uint64 and out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)


def _residual_block(g, rng, c, hw, conv_first):
    """data -> pack -> binary conv (float) and a second float branch, added: the runtime fuses the addition
    into the producer of the input computed last."""
    x = g.input("data", (2, c) + hw)
    pscale, pbias = _affine(rng, c)
    packed = g.op("BmxPack", "pack", [x, g.param("pscale", pscale), g.param("pbias", pbias)], affine=True)
    scale, bias = _affine(rng, c)

    def conv():
        return g.op("BmxBinaryConv2D", "conv", [packed, g.param("weight", pack_conv_weights(
            rng.standard_normal((c, c, 3, 3)))), g.param("scale", scale), g.param("bias", bias * 5)],
            kernel=(3, 3), pad=(1, 1), num_filter=c, in_channels=c, out_format="float")

    def other():
        return g.op("Activation", "other", [x], act_type="relu")  # exact in both, unlike tanh

    first, second = (conv(), other()) if conv_first else (other(), conv())
    return x, first, second


@pytest.mark.parametrize("conv_first", [True, False])
@pytest.mark.parametrize("c,hw", [(64, (7, 9)), (37, (5, 5))])
def test_residual_addition_fused_into_binary_conv_is_exact(run_graph, rng, conv_first, c, hw):
    g = Graph()
    _, a, b = _residual_block(g, rng, c, hw, conv_first)
    g.op("elemwise_add", "add", [a, b] if conv_first else [b, a])
    (out,), (ref,) = run_graph(g, {"data": rng.standard_normal((2, c) + hw).astype(np.float32)}, threads=2)
    np.testing.assert_array_equal(out, ref)


def test_conv_output_read_twice_is_not_overwritten_by_a_fused_addition(run_graph, rng):
    g = Graph()
    _, other, conv = _residual_block(g, rng, 16, (6, 6), conv_first=False)
    total = g.op("elemwise_add", "add", [conv, other])
    g.op("elemwise_add", "add2", [total, conv])  # the conv's own output is still needed after the addition
    (out,), (ref,) = run_graph(g, {"data": rng.standard_normal((2, 16, 6, 6)).astype(np.float32)}, threads=2)
    np.testing.assert_array_equal(out, ref)


CONV_CASES = [
    # in_channels, filters, kernel, stride, pad, dilate, groups, hw
    (64, 64, (3, 3), (1, 1), (1, 1), (1, 1), 1, (7, 7)),
    (70, 33, (3, 3), (2, 2), (1, 1), (1, 1), 1, (9, 8)),
    (130, 65, (1, 1), (2, 2), (0, 0), (1, 1), 1, (6, 6)),
    (96, 40, (3, 3), (1, 1), (2, 2), (2, 2), 2, (8, 7)),
    (5, 3, (5, 3), (1, 2), (2, 0), (1, 1), 1, (9, 9)),
]


@pytest.mark.parametrize("out_format", ["float", "packed", "int32"])
@pytest.mark.parametrize("c,o,kernel,stride,pad,dilate,groups,hw", CONV_CASES)
def test_binary_conv(run_graph, rng, out_format, c, o, kernel, stride, pad, dilate, groups, hw):
    g = Graph()
    x = g.input("data", (2, c) + hw)
    pscale, pbias = _affine(rng, c)
    packed = g.op("BmxPack", "pack", [x, g.param("pscale", pscale), g.param("pbias", pbias)], affine=True,
                  num_group=groups)
    weight = pack_conv_weights(rng.standard_normal((o, c // groups) + kernel))
    scale, bias = _affine(rng, o)
    bias *= 5
    g.op("BmxBinaryConv2D", "conv", [packed, g.param("weight", weight.view(np.int64)), g.param("scale", scale),
                                     g.param("bias", bias)],
         kernel=kernel, stride=stride, pad=pad, dilate=dilate, num_filter=o, num_group=groups, in_channels=c,
         out_format=out_format)
    (out,), (ref,) = run_graph(g, {"data": rng.standard_normal((2, c) + hw).astype(np.float32)}, threads=2)
    assert out.dtype == ref.dtype and out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("out_format", ["float", "packed", "int32"])
@pytest.mark.parametrize("k,o", [(64, 10), (300, 129), (1000, 64)])
def test_binary_dense(run_graph, rng, out_format, k, o):
    g = Graph()
    x = g.input("data", (3, k))
    pscale, pbias = _affine(rng, k)
    packed = g.op("BmxPack", "pack", [x, g.param("pscale", pscale), g.param("pbias", pbias)], affine=True)
    scale, bias = _affine(rng, o)
    g.op("BmxBinaryDense", "dense", [packed, g.param("weight", pack_dense_weights(rng.standard_normal((o, k)))),
                                     g.param("scale", scale), g.param("bias", bias * 3)],
         num_hidden=o, in_units=k, out_format=out_format)
    (out,), (ref,) = run_graph(g, {"data": rng.standard_normal((3, k)).astype(np.float32)})
    assert out.dtype == ref.dtype and out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)


def test_chain_of_packed_layers(run_graph, rng):
    """Packed activations flow from one binary convolution into the next (BatchNorm + sign folded)."""
    g = Graph()
    x = g.input("data", (1, 96, 10, 10))
    h = g.op("BmxPack", "pack", [x])
    for i, (c, o, out_format) in enumerate([(96, 128, "packed"), (128, 70, "packed"), (70, 32, "float")]):
        scale, bias = _affine(rng, o)
        weight = pack_conv_weights(rng.standard_normal((o, c, 3, 3)))
        h = g.op("BmxBinaryConv2D", f"conv{i}", [h, g.param(f"w{i}", weight), g.param(f"s{i}", scale),
                                                 g.param(f"b{i}", bias * 4)],
                 kernel=(3, 3), pad=(1, 1), num_filter=o, in_channels=c, out_format=out_format)
        g.output(h)
    outs, refs = run_graph(g, {"data": rng.standard_normal((1, 96, 10, 10)).astype(np.float32)}, threads=2)
    for out, ref in zip(outs, refs):
        np.testing.assert_array_equal(out, ref)
