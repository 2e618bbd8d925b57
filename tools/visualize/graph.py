"""A network's layers as graph nodes, and probes that return chosen feature maps next to the logits.

Every method of :mod:`tools.visualize` works on the network's *symbol*: the net is traced once with a symbolic
input (``net(mx.sym.var("data"))``), which gives the same graph whether the Gluon block is hybridized or not,
and is all there is for a ``SymbolBlock`` (a ``bmxnet-train`` export). Feature maps are read from
``symbol.get_internals()`` through a :class:`Probe`, a ``SymbolBlock`` that shares the net's parameters and
has extra outputs.

**Layers.** A quantized layer of :mod:`bmxnet_ext.layers` expands into several graph nodes (the
straight-through estimator's ``BlockGrad`` arithmetic, the weight sign, the -1 padding) that carry the tag
``__bmx_layer__ = "Type:name"``; such a group is *one* layer, named by the tag, whose output is the group's
last node. Every other node computing from the input is a layer of its own, named like its Gluon block
(the node name without Gluon's ``_fwd`` suffix). Only layers with a 4-D output ``(N, C, H, W)``, ``H * W > 1``,
count as feature maps. Names are shown without the model's prefix (``resnetv20_``) and accepted with or
without it.

**Stages.** :func:`stage_layers` picks one feature map per spatial resolution, the way VisualBackProp
wants them: walking the layers from the first convolution on, a stage is a run of layers at one resolution,
and its map is the run's last *activation* (ReLU, tanh, or a ``QActivation``'s sign) or, without one, its
last layer. In the zoo's pre-activation networks that is the activation with which the next stage starts
(ReLU in the full-precision twin, sign in the binary net) or the head's ReLU; in LeNet the tanh, the sign,
and the last BatchNorm / pooling.

**Gradients.** A probe's graph computes the inference function in MXNet's training mode, in which alone
MXNet 1.9.1 differentiates correctly (see :func:`_trace`); record gradients under :meth:`Probe.record`.

**Gradients at a feature map.** ``mx.autograd`` only differentiates with respect to a ``SymbolBlock``'s
inputs, so :class:`Probe` can rewrite the graph to ``A' = A + Z`` at a layer ``A`` with a new input ``Z``
fed with zeros: the forward value is unchanged and ``dy/dZ = dy/dA`` (Grad-CAM's weights).
"""
import json
import warnings
from dataclasses import dataclass

import mxnet as mx

from bmxnet_ext.cli import mxnet_quiet
from bmxnet_ext.layers import LAYER_ATTR

__all__ = ["Layer", "layers_of", "find_layers", "stage_layers", "Probe", "LayerNameError"]

ACTIVATION_OPS = ("Activation", "LeakyReLU", "relu", "tanh", "sigmoid")
CONVOLUTION_OPS = ("Convolution", "Deconvolution")
PROBE_SUFFIX = "__visualize_probe"


class LayerNameError(ValueError):
    """A layer name that the model does not have; the message lists the valid ones."""


@dataclass(frozen=True)
class Layer:
    """One layer of a traced network.

    ``name``: display name (without the model prefix); ``node``: the graph node giving its output;
    ``kind``: ``"activation"``, ``"convolution"`` or ``"other"``; ``shape``: its output shape for one input
    of the model's shape, ``(1, C, H, W)``.
    """

    name: str
    node: str
    kind: str
    shape: tuple


def _trace(net):
    """``(symbol, graph json dict)`` of ``net`` applied to a variable ``data``, rewritten for differentiation:
    every BatchNorm uses its running statistics (``use_global_stats``), every Dropout has ``p = 0``.

    Probes record gradients in MXNet's training mode (:meth:`Probe.record`), because in inference mode
    (``autograd.record(train_mode=False)``) MXNet 1.9.1's backward pass is wrong: BatchNorm's gradient uses
    the batch statistics (a factor of about 8 at a pixel of a small trained ResNet), and the input gradient of
    v1's LeNet changes from call to call for the same input (uninitialised memory). With these two rewrites the
    training-mode graph computes the inference function, and its gradients are exact and repeatable.
    """
    symbol = net(mx.sym.var("data"))
    if isinstance(symbol, (list, tuple)):
        symbol = symbol[0]
    graph = json.loads(symbol.tojson())
    for node in graph["nodes"]:
        if node["op"] == "BatchNorm":
            node["attrs"] = dict(node.get("attrs", {}), use_global_stats="True")
        elif node["op"] == "Dropout":
            node["attrs"] = dict(node.get("attrs", {}), p="0")
    return mx.sym.load_json(json.dumps(graph)), graph


def _model_prefix(net, names):
    """The prefix to hide in display names: the Gluon prefix, else the first ``word_`` shared by all names."""
    if net.prefix and all(n.startswith(net.prefix) for n in names):
        return net.prefix
    first = names[0].split("_", 1)[0] + "_" if names and "_" in names[0] else ""
    return first if first and all(n.startswith(first) for n in names) else ""


def layers_of(net, input_shape):
    """All feature-map layers of ``net`` for inputs of ``input_shape`` ``(C, H, W)``, in graph order."""
    symbol, graph = _trace(net)
    nodes = graph["nodes"]
    with mxnet_quiet():
        outputs = symbol.get_internals().infer_shape(data=(1,) + tuple(input_shape))[1]
    shapes = dict(zip(symbol.get_internals().list_outputs(), outputs))
    from_data = set()
    groups = {}  # layer name -> (last node index, kind)
    order = []
    for index, node in enumerate(nodes):
        if node["op"] == "null":
            if node["name"] == "data":
                from_data.add(index)
            continue
        if not any(entry[0] in from_data for entry in node["inputs"]):
            continue
        from_data.add(index)
        tag = node.get("attrs", {}).get(LAYER_ATTR)
        if tag:
            kind_name, name = tag.split(":", 1)
            kind = "activation" if kind_name == "QActivation" else (
                "convolution" if "Conv" in kind_name else "other")
        else:
            name = node["name"][:-len("_fwd")] if node["name"].endswith("_fwd") else node["name"]
            kind = ("activation" if node["op"] in ACTIVATION_OPS else
                    "convolution" if node["op"] in CONVOLUTION_OPS else "other")
        if name not in groups:
            order.append(name)
        groups[name] = (index, kind)
    layers = []
    for name in order:
        index, kind = groups[name]
        shape = tuple(shapes[f"{nodes[index]['name']}_output"])
        if len(shape) == 4 and shape[2] * shape[3] > 1:
            layers.append((name, nodes[index]["name"], kind, shape))
    prefix = _model_prefix(net, [name for name, *_ in layers])
    return [Layer(name[len(prefix):], node, kind, shape) for name, node, kind, shape in layers]


def find_layers(layers, names):
    """The :class:`Layer` of each of ``names`` (display name, or with the model prefix, or its node name).

    Raises :class:`LayerNameError` listing every valid name for a name the model does not have.
    """
    found = []
    for name in names:
        name = name[:-len("_output")] if name.endswith("_output") else name
        match = [layer for layer in layers if name in (layer.name, layer.node) or
                 (name.endswith("_" + layer.name) and "_" not in name[:-len(layer.name) - 1])]
        if not match:
            raise LayerNameError(f"Expected a layer name of this model, got {name!r}; valid names (with or without "
                                 f"the model prefix): {', '.join(layer.name for layer in layers)}.")
        found.append(match[0])
    return found


def stage_layers(layers):
    """One layer per spatial resolution, shallow to deep (see the module docstring: VisualBackProp's stages)."""
    start = next((i for i, layer in enumerate(layers) if layer.kind == "convolution"), 0)
    stages = []  # lists of layers at one resolution, in order
    for layer in layers[start:]:
        area = layer.shape[2] * layer.shape[3]
        current = stages[-1][0].shape[2] * stages[-1][0].shape[3] if stages else None
        if current is None or area < current:
            stages.append([layer])
        elif area == current:
            stages[-1].append(layer)
        # a larger map (padding) belongs to no stage
    chosen = []
    for stage in stages:
        activations = [layer for layer in stage if layer.kind == "activation"]
        chosen.append((activations or stage)[-1])
    return chosen


class Probe:
    """A ``SymbolBlock`` over ``net``'s parameters returning ``[logits, *maps]`` for the given layers.

    With ``differentiable=True`` every probed map ``A`` also gets an input ``Z`` (zeros of ``A``'s shape):
    call :meth:`forward` inside :meth:`record` and read ``dy/dA`` from the returned zero inputs' grads.
    """

    @staticmethod
    def record():
        """``autograd.record`` as every gradient through a probe must be taken (training mode; see :func:`_trace`)."""
        return mx.autograd.record(train_mode=True)

    def __init__(self, net, layers, *, differentiable=False):
        self.layers = list(layers)
        symbol, graph = _trace(net)
        nodes = [layer.node for layer in self.layers]
        if differentiable:
            symbol = _with_zero_inputs(graph, nodes)
        internals = symbol.get_internals()
        outputs = [symbol] + [internals[f"{node}_output"] for node in nodes]
        inputs = [mx.sym.var("data")] + ([mx.sym.var(node + PROBE_SUFFIX) for node in nodes] if differentiable else [])
        self.differentiable = differentiable
        with warnings.catch_warnings():  # "cannot decide type for data": float32, as every input here
            warnings.simplefilter("ignore", UserWarning)
            self.block = mx.gluon.SymbolBlock(mx.sym.Group(outputs), inputs, params=net.collect_params())

    def forward(self, data):
        """``(logits, maps, zeros)``: logits ``(N, classes)``, one NDArray per layer, and the zero inputs
        (``attach_grad`` already called) when differentiable, else ``[]``."""
        zeros = []
        if self.differentiable:
            for layer in self.layers:
                zero = mx.nd.zeros((data.shape[0],) + layer.shape[1:], ctx=data.context)
                zero.attach_grad()
                zeros.append(zero)
        outputs = self.block(data, *zeros)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return outputs[0], list(outputs[1:]), zeros


def _with_zero_inputs(graph, node_names):
    """The graph with ``node + node__visualize_probe`` substituted for each named node's output 0."""
    nodes = graph["nodes"]
    targets = {index for index, node in enumerate(nodes) if node["name"] in node_names}
    new_nodes, moved, substituted = [], {}, {}

    def entry(old):
        node_id, output, version = old
        if output == 0 and node_id in substituted:
            return [substituted[node_id], 0, 0]
        return [moved[node_id], output, version]

    for index, node in enumerate(nodes):
        node = dict(node, inputs=[entry(e) for e in node["inputs"]])
        new_nodes.append(node)
        moved[index] = len(new_nodes) - 1
        if index in targets:
            new_nodes.append({"op": "null", "name": node["name"] + PROBE_SUFFIX, "inputs": []})
            new_nodes.append({"op": "elemwise_add", "name": node["name"] + PROBE_SUFFIX + "_add",
                              "inputs": [[moved[index], 0, 0], [len(new_nodes) - 1, 0, 0]]})
            substituted[index] = len(new_nodes) - 1
    rewritten = {"nodes": new_nodes, "heads": [entry(h) for h in graph["heads"]], "attrs": graph.get("attrs", {}),
                 "arg_nodes": [i for i, node in enumerate(new_nodes) if node["op"] == "null"]}
    return mx.sym.load_json(json.dumps(rewritten))
