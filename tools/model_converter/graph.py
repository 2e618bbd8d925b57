"""The converter's graph representation, and reading MXNet models (symbol JSON + params) into it.

A :class:`Graph` is MXNet's own node list in topological order: each :class:`Node` has an operator name,
string attributes and inputs ``(node_index, output_index)``; ``op == "null"`` marks a variable (a parameter
when its name is in :attr:`Graph.params`, an input otherwise). A *layer node* (``layers.py``) carries its
settings as a typed :class:`~tools.model_converter.layers.LayerSpec` in ``Node.layer`` instead. Reading validates the files so that every bad
input fails here, before anything is computed or written.
"""
import json
import os
from dataclasses import dataclass, field

import numpy as np

from bmxnet_ext.cli import mxnet_quiet

__all__ = ["Node", "Graph", "ConversionError", "read_mxnet_model", "known_operator"]


class ConversionError(ValueError):
    """A model the converter cannot read or convert; the message says which file, node or value and why."""


@dataclass
class Node:
    op: str
    name: str
    attrs: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    layer: object = None  # the LayerSpec of a layer node (layers.py); None for MXNet operators


@dataclass
class Graph:
    """Nodes in topological order, output entries ``heads``, and the arrays of its parameters.

    ``params`` maps names to NumPy arrays; names in ``aux_names`` are auxiliary states (BatchNorm statistics).
    """

    nodes: list
    heads: list
    params: dict
    aux_names: set = field(default_factory=set)

    def input_names(self):
        """Variables that are not parameters: the model's data inputs."""
        return [n.name for n in self.nodes if n.op == "null" and n.name not in self.params]

    def consumers(self):
        """``{node_index: [consumer node indices]}`` (heads count as consumer -1)."""
        users = {i: [] for i in range(len(self.nodes))}
        for i, node in enumerate(self.nodes):
            for src, _ in node.inputs:
                users[src].append(i)
        for src, _ in self.heads:
            users[src].append(-1)
        return users


_registered_ops = None


def known_operator(op):
    """True if MXNet (with this library's operators loaded) registers ``op``."""
    global _registered_ops
    if _registered_ops is None:
        import ctypes

        from mxnet.base import _LIB, check_call, py_str

        size = ctypes.c_uint()
        names = ctypes.POINTER(ctypes.c_char_p)()
        check_call(_LIB.MXListAllOpNames(ctypes.byref(size), ctypes.byref(names)))
        _registered_ops = {py_str(names[i]) for i in range(size.value)}
    return op in _registered_ops


def _not_a_file(path):
    return "is a folder, not a file" if os.path.isdir(path) else "not found"


def _read_symbol(path):
    if not os.path.isfile(path):
        raise ConversionError(f"Symbol file {path!r} {_not_a_file(path)}.")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        nodes = [Node(op=n["op"], name=n["name"], attrs=dict(n.get("attrs", n.get("attr", {})) or {}),
                      inputs=[(int(i[0]), int(i[1])) for i in n["inputs"]]) for n in data["nodes"]]
        heads = [(int(h[0]), int(h[1])) for h in data["heads"]]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, IndexError, ValueError) as err:
        raise ConversionError(f"{path!r} is not an MXNet symbol JSON file: {err}") from err
    for i, node in enumerate(nodes):
        if any(src >= i or src < 0 or out < 0 for src, out in node.inputs):
            raise ConversionError(f"{path!r}: node {node.name!r} reads a later or nonexistent node; the file is "
                                  "corrupt.")
    if not heads:
        raise ConversionError(f"{path!r} lists no outputs (empty 'heads'); the file is corrupt.")
    for src, out in heads:
        if not 0 <= src < len(nodes) or out < 0:
            raise ConversionError(f"{path!r}: output entry {[src, out]} in 'heads' names no node (the graph has "
                                  f"{len(nodes)} nodes); the file is corrupt.")
    for node in nodes:
        if node.op != "null" and not node.op.startswith("_bmx_") and not known_operator(node.op):
            raise ConversionError(f"{path!r}: node {node.name!r} uses operator {node.op!r}, which MXNet does "
                                  "not know; the converter cannot translate it.")
    return nodes, heads


def _read_params(path):
    import mxnet as mx

    if not os.path.isfile(path):
        raise ConversionError(f"Params file {path!r} {_not_a_file(path)}.")
    try:
        loaded = mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise ConversionError(f"Cannot read params file {path!r} (truncated or corrupt?): "
                              f"{str(err).strip().splitlines()[-1]}") from err
    if not isinstance(loaded, dict) or not loaded:
        raise ConversionError(f"Expected named arrays in params file {path!r}, got none.")
    params, aux = {}, set()
    for key, array in loaded.items():
        kind, sep, name = key.partition(":")
        if not sep:  # Gluon's save_parameters format: plain names
            kind, name = "arg", key
        if kind not in ("arg", "aux"):
            raise ConversionError(f"{path!r}: unexpected params key {key!r} (expected 'arg:NAME' or 'aux:NAME').")
        params[name] = array.asnumpy()
        if kind == "aux":
            aux.add(name)
    return params, aux


def read_mxnet_model(symbol_file, params_file):
    """Read and cross-check an exported model; raises :class:`ConversionError` on any inconsistency.

    Checks: both files parse, every operator is known, every parameter the params file holds is used by the
    symbol, and the graph has exactly one data input.
    """
    nodes, heads = _read_symbol(symbol_file)
    params, aux = _read_params(params_file)
    variables = {n.name for n in nodes if n.op == "null"}
    unused = sorted(set(params) - variables)
    if unused:
        raise ConversionError(f"Symbol/params mismatch: {params_file!r} holds arrays the symbol "
                              f"{symbol_file!r} does not use: {unused[:5]}{' ...' if len(unused) > 5 else ''}.")
    graph = Graph(nodes=nodes, heads=heads, params=params, aux_names=aux)
    inputs = graph.input_names()
    if len(inputs) != 1:
        raise ConversionError(f"Symbol/params mismatch: expected exactly one data input (every other variable "
                              f"in {params_file!r}), got inputs {inputs}.")
    return graph


def _shape_mismatch(graph, symbol, input_shape):
    """``None`` when every parameter fits ``input_shape``, else ``(position, message)`` of the first that does
    not (``position``: how far into the symbol's arguments it lies; -1 when the input itself is refused)."""
    import mxnet as mx

    data = graph.input_names()[0]
    try:
        with mxnet_quiet():
            arg_shapes, _, aux_shapes = symbol.infer_shape(**{data: tuple(input_shape)})
    except mx.base.MXNetError as err:
        return -1, (f"The model does not accept input shape {tuple(input_shape)}: "
                    f"{str(err).strip().splitlines()[-1]}")
    if arg_shapes is None:
        return -1, (f"The model's shapes cannot be inferred from input shape {tuple(input_shape)} (some outputs "
                    "do not depend on the input?): the symbol is not a usable model.")
    names = symbol.list_arguments() + symbol.list_auxiliary_states()
    for position, (name, shape) in enumerate(zip(names, arg_shapes + aux_shapes)):
        if name in graph.params and tuple(graph.params[name].shape) != tuple(shape):
            return position, (f"Symbol/params mismatch: parameter {name!r} has shape {graph.params[name].shape}, "
                              f"the symbol expects {tuple(shape)} for input shape {tuple(input_shape)}.")
    return None


def check_param_shapes(graph, symbol, input_shape):
    """Infer the symbol's argument shapes for ``input_shape`` and compare them with the params' shapes."""
    mismatch = _shape_mismatch(graph, symbol, input_shape)
    if mismatch:
        raise ConversionError(mismatch[1])


GUESSED_SIZES = (224, 32, 28, 64, 96, 299)
"""Spatial sizes tried, in order, when no input shape is given (ImageNet, CIFAR, MNIST, ...)."""


def recorded_input_shape(graph):
    """The input shape an export records as the data variable's ``__shape__`` (MXNet's shape hint; the zoo's
    models write it), or None."""
    data = graph.input_names()[0]
    node = next(n for n in graph.nodes if n.op == "null" and n.name == data)
    text = node.attrs.get("__shape__", "").strip("()[] ")
    try:
        shape = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        return None
    return shape if len(shape) >= 2 and min(shape) > 0 else None


def guess_input_shape(graph, symbol):
    """``(shape, how)``: the input shape the export records (:func:`recorded_input_shape`), else a batch-1
    shape the model accepts, from its first layer: ``(1, K)`` for a dense first layer, ``(1, C, S, S)`` for a
    convolution with the first size ``S`` of :data:`GUESSED_SIZES` that fits every parameter. Raises
    ConversionError when none fits (then the user must give the shape)."""
    recorded = recorded_input_shape(graph)
    if recorded is not None:
        check_param_shapes(graph, symbol, recorded)
        return recorded, "recorded in the export"
    return _first_layer_shape(graph, symbol), "guessed from the first layer"


def _first_layer_shape(graph, symbol):
    data = graph.input_names()[0]
    index = next(i for i, n in enumerate(graph.nodes) if n.op == "null" and n.name == data)
    channels = None
    for node in graph.nodes:
        if not node.inputs or node.inputs[0][0] != index or node.op not in ("Convolution", "FullyConnected"):
            continue
        weight = graph.params.get(graph.nodes[node.inputs[1][0]].name) if len(node.inputs) > 1 else None
        if weight is not None and node.op == "FullyConnected":
            return (1, int(weight.shape[1]))
        if weight is not None:
            channels = int(weight.shape[1]) * int(node.attrs.get("num_group", 1))
    candidates = [(1, channels, s, s) for s in GUESSED_SIZES] if channels else []
    furthest = None
    for shape in candidates:
        mismatch = _shape_mismatch(graph, symbol, shape)
        if mismatch is None:
            return shape
        furthest = max(furthest or mismatch, mismatch, key=lambda m: m[0])
    detail = f" No size tried fits every parameter; the closest: {furthest[1]}" if furthest else ""
    raise ConversionError("Cannot guess the model's input shape from its first layer; give it "
                          f"(--input-shape 1,3,224,224 / input_shape=(1, 3, 224, 224)).{detail}")


def as_float32(array):
    """``array`` as a contiguous float32 NumPy array."""
    return np.ascontiguousarray(array, dtype=np.float32)
