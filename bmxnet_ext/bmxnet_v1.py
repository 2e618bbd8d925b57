"""Read BMXNet v1's released binarized models (symbol JSON + params) into plain NumPy weights.

BMXNet v1 (Yang et al., 2017) shipped trained binary networks whose params hold, for every binary layer, the
*packed* weight bits: 64-bit words stored bit-for-bit in a float64 array. This module reads such a model and
**unpacks** those bits back to +/-1 float32 latent weights of the layer's full shape, so the weights load into
our Gluon layers (``QConv2D`` / ``QDense``) or into the model converter.

BMXNet v1's semantics, learned from its public sources (``smd_hpi/src``: ``xnor_cpu``, ``q_convolution``,
``q_fully_connected`` and its ``model-converter``) and confirmed on the released MNIST LeNet (97.4 % on the
10,000 MNIST test digits with the layouts below; any other layout gives chance-level accuracy):

- **Bit value**: a set bit means **+1** (``x >= 0``), a clear bit -1: the opposite of our convention
  (``docs/conventions.md``: set = -1). Element ``j`` of a packed row is bit ``j % 64`` (LSB first) of word
  ``j // 64``, as ours.
- **Convolution weights** ``(O, C, KH, KW)`` are flattened in that order and packed row by row: filter ``o``
  owns words ``o * C*KH*KW/64 ...``. ``C`` must be a multiple of 64 (v1's restriction).
- **Fully connected weights** ``(O, K)`` are transposed before packing (column-wise): word ``i * O + o``
  holds inputs ``64 i .. 64 i + 63`` of output ``o``.
- **Output**: the number of agreeing bits, ``popcount(xnor) = (dot + K) / 2`` with ``dot`` the +/-1 dot product
  and ``K`` the inputs per output. Ours is ``dot``; :func:`reference_symbol` and the converter translate.
- **Padding**: the convolution pads its input with 0 before binarizing, and ``0 >= 0`` binarizes to **+1**.
  Our binary layers pad with -1, so padded v1 layers need ``pad_value=+1`` (``QConv2D`` supports it).
- **Activations**: ``QActivation`` with ``act_bit=1`` is ``det_sign`` (0 maps to +1), as ours. The first
  convolution and the last fully connected layer are full precision (standard ``Convolution`` /
  ``FullyConnected`` ops).

Usage::

    model = read_v1_model("binarized_mnist_64bit-symbol.json", "binarized_mnist_64bit-0001.params")
    model.args["qconvolution0_weight"].shape      # (64, 64, 5, 5), values +/-1
    sym = reference_symbol(model)                  # standard MXNet ops, v1's exact inference semantics
"""
import json
import os
from dataclasses import dataclass, field

import numpy as np

from .cli import mxnet_quiet, mxnet_reason
from .words import WORD_BITS  # the released 64-bit models use our word size

__all__ = ["WORD_BITS", "BINARY_OPS", "V1BinaryLayer", "V1Model", "read_v1_model", "unpack_v1_words",
           "pack_v1_words", "reference_symbol", "check_shapes"]

BINARY_OPS = ("QConvolution", "QFullyConnected")
"""v1 operators whose weights are stored packed."""


@dataclass
class V1BinaryLayer:
    """One binary layer of a v1 model.

    Attributes
    ----------
    name : str
        Node name (``qconvolution0``).
    op : str
        ``QConvolution`` or ``QFullyConnected``.
    weight_name : str
        Name of its weight argument.
    weight_shape : tuple
        Unpacked shape: ``(O, C, KH, KW)`` or ``(O, K)``.
    kernel, stride, pad : tuple
        Convolution geometry (empty tuples for fully connected layers).
    """

    name: str
    op: str
    weight_name: str
    weight_shape: tuple
    kernel: tuple = ()
    stride: tuple = ()
    pad: tuple = ()

    @property
    def inputs_per_output(self):
        """``K``: binary inputs that one output sums (``C * KH * KW`` or the dense input width)."""
        return int(np.prod(self.weight_shape[1:]))


@dataclass
class V1Model:
    """A v1 model: its graph (JSON nodes, MXNet's own format) and its weights with binary layers unpacked.

    ``args`` / ``aux`` map parameter names (without the ``arg:`` / ``aux:`` prefix) to NumPy arrays; binary
    weights are float32 +/-1 arrays of :attr:`V1BinaryLayer.weight_shape`.
    """

    nodes: list
    heads: list
    args: dict
    aux: dict
    binary_layers: list = field(default_factory=list)

    def node_attrs(self, node):
        """A node's attributes (MXNet < 1.0 wrote ``attr``, later ``attrs``)."""
        return dict(node.get("attrs", node.get("attr", {})) or {})


def unpack_v1_words(words, count):
    """First ``count`` values (+/-1 float32) packed in v1's words.

    ``words`` is any array whose *bytes* are the 64-bit words (v1 stores them in float64); its values are
    never used as numbers. Bit ``j % 64`` of word ``j // 64`` is element ``j``; a set bit is +1.
    """
    raw = np.ascontiguousarray(words).view(np.uint8)
    if raw.size * 8 < count:
        raise ValueError(f"Expected at least {count} packed bits, got {raw.size * 8}.")
    bits = np.unpackbits(raw, bitorder="little")[:count]
    return np.where(bits.astype(bool), np.float32(1), np.float32(-1))


def pack_v1_words(values):
    """Inverse of :func:`unpack_v1_words`: a flat array (length a multiple of 64) -> float64 array of words.

    Element ``j`` sets bit ``j % 64`` of word ``j // 64`` iff it is ``>= 0``. For tests and fixtures.
    """
    flat = np.asarray(values).reshape(-1)
    if flat.size % WORD_BITS:
        raise ValueError(f"Expected a multiple of {WORD_BITS} values, got {flat.size}.")
    return np.packbits(flat >= 0, bitorder="little").view(np.float64)


def _parse_tuple(text):
    """``"(3, 3)"`` -> ``(3, 3)``; empty or missing -> ``()``."""
    text = (text or "").strip("()[] ")
    return tuple(int(v) for v in text.split(",") if v.strip())


def _not_a_file(path):
    return "is a folder, not a file" if os.path.isdir(path) else "not found"


def _load_params(params_file):
    import mxnet as mx

    if not os.path.isfile(params_file):
        raise FileNotFoundError(f"BMXNet v1 params file {params_file!r} {_not_a_file(params_file)}.")
    try:
        loaded = mx.nd.load(params_file)
    except mx.base.MXNetError as err:
        raise ValueError(f"Cannot read BMXNet v1 params {params_file!r} (truncated or corrupt?): "
                         f"{mxnet_reason(err)}") from err
    if not isinstance(loaded, dict):
        raise ValueError(f"Expected named arrays in {params_file!r}, got an unnamed list.")
    args, aux = {}, {}
    for key, array in loaded.items():
        kind, _, name = key.partition(":")
        if kind not in ("arg", "aux") or not name:
            raise ValueError(f"Expected params keys 'arg:NAME' or 'aux:NAME' in {params_file!r}, got {key!r}.")
        (args if kind == "arg" else aux)[name] = array.asnumpy()
    return args, aux


def _load_symbol(symbol_file):
    if not os.path.isfile(symbol_file):
        raise FileNotFoundError(f"BMXNet v1 symbol file {symbol_file!r} {_not_a_file(symbol_file)}.")
    try:
        with open(symbol_file, encoding="utf-8") as f:
            graph = json.load(f)
        nodes, heads = graph["nodes"], graph["heads"]
        for i, node in enumerate(nodes):
            if not isinstance(node["op"], str) or not isinstance(node["name"], str):
                raise ValueError(f"node {i} has no operator or name")
            if any(not 0 <= int(src) < i for src, *_ in node.get("inputs", [])):
                raise ValueError(f"node {node['name']!r} reads a later or nonexistent node")
        if not heads or any(not 0 <= int(src) < len(nodes) for src, *_ in heads):
            raise ValueError(f"the outputs ('heads': {heads!r:.80}) name no node of the {len(nodes)}")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError) as err:
        raise ValueError(f"{symbol_file!r} is not an MXNet symbol JSON file: {err}") from err
    return nodes, heads


def _int_attr(layer_name, attrs, key):
    """Attribute ``key`` of a layer as a positive integer; ``ValueError`` naming the layer otherwise."""
    try:
        value = int(attrs[key])
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{layer_name}: expected a positive integer attribute {key}, got "
                         f"{attrs.get(key)!r}.") from None
    if value < 1:
        raise ValueError(f"{layer_name}: expected a positive integer attribute {key}, got {value}.")
    return value


def _unpacked_shape(layer_name, op, attrs, words):
    """Full weight shape of a binary layer, derived from its attributes and the number of packed words."""
    bits = words * WORD_BITS
    if op == "QConvolution":
        kernel = _parse_tuple(attrs.get("kernel"))
        outputs = _int_attr(layer_name, attrs, "num_filter")
        per_channel = outputs * int(np.prod(kernel))
        if len(kernel) != 2 or bits % per_channel:
            raise ValueError(f"{layer_name}: {words} packed words do not fit num_filter={outputs}, "
                             f"kernel={kernel}.")
        return (outputs, bits // per_channel) + kernel
    outputs = _int_attr(layer_name, attrs, "num_hidden")
    if bits % outputs:
        raise ValueError(f"{layer_name}: {words} packed words do not fit num_hidden={outputs}.")
    return (outputs, bits // outputs)


def _unpack_layer_weights(layer, packed):
    """+/-1 float32 weights of ``layer`` from its packed v1 words (layouts in the module docstring)."""
    values = unpack_v1_words(packed, int(np.prod(layer.weight_shape)))
    if layer.op == "QConvolution":
        return values.reshape(layer.weight_shape)
    outputs, inputs = layer.weight_shape
    # Column-wise packing: words (K / 64, O), bits along K.
    return values.reshape(inputs // WORD_BITS, outputs, WORD_BITS).transpose(1, 0, 2).reshape(outputs, inputs)


def read_v1_model(symbol_file, params_file):
    """Read a v1 model and unpack its binary weights.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` (naming the file or layer) for corrupt
    files, weights that do not fit their layer, non-binary quantized layers (``act_bit`` or ``weight_bit``
    other than 1) or weights that are not packed (``binarized_weights_only`` absent).
    """
    nodes, heads = _load_symbol(symbol_file)
    args, aux = _load_params(params_file)
    model = V1Model(nodes=nodes, heads=heads, args=args, aux=aux)
    for node in nodes:
        attrs = model.node_attrs(node)
        if node["op"] == "QActivation" and int(attrs.get("act_bit", 1)) != 1:
            raise ValueError(f"{node['name']}: only 1-bit QActivation is supported, got act_bit="
                             f"{attrs['act_bit']}.")
        if node["op"] not in BINARY_OPS:
            continue
        name = node["name"]
        for key in ("act_bit", "weight_bit"):
            if int(attrs.get(key, 1)) != 1:
                raise ValueError(f"{name}: only 1-bit layers are supported, got {key}={attrs[key]}.")
        if attrs.get("binarized_weights_only", "False") != "True":
            raise ValueError(f"{name}: expected packed weights (attribute binarized_weights_only=True); this "
                             "looks like an unconverted v1 training checkpoint.")
        if int(attrs.get("num_group", 1)) != 1 or attrs.get("no_bias", "True") != "True":
            raise ValueError(f"{name}: grouped or biased v1 binary layers are not supported.")
        if len(node.get("inputs", [])) < 2:
            raise ValueError(f"{name}: expected a data and a weight input, got {node.get('inputs')}.")
        weight_name = nodes[node["inputs"][1][0]]["name"]
        if weight_name not in args:
            raise ValueError(f"{name}: weight {weight_name!r} missing from {params_file!r}.")
        packed = args[weight_name]
        if packed.dtype != np.float64 or packed.ndim != 1:
            raise ValueError(f"{name}: expected packed words as a 1-d float64 array, got {packed.dtype} "
                             f"{packed.shape}.")
        shape = _unpacked_shape(name, node["op"], attrs, packed.size)
        if shape[1] % WORD_BITS:
            raise ValueError(f"{name}: v1 packs {WORD_BITS} input channels per word, got {shape[1]} inputs.")
        layer = V1BinaryLayer(name=name, op=node["op"], weight_name=weight_name, weight_shape=shape,
                              kernel=_parse_tuple(attrs.get("kernel")), stride=_parse_tuple(attrs.get("stride")),
                              pad=_parse_tuple(attrs.get("pad")))
        args[weight_name] = _unpack_layer_weights(layer, packed)
        model.binary_layers.append(layer)
    if not model.binary_layers:
        raise ValueError(f"{symbol_file!r} has no QConvolution / QFullyConnected layer: not a binarized v1 model.")
    return model


def check_shapes(model, input_shape):
    """Raise ``ValueError`` naming the layer when a parameter's shape disagrees with the symbol for
    ``input_shape`` (e.g. a ``num_filter`` in the symbol that is not the params' filter count).

    Shapes are inferred on :func:`reference_symbol`; a parameter is attributed to the node that reads it.
    """
    import mxnet as mx

    symbol = reference_symbol(model)
    params = {**model.args, **model.aux}
    data = [n for n in symbol.list_arguments() if n not in params]
    if len(data) != 1:
        raise ValueError(f"Expected one data input in the v1 model, got {data} (parameters missing from the "
                         "params file?).")
    try:
        with mxnet_quiet():
            arg_shapes, _, aux_shapes = symbol.infer_shape(**{data[0]: tuple(input_shape)})
    except mx.base.MXNetError as err:
        raise ValueError(f"The v1 model does not accept input shape {tuple(input_shape)}: "
                         f"{mxnet_reason(err)}") from err
    if arg_shapes is None:
        raise ValueError(f"The shapes of the v1 model cannot be inferred from input shape {tuple(input_shape)} "
                         "(some outputs do not depend on the input?): the symbol is not a usable model.")
    readers = {}
    for node in model.nodes:
        for i, *_ in node.get("inputs", []):
            readers.setdefault(model.nodes[i]["name"], node)
    names = symbol.list_arguments() + symbol.list_auxiliary_states()
    for name, shape in zip(names, arg_shapes + aux_shapes):
        if name in params and tuple(params[name].shape) != tuple(shape):
            node = readers.get(name, {"name": name, "op": "?"})
            raise ValueError(f"{node['name']} ({node['op']}, attributes {model.node_attrs(node)}): parameter "
                             f"{name!r} has shape {tuple(params[name].shape)} but the symbol expects "
                             f"{tuple(shape)} for input shape {tuple(input_shape)}: the symbol and the params "
                             "do not belong together.")


def _det_sign(F, x, name):
    """``+1`` where ``x >= 0``, else -1; the result is named ``name``."""
    return F._internal._minus_scalar(F._internal._mul_scalar(x >= 0, scalar=2), scalar=1, name=name)


def _binary_layer_symbol(F, layer, data, weight):
    """A v1 binary layer with standard ops: ``(dot(sign(pad(x, +1)), w) + K) / 2``."""
    x = _det_sign(F, data, f"{layer.name}_sign")
    if layer.op == "QFullyConnected":
        y = F.FullyConnected(x, weight, num_hidden=layer.weight_shape[0], no_bias=True, name=layer.name)
    else:
        if any(layer.pad):
            ph, pw = layer.pad
            x = F.pad(x, mode="constant", constant_value=1.0, pad_width=(0, 0, 0, 0, ph, ph, pw, pw))
        y = F.Convolution(x, weight, kernel=layer.kernel, stride=layer.stride or (1, 1),
                          num_filter=layer.weight_shape[0], no_bias=True, name=layer.name)
    return (y + layer.inputs_per_output) * 0.5


_DROPPED_ATTRS = ("act_bit", "weight_bit", "binarized_weights_only", "backward_only", "scaling_mode",
                  "gradient_update_mode", "__layout__")


def reference_symbol(model):
    """The v1 model as an MXNet symbol of standard operators, reproducing v1's inference exactly.

    Binary layers become ``Convolution`` / ``FullyConnected`` of +/-1 tensors (named as the layer; their input
    sign is named ``LAYER_sign``) followed by ``(y + K) / 2``; ``QActivation`` becomes ``det_sign`` (named as
    the node). The training head ``SoftmaxOutput`` is dropped: the symbol outputs
    the logits. Bind it with ``model.args`` / ``model.aux``.
    """
    import mxnet as mx

    layers = {layer.name: layer for layer in model.binary_layers}
    built = []
    for node in model.nodes:
        try:
            built.append(_node_symbol(mx.sym, node, model, layers, built))
        except (mx.base.MXNetError, TypeError) as err:  # TypeError: an attribute named like an argument
            raise ValueError(f"{node['name']}: MXNet refuses operator {node['op']} with attributes "
                             f"{model.node_attrs(node)}: {mxnet_reason(err)}") from None
    heads = [_output(built, i, o, "the outputs") for i, o, *_ in model.heads]
    return heads[0] if len(heads) == 1 else mx.sym.Group(heads)


def _output(built, index, output, reader):
    """Output ``output`` of the symbol ``built[index]``; ``ValueError`` naming ``reader`` if it has none."""
    outputs = built[index].list_outputs()
    if not 0 <= int(output) < len(outputs):
        raise ValueError(f"{reader}: reads output {output} of node {index}, which has {len(outputs)}.")
    return built[index][int(output)] if len(outputs) > 1 else built[index]


def _node_symbol(F, node, model, layers, built):
    """The symbol of one v1 node (see :func:`reference_symbol`), from the symbols ``built`` before it."""
    op, name = node["op"], node["name"]
    inputs = [_output(built, i, o, name) for i, o, *_ in node["inputs"]]
    attrs = {k: v for k, v in model.node_attrs(node).items() if k not in _DROPPED_ATTRS}
    if op == "null":
        return F.var(name)
    if op in ("QActivation", "SoftmaxOutput") and not inputs:
        raise ValueError(f"{name}: operator {op} has no input.")
    if op in BINARY_OPS:
        return _binary_layer_symbol(F, layers[name], inputs[0], inputs[1])
    if op == "QActivation":
        return _det_sign(F, inputs[0], name)
    if op == "SoftmaxOutput":
        return inputs[0]
    if hasattr(F, op):
        return getattr(F, op)(*inputs, name=name, **attrs)
    raise ValueError(f"{name}: unknown operator {op!r} in the v1 model.")
