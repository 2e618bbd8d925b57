"""Find the quantized layers of an exported graph and collapse each into one *layer node*.

Every graph node a ``bmxnet_ext`` quantized layer creates carries the attributes ``__bmx_layer__``
(``"QConv2D:conv0"``) and ``__bmx_config__`` (its settings as JSON), so a layer is the set of nodes with one
tag: no pattern-matching of straight-through arithmetic. Each set becomes a single node whose forward meaning
is fully given by its settings:

- ``_bmx_sign`` (1-bit ``QActivation`` with a two-valued quantizer, ReActNet's ``RSign``): ``det_sign(x - t)``
  with the levels -1 / +1 (sign family) or 0 / 1 (``ste_heaviside`` = ``(det_sign + 1) / 2``), ``t`` the
  RSign's per-channel threshold (0 otherwise).
- ``_bmx_act_k`` (2..31-bit ``QActivation`` with ``dorefa``): ``round((2^k - 1) clip(x, 0, 1)) / (2^k - 1)``;
  32 bits: identity.
- ``_bmx_qlayer`` (``QConv2D`` / ``QDense``): ``K * alpha * layer(pad(x, pad_value), Q(W)) (+ b)``, ``Q`` the
  kernel quantizer, ``K`` XNOR-Net's activation scaling map when ``input_scaling == "xnor"`` (then the layer
  node has the raw input as a second input).
- ``_bmx_rprelu`` (ReActNet's ``RPReLU``): ``prelu(x - gamma, beta) + zeta`` per channel.

Activations the converter cannot express (ternary, custom callables) are refused with the reason.

The training-only arithmetic (BlockGrad, gradient-cancelling masks, ``x - BlockGrad(x)``) disappears with it.
A layer node's settings are one typed :class:`LayerSpec` in ``Node.layer``, whatever format the model came
from (``v1_import.py`` builds the same).
"""
import dataclasses
import json
from dataclasses import dataclass
from typing import Optional, Tuple

from bmxnet_ext.layers import CONFIG_ATTR, LAYER_ATTR
from bmxnet_ext.quantizers import ACTIVATION_METHODS

from .graph import ConversionError, Graph, Node

__all__ = ["collapse_quantized_layers", "layer_node", "LayerSpec", "LAYER_OPS"]

LAYER_OPS = ("_bmx_sign", "_bmx_act_k", "_bmx_qlayer", "_bmx_rprelu")
_SUPPORTED = {"QActivation", "QConv2D", "QDense", "RSign", "RPReLU"}
HEAVISIDE = "ste_heaviside"


@dataclass(frozen=True)
class LayerSpec:
    """The forward meaning of one layer node.

    An activation (``kind is None``) is ``det_sign(x)`` for ``bits == 1``, else the k-bit activation of the
    module docstring. A quantized layer (``kind`` ``"conv"`` or ``"dense"``, weight parameter ``weight`` of
    shape (O, C/num_group, KH, KW) or (O, K), optional bias parameter ``bias`` of shape (O,)) computes::

        y = output_scale * (alpha[o] * (layer(pad(x, pad, pad_value), Q_bits(W)) + b[o]) + output_offset)

    with ``alpha`` given by ``scaling`` (``"none"`` / ``"backward"``: 1; ``"forward_backward"``: mean |W|;
    ``"xnor"``: mean |W[o]|). ``pad_value`` is -1 for unpadded binary layers (no padding is read), 0 when the
    convolution pads with zeros, +1 for BMXNet v1's padding. ``origin`` names the original node whose output
    the layer produces; ``raw_origin`` the original Convolution / FullyConnected node whose output is the
    unscaled product (None when the original graph has no such node); both are used by verification.
    """

    bits: int
    origin: str
    kind: Optional[str] = None
    weight: Optional[str] = None
    bias: Optional[str] = None
    raw_origin: Optional[str] = None
    scaling: str = "none"
    output_scale: float = 1.0
    output_offset: float = 0.0
    # convolution
    kernel: Optional[Tuple[int, int]] = None
    stride: Tuple[int, int] = (1, 1)
    dilate: Tuple[int, int] = (1, 1)
    pad: Tuple[int, int] = (0, 0)
    pad_value: float = 0.0
    num_group: int = 1
    num_filter: Optional[int] = None
    # dense
    num_hidden: Optional[int] = None
    flatten: bool = True
    # quantizers (bmxnet_ext.quantizers): the kernel quantizer's config as JSON (None: the `bits` shorthand),
    # a 1-bit activation's two levels, XNOR-Net's K map
    kernel_quantizer: Optional[str] = None
    levels: Tuple[float, float] = (-1.0, 1.0)
    input_scaling: Optional[str] = None
    # RSign: threshold parameter (C,), the original node holding x - threshold, the input's rank
    threshold: Optional[str] = None
    pre_sign: Optional[str] = None
    ndim: int = 4
    # RPReLU: gamma, beta, zeta parameters
    params: Tuple[str, ...] = ()

    @property
    def op(self):
        """The layer node's operator: one of :data:`LAYER_OPS`."""
        if self.kind == "rprelu":
            return "_bmx_rprelu"
        if self.kind is not None:
            return "_bmx_qlayer"
        return "_bmx_sign" if self.bits == 1 else "_bmx_act_k"


def layer_node(name, spec, data_entry, *more):
    """The layer node ``name`` computing ``spec`` of the input entry ``data_entry`` (and ``more``: the raw input
    of a layer with XNOR-Net's K map)."""
    return Node(op=spec.op, name=name, layer=spec, inputs=[data_entry, *more])


def _parse_tuple(text, default):
    text = (text or "").strip("()[] ")
    values = tuple(int(v) for v in text.split(",") if v.strip())
    return values or default


def _groups(graph):
    """``{layer_tag: [node indices]}`` in order of first appearance."""
    groups = {}
    for i, node in enumerate(graph.nodes):
        tag = node.attrs.get(LAYER_ATTR)
        if tag is not None:
            groups.setdefault(tag, []).append(i)
    return groups


def _group_io(graph, tag, members, users):
    """External input entries and the single output node of one layer's node set."""
    inside = set(members)
    inputs = []
    for i in members:
        for entry in graph.nodes[i].inputs:
            if entry[0] not in inside and entry not in inputs:
                inputs.append(entry)
    outputs = [i for i in members if any(u not in inside for u in users[i])]
    if len(outputs) != 1:
        raise ConversionError(f"Layer {tag!r}: expected its nodes to have exactly one output used outside the "
                              f"layer, got {len(outputs)} ({[graph.nodes[i].name for i in outputs]}).")
    return inputs, outputs[0]


def _layer_node(graph, tag, members, inputs, output):
    """The layer node replacing ``members``; its single input is the layer's data entry."""
    kind, _, name = tag.partition(":")
    if kind not in _SUPPORTED:
        raise ConversionError(f"Layer {tag!r}: the converter does not support {kind!r} layers (expected one of "
                              f"{sorted(_SUPPORTED)}).")
    try:
        config = json.loads(graph.nodes[members[0]].attrs[CONFIG_ATTR])
    except (KeyError, json.JSONDecodeError) as err:
        raise ConversionError(f"Layer {tag!r}: unreadable {CONFIG_ATTR} attribute: {err}") from err
    params = [e for e in inputs if graph.nodes[e[0]].op == "null" and graph.nodes[e[0]].name in graph.params]
    data = [e for e in inputs if e not in params]
    raw = None
    if config.get("input_scaling") == "xnor" and len(data) == 2:  # the K map reads the unquantized input
        quantized = [e for e in data if graph.nodes[e[0]].attrs.get(LAYER_ATTR, "").startswith("QActivation:")]
        raw = next((e for e in data if e not in quantized), None)
        data = quantized
    if len(data) != 1 or (config.get("input_scaling") == "xnor" and raw is None):
        raise ConversionError(f"Layer {tag!r}: expected one data input, got {len(data)}.")
    origin = graph.nodes[output].name
    if kind in ("QActivation", "RSign"):
        return layer_node(name, _activation_spec(graph, tag, kind, config, members, params, origin), data[0])
    if kind == "RPReLU":
        by_suffix = {graph.nodes[e[0]].name.rsplit("_", 1)[-1]: graph.nodes[e[0]].name for e in params}
        spec = LayerSpec(bits=32, origin=origin, kind="rprelu", ndim=int(config.get("ndim", 4)),
                         params=tuple(by_suffix[k] for k in ("gamma", "beta", "zeta")))
        return layer_node(name, spec, data[0])
    compute_op = "Convolution" if kind == "QConv2D" else "FullyConnected"
    compute = [i for i in members if graph.nodes[i].op == compute_op]
    if len(compute) > 1:  # XNOR-Net's K map adds a Convolution; the layer's own is Gluon's "<name>fwd"
        compute = [i for i in compute if graph.nodes[i].name.endswith("fwd")]
    if len(compute) != 1:
        raise ConversionError(f"Layer {tag!r}: expected one {compute_op} node, got {len(compute)}.")
    main = graph.nodes[compute[0]]
    bias = main.inputs[2] if main.attrs.get("no_bias", "False") == "False" and len(main.inputs) > 2 else None
    weights = [e for e in params if e != bias]
    if len(weights) != 1:
        raise ConversionError(f"Layer {tag!r}: expected one weight parameter, got {len(weights)}.")
    kernel_quantizer = config.get("kernel_quantizer")
    common = dict(bits=int(config["bits"]), origin=origin, weight=graph.nodes[weights[0][0]].name,
                  bias=graph.nodes[bias[0]].name if bias else None, raw_origin=main.name,
                  scaling=config.get("scaling", "none"),
                  kernel_quantizer=None if kernel_quantizer is None else json.dumps(kernel_quantizer, sort_keys=True),
                  input_scaling=config.get("input_scaling"))
    if kind == "QDense":
        spec = LayerSpec(kind="dense", num_hidden=int(main.attrs["num_hidden"]),
                         flatten=main.attrs.get("flatten", "True") == "True", **common)
        return layer_node(name, spec, data[0])
    kernel = _parse_tuple(main.attrs.get("kernel"), None)
    if kernel is None or len(kernel) != 2:
        raise ConversionError(f"Layer {tag!r}: only 2-D convolutions are supported, got kernel {kernel}.")
    pad, pad_value = tuple(config.get("padding") or (0, 0)), float(config.get("pad_value", 0.0))
    if not any(pad):
        pad_value = -1.0 if common["bits"] == 1 else 0.0
    conv_pad = _parse_tuple(main.attrs.get("pad"), (0, 0))
    if any(conv_pad):  # the convolution pads with zeros itself (pad_value 0)
        pad, pad_value = conv_pad, 0.0
    spec = LayerSpec(kind="conv", kernel=kernel, stride=_parse_tuple(main.attrs.get("stride"), (1, 1)),
                     dilate=_parse_tuple(main.attrs.get("dilate"), (1, 1)), pad=pad, pad_value=pad_value,
                     num_group=int(main.attrs.get("num_group", 1)), num_filter=int(main.attrs["num_filter"]),
                     **common)
    return layer_node(name, spec, data[0], *([raw] if raw is not None else []))


def _activation_spec(graph, tag, kind, config, members, params, origin):
    """The spec of a QActivation or RSign; refuses activations whose forward value the converter cannot
    express, naming the reason."""
    bits = int(config["bits"])
    quantizer = config.get("quantizer") or {}
    name = quantizer.get("name")
    levels = (-1.0, 1.0)
    if quantizer.get("custom"):
        raise ConversionError(f"Layer {tag!r}: unknown {'1-bit ' if bits == 1 else ''}activation method {name!r} "
                              "(a custom quantizer): the converter cannot compute its forward value; use a "
                              "registered quantizer (bmxnet_ext.quantizers).")
    if bits == 1:
        if name == HEAVISIDE:
            levels = (0.0, 1.0)
        elif name not in {q.name for q in ACTIVATION_METHODS.values()} if name is not None \
                else config.get("method") not in ACTIVATION_METHODS:
            raise ConversionError(f"Layer {tag!r}: unknown 1-bit activation method {config.get('method')!r}; "
                                  f"the converter knows the forward value of {sorted(ACTIVATION_METHODS)} and "
                                  f"{HEAVISIDE!r} only.")
    elif bits < 32 and name is not None and (name != "dorefa" or quantizer.get("mode") != "activations"):
        raise ConversionError(f"Layer {tag!r}: {bits}-bit activation quantizer {name!r}: only dorefa (k-bit) "
                              "activations are converted; ternary activations are not supported.")
    if kind == "QActivation":
        return LayerSpec(bits=bits, origin=origin, levels=levels)
    shifted = [graph.nodes[i].name for i in members if graph.nodes[i].op == "broadcast_sub"]
    if len(params) != 1 or len(shifted) != 1:
        raise ConversionError(f"Layer {tag!r}: expected one threshold parameter and one broadcast_sub node.")
    return LayerSpec(bits=1, origin=origin, levels=levels, threshold=graph.nodes[params[0][0]].name,
                     pre_sign=shifted[0], ndim=int(config.get("ndim", 4)))


def collapse_quantized_layers(graph):
    """A new :class:`Graph` in which every tagged layer is one layer node (see module docstring)."""
    groups = _groups(graph)
    users = graph.consumers()
    replacement = {}  # output node index -> layer node
    dropped = set()
    for tag, members in groups.items():
        inputs, output = _group_io(graph, tag, members, users)
        replacement[output] = _layer_node(graph, tag, members, inputs, output)
        dropped.update(m for m in members if m != output)
    new_index, nodes = {}, []
    for i, node in enumerate(graph.nodes):
        if i in dropped:
            continue
        node = replacement.get(i, node)
        remapped = []
        for src, out in node.inputs:
            if src in dropped:
                raise ConversionError(f"Node {node.name!r} reads an internal node of a quantized layer "
                                      f"({graph.nodes[src].name!r}).")
            remapped.append((new_index[src], out))
        new_index[i] = len(nodes)
        nodes.append(dataclasses.replace(node, inputs=remapped))
    heads = [(new_index[src], out) for src, out in graph.heads]
    return Graph(nodes=nodes, heads=heads, params=graph.params, aux_names=graph.aux_names)
