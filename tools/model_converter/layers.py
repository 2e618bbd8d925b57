"""Find the quantized layers of an exported graph and collapse each into one *layer node*.

Every graph node a ``bmxnet_ext`` quantized layer creates carries the attributes ``__bmx_layer__``
(``"QConv2D:conv0"``) and ``__bmx_config__`` (its settings as JSON), so a layer is the set of nodes with one
tag: no pattern-matching of straight-through arithmetic. Each set becomes a single node whose forward meaning
is fully given by its settings:

- ``_bmx_sign`` (1-bit ``QActivation``): ``det_sign(x)``.
- ``_bmx_act_k`` (2..31-bit ``QActivation``): ``round((2^k - 1) clip(x, 0, 1)) / (2^k - 1)``; 32 bits: identity.
- ``_bmx_qlayer`` (``QConv2D`` / ``QDense``): ``alpha * layer(pad(x, pad_value), Q_bits(W)) (+ b)``.

The training-only arithmetic (BlockGrad, gradient-cancelling masks, ``x - BlockGrad(x)``) disappears with it.
Layer nodes keep ``attrs["origin"]``: the name of the original node whose output the layer produced, and for
``_bmx_qlayer`` ``attrs["raw_origin"]``: the original Convolution / FullyConnected node (its output is the
unscaled product), both used by verification.
"""
import json

from bmxnet_ext.layers import CONFIG_ATTR, LAYER_ATTR
from bmxnet_ext.quantizers import ACTIVATION_METHODS

from .graph import ConversionError, Graph, Node

__all__ = ["collapse_quantized_layers", "LAYER_OPS"]

LAYER_OPS = ("_bmx_sign", "_bmx_act_k", "_bmx_qlayer")
_SUPPORTED = {"QActivation", "QConv2D", "QDense"}


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
    if len(data) != 1:
        raise ConversionError(f"Layer {tag!r}: expected one data input, got {len(data)}.")
    origin = graph.nodes[output].name
    if kind == "QActivation":
        bits = int(config["bits"])
        if bits == 1 and config.get("method") not in ACTIVATION_METHODS:
            raise ConversionError(f"Layer {tag!r}: unknown 1-bit activation method {config.get('method')!r}; "
                                  f"the converter knows the forward value of {sorted(ACTIVATION_METHODS)} only.")
        op = "_bmx_sign" if bits == 1 else "_bmx_act_k"
        return Node(op=op, name=name, attrs={"bits": bits, "origin": origin}, inputs=data)
    compute_op = "Convolution" if kind == "QConv2D" else "FullyConnected"
    compute = [i for i in members if graph.nodes[i].op == compute_op]
    if len(compute) != 1:
        raise ConversionError(f"Layer {tag!r}: expected one {compute_op} node, got {len(compute)}.")
    main = graph.nodes[compute[0]]
    bias = main.inputs[2] if main.attrs.get("no_bias", "False") == "False" and len(main.inputs) > 2 else None
    weights = [e for e in params if e != bias]
    if len(weights) != 1:
        raise ConversionError(f"Layer {tag!r}: expected one weight parameter, got {len(weights)}.")
    attrs = {"kind": "conv" if kind == "QConv2D" else "dense", "bits": int(config["bits"]),
             "scaling": config.get("scaling", "none"), "weight": graph.nodes[weights[0][0]].name,
             "bias": graph.nodes[bias[0]].name if bias else None, "origin": origin, "raw_origin": main.name,
             "output_scale": 1.0, "output_offset": 0.0}
    if kind == "QConv2D":
        attrs.update(kernel=_parse_tuple(main.attrs.get("kernel"), None),
                     stride=_parse_tuple(main.attrs.get("stride"), (1, 1)),
                     dilate=_parse_tuple(main.attrs.get("dilate"), (1, 1)),
                     num_group=int(main.attrs.get("num_group", 1)), num_filter=int(main.attrs["num_filter"]),
                     pad=tuple(config.get("padding") or (0, 0)), pad_value=float(config.get("pad_value", 0.0)))
        if not any(attrs["pad"]):
            attrs["pad_value"] = -1.0 if attrs["bits"] == 1 else 0.0
        conv_pad = _parse_tuple(main.attrs.get("pad"), (0, 0))
        if any(conv_pad):  # the convolution pads with zeros itself (pad_value 0)
            attrs.update(pad=conv_pad, pad_value=0.0)
        if len(attrs["kernel"]) != 2:
            raise ConversionError(f"Layer {tag!r}: only 2-D convolutions are supported, got kernel "
                                  f"{attrs['kernel']}.")
    else:
        attrs.update(num_hidden=int(main.attrs["num_hidden"]), flatten=main.attrs.get("flatten", "True") == "True")
    return Node(op="_bmx_qlayer", name=name, attrs=attrs, inputs=data)


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
        nodes.append(Node(op=node.op, name=node.name, attrs=node.attrs, inputs=remapped))
    heads = [(new_index[src], out) for src, out in graph.heads]
    return Graph(nodes=nodes, heads=heads, params=graph.params, aux_names=graph.aux_names)
