"""Build converted-style graphs for runtime tests and evaluate them with a reference.

A :class:`Graph` records nodes in MXNet's symbol-JSON form (standard MXNet operators plus ``BmxPack``,
``BmxBinaryConv2D``, ``BmxBinaryDense``) together with their parameters. :meth:`Graph.reference` evaluates it
node by node: standard operators run as the real MXNet operators (``mx.nd.<op>``), the three binary operators
as the plain NumPy references below (float arithmetic on +/-1 values, the contract of docs/conventions.md).
"""
import ast
import json

import mxnet as mx
import numpy as np

WORD = 64


def pack_bits(negative, axis=-1):
    """Pack a boolean array (True = -1) along ``axis`` into uint64 words, bit j of word w = element 64 w + j."""
    negative = np.moveaxis(np.asarray(negative, bool), axis, -1)
    k = negative.shape[-1]
    words = -(-k // WORD)
    padded = np.zeros(negative.shape[:-1] + (words * WORD,), bool)
    padded[..., :k] = negative
    bits = padded.reshape(negative.shape[:-1] + (words, WORD)).astype(np.uint64)
    return (bits << np.arange(WORD, dtype=np.uint64)).sum(axis=-1, dtype=np.uint64)


def unpack_signs(words, k):
    """+/-1 float64 values of the first ``k`` elements packed along the last axis of ``words``."""
    words = np.asarray(words).view(np.uint64)
    bits = (words[..., None] >> np.arange(WORD, dtype=np.uint64)) & np.uint64(1)
    bits = bits.reshape(words.shape[:-1] + (-1,))[..., :k]
    return np.where(bits == 1, -1.0, 1.0)


def ref_pack(x, scale=None, bias=None, num_group=1):
    """BmxPack: bit set iff ``scale[c] * x + bias[c] < 0`` (float32 multiply, then add)."""
    x = np.asarray(x, np.float32)
    if scale is not None:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        x = (np.asarray(scale, np.float32).reshape(shape) * x) + np.asarray(bias, np.float32).reshape(shape)
    if x.ndim == 2:
        return pack_bits(x < 0)
    n, c, h, w = x.shape
    groups = (x < 0).transpose(0, 2, 3, 1).reshape(n, h, w, num_group, c // num_group)
    return pack_bits(groups).reshape(n, h, w, -1)


def _fused_output(y, scale, bias, out_format, channel_axis):
    """int32 y, float32 scale * y + bias, or packed sign bits of that value along the channel axis."""
    if out_format == "int32":
        return y.astype(np.int32)
    shape = [1] * y.ndim
    shape[channel_axis] = -1
    v = (np.asarray(scale, np.float32).reshape(shape) * y.astype(np.float32)) + np.asarray(bias, np.float32).reshape(shape)
    if out_format == "float":
        return v
    return pack_bits(v < 0, axis=channel_axis)


def ref_binary_conv(x_words, w_words, scale, bias, kernel, stride, pad, dilate, num_filter, num_group,
                    in_channels, out_format):
    """BmxBinaryConv2D as a float convolution of +/-1 tensors padded with -1 (NumPy loops over the kernel)."""
    n, h, w, _ = x_words.shape
    g, cg = num_group, in_channels // num_group
    cwg = -(-cg // WORD)
    x = np.concatenate([unpack_signs(x_words[..., i * cwg:(i + 1) * cwg], cg) for i in range(g)], axis=-1)
    x = x.transpose(0, 3, 1, 2)  # (N, C, H, W) of +/-1
    wt = unpack_signs(w_words, cg).transpose(0, 3, 1, 2)  # (O, C/G, KH, KW)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, pad, dilate
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-1.0)
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = num_filter // g
    y = np.zeros((n, num_filter, oh, ow))
    for gi in range(g):
        xs = xp[:, gi * cg:(gi + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
                y[:, gi * og:(gi + 1) * og] += np.einsum("nchw,oc->nohw", patch, wt[gi * og:(gi + 1) * og, :, i, j])
    return _fused_output(y, scale, bias, out_format, channel_axis=1)


def ref_binary_dense(x_words, w_words, scale, bias, num_hidden, in_units, out_format):
    """BmxBinaryDense as a float matrix product of +/-1 matrices."""
    y = unpack_signs(x_words, in_units) @ unpack_signs(w_words, in_units).T
    return _fused_output(y, scale, bias, out_format, channel_axis=1)


def pack_conv_weights(w):
    """Float (O, C/G, KH, KW) -> packed words (O, KH, KW, ceil(C/G / 64)) by det_sign."""
    return pack_bits(np.asarray(w).transpose(0, 2, 3, 1) < 0)


def pack_dense_weights(w):
    return pack_bits(np.asarray(w) < 0)


def _attr_text(value):
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(str(int(v)) for v in value) + ")"
    return str(value)


class Graph:
    """A converted-style graph under construction: nodes in symbol-JSON form plus parameters."""

    def __init__(self):
        self.nodes, self.params, self.input_shapes = [], {}, {}
        self.heads = []

    def _add(self, op, name, inputs=(), attrs=None):
        self.nodes.append({"op": op, "name": name, "attrs": {k: _attr_text(v) for k, v in (attrs or {}).items()},
                           "inputs": [[i, 0, 0] for i in inputs]})
        return len(self.nodes) - 1

    def input(self, name, shape):
        self.input_shapes[name] = tuple(shape)
        return self._add("null", name)

    def param(self, name, array):
        self.params[name] = np.asarray(array)
        return self._add("null", name)

    def op(self, op, name, inputs, **attrs):
        return self._add(op, name, inputs, attrs)

    def output(self, *nodes):
        self.heads.extend(nodes)
        return self

    def symbol_json(self):
        heads = self.heads or [len(self.nodes) - 1]
        arg_nodes = [i for i, n in enumerate(self.nodes) if n["op"] == "null"]
        return {"nodes": self.nodes, "arg_nodes": arg_nodes, "heads": [[h, 0, 0] for h in heads],
                "node_row_ptr": list(range(len(self.nodes) + 1)), "attrs": {"mxnet_version": ["int", 10901]}}

    def symbol_text(self):
        return json.dumps(self.symbol_json())

    def reference(self, inputs, binary_ops="numpy"):
        """Evaluate the graph: ``inputs`` maps input names to arrays; returns the list of head values.

        ``binary_ops``: ``"numpy"`` runs the Bmx* operators as the NumPy references above, ``"mxnet"`` as the
        MXNet extension operators (``bmxnet_ext.ops``)."""
        values = self.evaluate_all(inputs, binary_ops)
        return [values[h] for h in (self.heads or [len(self.nodes) - 1])]

    def evaluate_all(self, inputs, binary_ops="numpy"):
        """Like :meth:`reference`, but the value of every node: a dict from node index to array."""
        values = {}
        for i, node in enumerate(self.nodes):
            if node["op"] == "null":
                values[i] = np.asarray(inputs[node["name"]] if node["name"] in inputs else self.params[node["name"]])
                continue
            args = [values[j] for j, _, _ in node["inputs"]]
            values[i] = _evaluate(node["op"], node["attrs"], args, binary_ops)
        return values

    def buffer_intervals(self, inputs):
        """``[(bytes, first, last)]`` of every operator output: its size rounded up to 64 bytes, the step (index
        among operator nodes) that writes it and the last step that reads it, one past the last step for a
        graph output. Each output counted as a buffer of its own: no aliasing, no fusion."""
        values = self.evaluate_all(inputs)
        step = {i: s for s, i in enumerate(i for i, n in enumerate(self.nodes) if n["op"] != "null")}
        last = {i: s for i, s in step.items()}
        for i, s in step.items():
            for j, _, _ in self.nodes[i]["inputs"]:
                if j in step:
                    last[j] = max(last[j], s)
        for h in self.heads or [len(self.nodes) - 1]:
            last[h] = len(step)
        return [(-(-values[i].nbytes // 64) * 64, s, last[i]) for i, s in step.items()]


def peak_live_bytes(intervals):
    """The most bytes live at one step for :meth:`Graph.buffer_intervals`: what any plan that never lets a
    buffer share bytes with another one live at the same step needs at least, and an optimal one often exactly."""
    steps = max(last for _, _, last in intervals) + 1
    return max(sum(size for size, first, last in intervals if first <= t <= last) for t in range(steps))


def _parse(text):
    text = text.strip()
    if text in ("True", "False"):
        return text == "True"
    try:
        return ast.literal_eval(text)  # attribute strings written by _attr_text: tuples and numbers
    except (ValueError, SyntaxError):
        return text


def _evaluate(op, attrs, args, binary_ops="numpy"):
    if binary_ops == "mxnet" and op.startswith("Bmx"):
        args = [a.view(np.int64) if a.dtype == np.uint64 else a for a in args]  # MXNet has no uint64
        out = _mxnet_op(op, attrs, args)
        return out.view(np.uint64) if out.dtype == np.int64 else out
    parsed = {k: _parse(v) for k, v in attrs.items()}
    if op == "BmxPack":
        scale, bias = (args[1], args[2]) if parsed.get("affine") else (None, None)
        return ref_pack(args[0], scale, bias, parsed.get("num_group", 1))
    if op == "BmxBinaryConv2D":
        scale, bias = (args[2], args[3]) if len(args) == 4 else (None, None)
        two = lambda key, default: tuple(parsed.get(key, default))  # noqa: E731
        return ref_binary_conv(args[0], args[1], scale, bias, two("kernel", None), two("stride", (1, 1)),
                               two("pad", (0, 0)), two("dilate", (1, 1)), parsed["num_filter"],
                               parsed.get("num_group", 1), parsed["in_channels"], parsed.get("out_format", "float"))
    if op == "BmxBinaryDense":
        scale, bias = (args[2], args[3]) if len(args) == 4 else (None, None)
        return ref_binary_dense(args[0], args[1], scale, bias, parsed["num_hidden"], parsed["in_units"],
                                parsed.get("out_format", "float"))
    return _mxnet_op(op, attrs, args)


def _mxnet_op(op, attrs, args):
    """The real MXNet operator ``op`` on NumPy arguments."""
    nd_args = [mx.nd.array(a, dtype=a.dtype) for a in args]
    kwargs = dict(attrs)
    if op == "BatchNorm":
        kwargs["use_global_stats"] = "True"
    fn = getattr(mx.nd, op, None) or getattr(mx.nd._internal, op)
    return fn(*nd_args, **kwargs).asnumpy()


def small_resnet(rng, channels=64, size=16, classes=10, binary_out="packed"):
    """A converted-style pre-activation ResNet in miniature, with every operator kind the zoo's ResNet uses:
    FP conv stem + BN + ReLU + max pool, BmxPack (BN folded), binary 3x3 convolutions (packed then float
    output), a binary 1x1 projection shortcut, elemwise_add, BN + ReLU head, global pool, FC, softmax."""
    g = Graph()

    def bn(name, x, c):
        return g.op("BatchNorm", name, [x, g.param(f"{name}_gamma", rng.uniform(0.5, 1.5, c).astype(np.float32)),
                                        g.param(f"{name}_beta", rng.standard_normal(c).astype(np.float32) * 0.1),
                                        g.param(f"{name}_mean", rng.standard_normal(c).astype(np.float32) * 0.1),
                                        g.param(f"{name}_var", rng.uniform(0.5, 2.0, c).astype(np.float32))],
                    eps=1e-5, fix_gamma=False)

    def affine(name, c, spread=1.0):
        return [g.param(f"{name}_scale", rng.uniform(0.5, 1.5, c).astype(np.float32)),
                g.param(f"{name}_bias", (rng.standard_normal(c) * spread).astype(np.float32))]

    x = g.input("data", (1, 3, size, size))
    h = g.op("Convolution", "stem", [x, g.param("stem_weight", rng.standard_normal((channels, 3, 7, 7)).astype(np.float32) * 0.1)],
             kernel=(7, 7), stride=(2, 2), pad=(3, 3), num_filter=channels, no_bias=True)
    h = g.op("Activation", "stem_relu", [bn("stem_bn", h, channels)], act_type="relu")
    h = g.op("Pooling", "stem_pool", [h], kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max")
    packed = g.op("BmxPack", "unit_pack", [h] + affine("unit_pack", channels, 0.5), affine=True)
    w1 = pack_conv_weights(rng.standard_normal((channels, channels, 3, 3)))
    c1 = g.op("BmxBinaryConv2D", "unit_conv1", [packed, g.param("unit_conv1_weight", w1)]
              + affine("unit_conv1", channels, 4.0),
              kernel=(3, 3), pad=(1, 1), num_filter=channels, in_channels=channels, out_format=binary_out)
    w2 = pack_conv_weights(rng.standard_normal((channels, channels, 3, 3)))
    c2 = g.op("BmxBinaryConv2D", "unit_conv2", [c1, g.param("unit_conv2_weight", w2)]
              + affine("unit_conv2", channels, 4.0),
              kernel=(3, 3), pad=(1, 1), num_filter=channels, in_channels=channels, out_format="float")
    ws = pack_conv_weights(rng.standard_normal((channels, channels, 1, 1)))
    sc = g.op("BmxBinaryConv2D", "unit_proj", [packed, g.param("unit_proj_weight", ws)] + affine("unit_proj", channels),
              kernel=(1, 1), num_filter=channels, in_channels=channels, out_format="float")
    h = g.op("elemwise_add", "unit_add", [c2, sc])
    h = g.op("Activation", "head_relu", [bn("head_bn", h, channels)], act_type="relu")
    h = g.op("Pooling", "head_pool", [h], kernel=(1, 1), global_pool=True, pool_type="avg")
    h = g.op("Flatten", "head_flatten", [h])
    h = g.op("FullyConnected", "head_fc", [h, g.param("head_fc_weight", rng.standard_normal((classes, channels)).astype(np.float32) * 0.1),
                                           g.param("head_fc_bias", np.zeros(classes, np.float32))], num_hidden=classes)
    probs = g.op("softmax", "head_softmax", [h], axis=1)
    return g.output(probs, c1, h)


def small_dense_net(rng, features=70, hidden=40, classes=5):
    """An MLP with binary dense layers: BmxPack, BmxBinaryDense (packed, then float), FC, softmax."""
    g = Graph()
    x = g.input("data", (2, features))
    h = g.op("BmxPack", "pack", [x])
    h = g.op("BmxBinaryDense", "fc1", [h, g.param("fc1_w", pack_dense_weights(rng.standard_normal((hidden, features)))),
                                       g.param("fc1_s", np.ones(hidden, np.float32)),
                                       g.param("fc1_b", rng.standard_normal(hidden).astype(np.float32))],
             num_hidden=hidden, in_units=features, out_format="packed")
    h = g.op("BmxBinaryDense", "fc2", [h, g.param("fc2_w", pack_dense_weights(rng.standard_normal((hidden, hidden)))),
                                       g.param("fc2_s", np.full(hidden, 0.5, np.float32)),
                                       g.param("fc2_b", np.zeros(hidden, np.float32))],
             num_hidden=hidden, in_units=hidden, out_format="float")
    h = g.op("Activation", "tanh", [h], act_type="tanh")
    h = g.op("FullyConnected", "fc3", [h, g.param("fc3_w", rng.standard_normal((classes, hidden)).astype(np.float32)),
                                       g.param("fc3_b", np.zeros(classes, np.float32))], num_hidden=classes)
    return g.output(g.op("softmax", "prob", [h], axis=-1))


def small_densenet(rng, channels=16, growth=8, size=8):
    """A dense block in miniature: binary convs whose outputs are concatenated, a transition with avg pooling
    and Pad, a global pool head."""
    g = Graph()
    x = g.input("data", (1, 3, size, size))
    h = g.op("Convolution", "stem", [x, g.param("stem_w", rng.standard_normal((channels, 3, 3, 3)).astype(np.float32))],
             kernel=(3, 3), pad=(1, 1), num_filter=channels, no_bias=True)
    for i in range(2):
        c = channels + i * growth
        p = g.op("BmxPack", f"pack{i}", [h])
        y = g.op("BmxBinaryConv2D", f"conv{i}", [p, g.param(f"w{i}", pack_conv_weights(rng.standard_normal((growth, c, 3, 3)))),
                                                 g.param(f"s{i}", np.ones(growth, np.float32)),
                                                 g.param(f"b{i}", np.zeros(growth, np.float32))],
                 kernel=(3, 3), pad=(1, 1), num_filter=growth, in_channels=c, out_format="float")
        h = g.op("Concat", f"cat{i}", [h, y], dim=1, num_args=2)
    h = g.op("Pad", "pad", [h], mode="constant", pad_width=(0, 0, 0, 0, 1, 1, 1, 1), constant_value=1.0)
    h = g.op("Pooling", "trans", [h], kernel=(2, 2), stride=(2, 2), pool_type="avg")
    h = g.op("Pooling", "gap", [h], kernel=(1, 1), global_pool=True, pool_type="max")
    return g.output(g.op("Flatten", "flat", [h]))


def write_corpus(folder):
    """The fuzzing seed corpus (native/runtime/fuzz/corpus): three small valid models, a few KB each."""
    from bmxnet_ext import bmx_format
    rng = np.random.default_rng(2018)
    for name, graph in [("resnet", small_resnet(rng, channels=8, size=8, classes=3)),
                        ("mlp", small_dense_net(rng, features=40, hidden=24)), ("densenet", small_densenet(rng))]:
        bmx_format.write_bmx(f"{folder}/{name}.bmx", graph.symbol_text(), graph.params, graph.input_shapes)


if __name__ == "__main__":
    import sys
    write_corpus(sys.argv[1])
