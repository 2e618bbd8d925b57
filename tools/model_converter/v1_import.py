"""BMXNet v1 models as layer-node graphs (``layers.py``), so the same rewriter converts them.

``bmxnet_ext.bmxnet_v1`` reads the files and unpacks the binary weights; this module maps v1's operators:
``QActivation`` -> ``_bmx_sign``; ``QConvolution`` / ``QFullyConnected`` -> ``_bmx_qlayer`` with v1's output
``(dot + K) / 2`` (``output_offset = K``, ``output_scale = 0.5``) and its +1 padding (``pad_value = 1``); a v1
binary layer binarizes its own input, so one whose input is not a ``QActivation`` gets a ``_bmx_sign`` in
front. The training head ``SoftmaxOutput`` (and its label) is dropped: the converted model outputs logits.
"""
from bmxnet_ext import bmxnet_v1

from .graph import Graph, Node
from .layers import LayerSpec, layer_node

__all__ = ["v1_layer_graph"]

_DROPPED_ATTRS = ("act_bit", "weight_bit", "binarized_weights_only", "backward_only", "scaling_mode",
                  "gradient_update_mode", "workspace", "cudnn_tune", "cudnn_off")


def _layer_spec(layer):
    common = dict(bits=1, origin=layer.name, weight=layer.weight_name, raw_origin=layer.name, output_scale=0.5,
                  output_offset=float(layer.inputs_per_output))
    if layer.op == "QConvolution":
        return LayerSpec(kind="conv", kernel=layer.kernel, stride=layer.stride or (1, 1),
                         num_filter=layer.weight_shape[0], pad=layer.pad or (0, 0),
                         pad_value=1.0 if any(layer.pad) else -1.0, **common)
    return LayerSpec(kind="dense", num_hidden=layer.weight_shape[0], **common)


def v1_layer_graph(model):
    """The :class:`Graph` of a :class:`bmxnet_v1.V1Model`, with its +/-1 weights as parameters."""
    layers = {layer.name: layer for layer in model.binary_layers}
    label_inputs = {model.nodes[i]["name"] for node in model.nodes if node["op"] == "SoftmaxOutput"
                    for i, *_ in node["inputs"][1:]}
    nodes, index = [], {}
    for i, raw in enumerate(model.nodes):
        name, op = raw["name"], raw["op"]
        inputs = [(index[src][0], index[src][1] + out) for src, out, *_ in raw["inputs"] if src in index]
        if op == "SoftmaxOutput":
            index[i] = inputs[0]
            continue
        if op == "null" and name in label_inputs:
            continue
        if op in bmxnet_v1.BINARY_OPS:
            data = inputs[0]
            if nodes[data[0]].op != "_bmx_sign":
                nodes.append(layer_node(f"{name}_sign", LayerSpec(bits=1, origin=f"{name}_sign"), data))
                data = (len(nodes) - 1, 0)
            nodes.append(layer_node(name, _layer_spec(layers[name]), data))
        elif op == "QActivation":
            nodes.append(layer_node(name, LayerSpec(bits=1, origin=name), inputs[0]))
        else:
            attrs = {k: v for k, v in model.node_attrs(raw).items() if k not in _DROPPED_ATTRS}
            nodes.append(Node(op=op, name=name, attrs=attrs, inputs=inputs))
        index[i] = (len(nodes) - 1, 0)
    heads = [(index[src][0], index[src][1] + out) for src, out, *_ in model.heads]
    params = {**model.args, **model.aux}
    return Graph(nodes=nodes, heads=heads, params=params, aux_names=set(model.aux))
