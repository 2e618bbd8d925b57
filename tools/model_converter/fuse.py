"""Fuse each binary layer of a converted graph with its neighbours into one MXNet operator call.

At batch 1 a converted model spends most of its time in MXNet's per-operator overhead, not in the kernels, so
the MXNet output format merges, where an intermediate value has exactly one reader and is not an output:

- ``BmxPack`` (with or without its affine) into the ``BmxBinaryConv2D`` / ``BmxBinaryDense`` reading it
  (``in_format="float"``, ``in_affine``); a ``Flatten`` before a dense layer's pack goes too (the fused dense
  layer flattens its float input itself);
- ``elemwise_add`` of a binary convolution's float output and another tensor into the convolution
  (``residual=True``: ``(scale * y + bias) + r``, the same float32 sum in the same order);
- ``Activation`` ``relu`` (and ``tanh`` unless ``exact``) after a binary layer's float output (``act_type``);
- ``Pooling`` ``max`` (``valid`` convention, no padding) after a binary convolution's float output
  (``pool_kernel``, ``pool_stride``).

One float reordering is made as well (not in ``exact`` mode): an ``Activation`` ``tanh`` read only by a max
``Pooling`` is moved after it. ``tanh`` is non-decreasing, so ``max(tanh(a), tanh(b)) = tanh(max(a, b))``:
the same values from a ``tanh`` over 1 / (pool window) of the elements (LeNet's 2 x 2 pooling: a quarter).
(``relu`` stays before the pooling: oneDNN fuses it into the preceding float ``Convolution``.)

The fused node takes the name and the place of the last node of its chain, so every value it replaces keeps
its name. :func:`verify_fusion` runs both graphs on one random input and requires every fused node's output to
equal the unfused node of that name bit for bit (``tanh``: within :data:`TANH_ATOL`, the fused operator uses
the native core's vectorised tanh, the standalone runtime's, MXNet its own approximation). The standalone
runtime's format is never fused: the runtime fuses at load time (``docs/runtime.md``).
"""
from dataclasses import dataclass, field

import numpy as np

from .graph import Graph, Node
from .verify import OUTPUT_RTOL, VerificationError, run_symbol

__all__ = ["Fusion", "fuse", "verify_fusion", "TANH_ATOL"]

BINARY_OPS = ("BmxBinaryConv2D", "BmxBinaryDense")
TANH_ATOL = 1e-6
"""Largest difference allowed between the fused ``tanh`` (the native core's vectorised tanh, within 1.5 ulp)
and MXNet's ``Activation``."""


@dataclass
class Fusion:
    """One fused node: ``name`` (the last node of its chain) and the ops of the nodes it replaces, in order."""

    name: str
    ops: list = field(default_factory=list)
    reordered: bool = False  # the nodes stay, in another order (tanh after max pooling); nothing is merged

    @property
    def bit_exact(self):
        return "Activation(tanh)" not in self.ops


def _pair(text, default):
    values = [int(v) for v in str(text).strip("()[] ").replace(",", " ").split()] if text is not None else default
    return tuple(values * 2 if len(values) == 1 else values)


def _max_pool_attrs(node):
    """``{pool_kernel, pool_stride}`` for a Pooling node the fused convolution can compute, else None."""
    a = node.attrs
    kernel = _pair(a.get("kernel"), ())
    if (a.get("pool_type", "max") != "max" or a.get("global_pool", "False") in ("True", "1", "true")
            or a.get("pooling_convention", "valid") != "valid" or a.get("layout", "NCHW") != "NCHW"
            or len(kernel) != 2 or any(_pair(a.get("pad"), [0, 0])) or a.get("p_value") not in (None, "None")
            or a.get("count_include_pad") not in (None, "None", "True")):
        return None
    stride = _pair(a.get("stride"), [1, 1])
    return {"pool_kernel": f"({kernel[0]}, {kernel[1]})", "pool_stride": f"({stride[0]}, {stride[1]})"}


class _Fuser:
    def __init__(self, graph, exact):
        self.nodes = [Node(op=n.op, name=n.name, attrs=dict(n.attrs), inputs=list(n.inputs)) for n in graph.nodes]
        self.graph = graph
        self.exact = exact
        users = graph.consumers()
        self.single = {i for i, u in users.items() if len(u) == 1 and u[0] >= 0}
        self.removed = set()
        self.fusions = {}  # final node index -> Fusion

    def sole(self, entry, op):
        """The node of ``entry`` if it is an ``op`` node read only once (by the caller), else None."""
        src, out = entry
        node = self.nodes[src]
        return node if out == 0 and node.op == op and src in self.single and src not in self.removed else None

    def record(self, absorbed, into, label):
        """Node ``absorbed`` is merged into index ``into``; ``label`` names the absorbed operation."""
        fusion = self.fusions.pop(absorbed, None) or Fusion(name="", ops=[self.nodes[absorbed].op])
        fusion.ops.append(label)
        fusion.name = self.nodes[into].name
        self.fusions[into] = fusion
        self.removed.add(absorbed)

    def fuse_input(self, i, node):
        """BmxPack (and a dense layer's Flatten) into binary layer ``i``."""
        if node.attrs.get("in_format", "packed") != "packed":
            return
        pack_index = node.inputs[0][0]
        pack = self.sole(node.inputs[0], "BmxPack")
        if pack is None:
            return
        data = pack.inputs[0]
        flatten = self.sole(data, "Flatten") if node.op == "BmxBinaryDense" else None
        if flatten is not None:
            self.removed.add(data[0])
            data = flatten.inputs[0]
        affine = pack.attrs.get("affine", "False") in ("True", "1", "true")
        node.inputs = [data] + node.inputs[1:] + (pack.inputs[1:3] if affine else [])
        node.attrs["in_format"] = "float"
        if affine:
            node.attrs["in_affine"] = "True"
        fusion = self.fusions.setdefault(i, Fusion(name=node.name, ops=[]))
        fusion.ops[:0] = (["Flatten"] if flatten is not None else []) + ["BmxPack", node.op]
        self.removed.add(pack_index)

    def float_binary(self, entry, op=None, extra=()):
        """The binary layer behind ``entry`` if its float output may take an epilogue step: read once, float
        output, and none of the steps ``extra`` (attribute names) nor a later one set yet."""
        for candidate in ((op,) if op else BINARY_OPS):
            node = self.sole(entry, candidate)
            if node is not None and node.attrs.get("out_format", "float") == "float" \
                    and not any(k in node.attrs for k in extra):
                return node
        return None

    def absorb(self, i, entry, attrs, extra_inputs, label):
        """Replace node ``i`` by the binary layer of ``entry`` with ``attrs`` and ``extra_inputs`` added."""
        layer = self.nodes[entry[0]]
        fused = Node(op=layer.op, name=self.nodes[i].name, attrs={**layer.attrs, **attrs},
                     inputs=layer.inputs + list(extra_inputs))
        self.nodes[i] = fused
        self.record(entry[0], i, label)

    def step(self, i, node):
        if node.op in BINARY_OPS:
            self.fuse_input(i, node)
        elif node.op == "elemwise_add":
            for k in (0, 1):
                if self.float_binary(node.inputs[k], "BmxBinaryConv2D", ("residual", "act_type", "pool_kernel")):
                    self.absorb(i, node.inputs[k], {"residual": "True"}, [node.inputs[1 - k]], "elemwise_add")
                    return
        elif node.op == "Activation" and node.attrs.get("act_type") in ("relu", "tanh"):
            act = node.attrs["act_type"]
            if act == "tanh" and self.exact:
                return
            if self.float_binary(node.inputs[0], None, ("act_type", "pool_kernel")):
                self.absorb(i, node.inputs[0], {"act_type": act}, [], f"Activation({act})")
        elif node.op == "Pooling":
            pool = _max_pool_attrs(node)
            if pool and self.float_binary(node.inputs[0], "BmxBinaryConv2D", ("pool_kernel",)):
                self.absorb(i, node.inputs[0], pool, [], "Pooling(max)")

    def pool_before_tanh(self, i, node):
        """Swap ``tanh`` at ``i`` and the max Pooling that alone reads it; the Activation takes the Pooling's
        name and place, so the value keeps its name."""
        readers = [j for j, n in enumerate(self.nodes) if (i, 0) in n.inputs]
        if self.exact or node.attrs.get("act_type") != "tanh" or i not in self.single or len(readers) != 1:
            return
        pool = self.nodes[readers[0]]
        if pool.op != "Pooling" or pool.attrs.get("pool_type", "max") != "max" or pool.inputs != [(i, 0)]:
            return
        self.nodes[i] = Node(op="Pooling", name=node.name, attrs=dict(pool.attrs), inputs=list(node.inputs))
        self.nodes[readers[0]] = Node(op="Activation", name=pool.name, attrs=dict(node.attrs), inputs=[(i, 0)])
        self.fusions[readers[0]] = Fusion(name=pool.name, ops=["Activation(tanh)", "Pooling(max)"], reordered=True)

    def run(self):
        for i, node in enumerate(self.nodes):
            if node.op == "Activation":
                self.pool_before_tanh(i, node)
        for i, node in enumerate(self.nodes):
            if i not in self.removed and i not in self.fusions:
                self.step(i, node)
        index = {}
        nodes = []
        for i, node in enumerate(self.nodes):
            if i in self.removed:
                continue
            index[i] = len(nodes)
            nodes.append(Node(op=node.op, name=node.name, attrs=node.attrs,
                              inputs=[(index[s], o) for s, o in node.inputs]))
        graph = Graph(nodes=nodes, heads=[(index[s], o) for s, o in self.graph.heads], params=self.graph.params,
                      aux_names=self.graph.aux_names)
        fusions = [f for _, f in sorted(self.fusions.items())]
        return graph, fusions


def fuse(graph, *, exact=False):
    """``(fused Graph, [Fusion])`` for a converted ``graph`` (the rules of the module docstring); ``exact``
    leaves ``tanh`` unfused so every value stays bit-identical. Parameters are shared, not copied."""
    return _Fuser(graph, exact).run()


def verify_fusion(unfused_symbol, fused_symbol, graph, fusions, data_name, input_shape, seed=0):
    """Run both graphs on one random input (the same as verification's); raise :class:`VerificationError`
    unless each fused node's output equals the unfused node of its name (bit for bit; ``tanh``: within
    :data:`TANH_ATOL`) and the outputs agree as well (bit for bit, or with a fused ``tanh`` within
    verification's ``OUTPUT_RTOL`` of their magnitude). Returns the largest output difference."""
    import mxnet as mx

    data = np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(np.float32)
    probes = [f"{f.name}_output" for f in fusions]
    runs = []
    for symbol in (unfused_symbol, fused_symbol):
        internals = symbol.get_internals()
        group = mx.sym.Group([internals[p] for p in probes] + list(symbol))
        runs.append(run_symbol(group, graph.params, graph.aux_names, data_name, data))
    exact = all(f.bit_exact for f in fusions)
    for k, (before, after) in enumerate(zip(*runs)):
        if k < len(fusions):
            what = f"fused operator {fusions[k].name!r} ({' + '.join(fusions[k].ops)})"
            tolerance = 0.0 if fusions[k].bit_exact else TANH_ATOL
        else:
            what = "the fused model's output"
            tolerance = 0.0 if exact else OUTPUT_RTOL * max(1.0, float(np.max(np.abs(before), initial=0.0)))
        if before.shape != after.shape or not np.allclose(before, after, rtol=0.0, atol=tolerance):
            raise VerificationError(f"The {what} differs from the unfused operators it replaces.")
    return max((float(np.max(np.abs(b.astype(np.float64) - a))) if b.size else 0.0)
               for b, a in zip(runs[0][len(fusions):], runs[1][len(fusions):]))
