"""Write and read ``.bmx`` model files: one file holding a converted model for the standalone runtime.

The format is specified field by field in ``docs/bmx_format.md``. In short: a 32-byte header (magic
``BMXMODEL``, version, body size, CRC-32 of the body), a graph block (tensors, nodes with typed attributes,
graph inputs and outputs, then since version 1.1 the model's metadata: input convention and class names,
:mod:`bmxnet_ext.model_metadata`) and a data region of 64-byte aligned constant blobs (float32 weights, packed
``uint64`` binary weights). Everything is little-endian.

:func:`write_bmx` takes a *converted* graph (MXNet symbol JSON with standard operators plus ``BmxPack``,
``BmxBinaryConv2D``, ``BmxBinaryDense``; ``docs/conventions.md``) and its parameters. Every attribute is
resolved to a typed value with MXNet's default filled in, so the runtime never has to know MXNet's defaults or
parse MXNet's attribute strings. :func:`read_bmx` parses a file back (for tests and inspection).
"""
import ast
import json
import os
import struct
import zlib

import numpy as np

from .atomic import write_bytes

__all__ = ["MAGIC", "VERSION", "OP_SCHEMAS", "write_bmx", "read_bmx", "BmxModel"]

MAGIC = b"BMXMODEL"
VERSION = (1, 1)
METADATA_SINCE = (1, 1)
HEADER = struct.Struct("<8sHHIQII")
ALIGNMENT = 64

KIND_INPUT, KIND_CONSTANT, KIND_INTERMEDIATE = 0, 1, 2
DTYPE_FLOAT32, DTYPE_INT32, DTYPE_UINT64 = 0, 1, 2
ATTR_INTS, ATTR_FLOAT, ATTR_STRING = 0, 1, 2
META_FLOAT, META_STRING, META_FLOATS, META_STRINGS = 1, 2, 3, 4
_META_KINDS = {"layout": META_STRING, "color": META_STRING, "scale": META_FLOAT, "mean": META_FLOATS,
               "std": META_FLOATS, "resize": META_STRING, "crop_fraction": META_FLOAT, "labels": META_STRINGS}
"""Metadata entries (``ModelMetadata`` fields) and their encodings."""
_DTYPES = {DTYPE_FLOAT32: np.dtype("<f4"), DTYPE_INT32: np.dtype("<i4"), DTYPE_UINT64: np.dtype("<u8")}

_REQUIRED = object()


def _ints(default=_REQUIRED):
    return (ATTR_INTS, default)


def _float(default=_REQUIRED):
    return (ATTR_FLOAT, default)


def _string(default=_REQUIRED):
    return (ATTR_STRING, default)


OP_SCHEMAS = {
    "Convolution": {"kernel": _ints(), "stride": _ints(()), "dilate": _ints(()), "pad": _ints(()),
                    "num_filter": _ints(), "num_group": _ints(1), "no_bias": _ints(0), "layout": _string("NCHW")},
    "FullyConnected": {"num_hidden": _ints(), "no_bias": _ints(0), "flatten": _ints(1)},
    "BatchNorm": {"eps": _float(1e-3), "fix_gamma": _ints(1), "axis": _ints(1)},
    "Activation": {"act_type": _string()},
    "Pooling": {"kernel": _ints(()), "pool_type": _string("max"), "global_pool": _ints(0),
                "pooling_convention": _string("valid"), "stride": _ints(()), "pad": _ints(()),
                "count_include_pad": _ints(1), "layout": _string("NCHW")},
    "Flatten": {},
    "Concat": {"dim": _ints(1), "num_args": _ints()},
    "elemwise_add": {},
    "broadcast_add": {}, "broadcast_mul": {},
    "LeakyReLU": {"act_type": _string("leaky"), "slope": _float(0.25)},
    "softmax": {"axis": _ints(-1), "temperature": _float(1.0)},
    "relu": {}, "sigmoid": {}, "tanh": {},
    "clip": {"a_min": _float(), "a_max": _float()},
    "round": {}, "sign": {}, "abs": {},
    "_mul_scalar": {"scalar": _float()}, "_div_scalar": {"scalar": _float()},
    "_plus_scalar": {"scalar": _float()}, "_minus_scalar": {"scalar": _float()},
    "_greater_equal_scalar": {"scalar": _float()},
    "Pad": {"mode": _string(), "pad_width": _ints(), "constant_value": _float(0.0)},
    "BmxPack": {"affine": _ints(0), "num_group": _ints(1)},
    "BmxBinaryConv2D": {"kernel": _ints(), "stride": _ints(()), "pad": _ints(()), "dilate": _ints(()),
                        "num_filter": _ints(), "num_group": _ints(1), "in_channels": _ints(),
                        "out_format": _string("float")},
    "BmxBinaryDense": {"num_hidden": _ints(), "in_units": _ints(), "out_format": _string("float")},
}
"""Operators the runtime implements, with each attribute's type and MXNet's default (``_REQUIRED``: none)."""

_ALIASES = {"_Plus": "elemwise_add", "_plus": "elemwise_add", "_add": "elemwise_add",
            "concat": "Concat", "SoftmaxActivation": "softmax", "SoftmaxOutput": "softmax",
            "Softmax": "softmax", "_copy": "identity", "Dropout": "identity", "identity": "identity",
            "BlockGrad": "identity", "stop_gradient": "identity", "flatten": "Flatten"}
"""MXNet operator names that are the same operation as one the runtime knows (``identity`` is removed)."""

_IGNORED_ATTRS = {"workspace", "cudnn_tune", "cudnn_off", "momentum", "use_global_stats", "output_mean_var",
                  "min_calib_range", "max_calib_range", "p_value", "p", "axes", "dtype", "use_length",
                  "normalization", "grad_scale", "ignore_label", "multi_output", "use_ignore", "preserve_shape",
                  "out_grad", "smooth_alpha", "__layout__"}
"""Training-only or backend-only MXNet attributes with no effect on an inference forward pass."""


def _parse_attr(op, key, kind, text):
    """Turn an MXNet attribute string into the typed value stored in the file."""
    text = text.strip()
    try:
        if kind == ATTR_STRING:
            return text
        if kind == ATTR_FLOAT:
            return float(text) if text not in ("None", "") else None
        if text in ("True", "true"):
            return (1,)
        if text in ("False", "false"):
            return (0,)
        value = ast.literal_eval(text) if text not in ("", "None") else ()
        return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),)
    except (ValueError, SyntaxError) as err:
        raise ValueError(f"Expected attribute `{key}` of {op} to be {'an integer tuple' if kind == ATTR_INTS else 'a number'}, "
                         f"got {text!r}") from err


def _softmax_head_axis(op, attrs):
    """The axis of the softmax that MXNet 1.9.1's ``SoftmaxOutput`` (alias ``Softmax``) and
    ``SoftmaxActivation`` compute in an inference forward pass: 1 with ``multi_output=True`` /
    ``mode='channel'``, else the last axis (the same axis for the usual 2-D logits)."""
    if op == "SoftmaxActivation":
        return 1 if attrs.get("mode", "instance") == "channel" else -1
    return 1 if str(attrs.get("multi_output", "False")) in ("True", "true", "1") else -1


def _resolve_attrs(op, node_name, attrs):
    """Typed attributes of one node with every MXNet default filled in; rejects unknown attributes."""
    schema = OP_SCHEMAS[op]
    resolved = {}
    for key, text in attrs.items():
        if key.startswith("__") or key in _IGNORED_ATTRS:
            continue
        if key not in schema:
            raise ValueError(f"Node {node_name!r} ({op}) has attribute `{key}`={text!r} the runtime does not "
                             f"support; supported: {sorted(schema)}")
        resolved[key] = _parse_attr(op, key, schema[key][0], str(text))
    for key, (kind, default) in schema.items():
        if resolved.get(key) is None:
            if default is _REQUIRED:
                raise ValueError(f"Node {node_name!r} ({op}) lacks the required attribute `{key}`")
            resolved[key] = (default,) if kind == ATTR_INTS and isinstance(default, int) else default
    return {key: (schema[key][0], value) for key, value in resolved.items()}


def _dtype_code(name, array):
    if array.dtype == np.float32:
        return DTYPE_FLOAT32
    if array.dtype in (np.int64, np.uint64):
        return DTYPE_UINT64
    if array.dtype == np.int32:
        return DTYPE_INT32
    raise ValueError(f"Expected parameter {name!r} to be float32, int32 or int64/uint64 words, got {array.dtype}")


class _Writer:
    """Little-endian serialisation primitives of the graph block."""

    def __init__(self):
        self.parts = []

    def u8(self, v):
        self.parts.append(struct.pack("<B", v))

    def u32(self, v):
        self.parts.append(struct.pack("<I", v))

    def u64(self, v):
        self.parts.append(struct.pack("<Q", v))

    def string(self, text):
        data = text.encode("utf-8")
        self.u32(len(data))
        self.parts.append(data)

    def attr(self, key, kind, value):
        self.string(key)
        self.u8(kind)
        if kind == ATTR_INTS:
            self.u32(len(value))
            self.parts.append(struct.pack(f"<{len(value)}q", *value))
        elif kind == ATTR_FLOAT:
            self.parts.append(struct.pack("<d", value))
        else:
            self.string(value)

    def meta(self, key, kind, value):
        self.string(key)
        self.u8(kind)
        if kind == META_FLOAT:
            self.parts.append(struct.pack("<d", value))
        elif kind == META_STRING:
            self.string(value)
        elif kind == META_FLOATS:
            self.u32(len(value))
            self.parts.append(struct.pack(f"<{len(value)}d", *value))
        else:
            self.u32(len(value))
            for text in value:
                self.string(text)

    def data(self):
        return b"".join(self.parts)


def _load_symbol_json(symbol):
    if isinstance(symbol, dict):
        return symbol
    if hasattr(symbol, "tojson"):
        return json.loads(symbol.tojson())
    if isinstance(symbol, str) and symbol.lstrip().startswith("{"):
        return json.loads(symbol)
    with open(symbol, encoding="utf-8") as f:
        return json.load(f)


def _to_numpy(value):
    return value.asnumpy() if hasattr(value, "asnumpy") else np.asarray(value)


def _graph(symbol_json, params, input_shapes):
    """The converted graph as runtime records: tensors, nodes, inputs, outputs (identity ops removed)."""
    nodes = symbol_json["nodes"]
    params = {k.split(":", 1)[1] if k.startswith(("arg:", "aux:")) else k: _to_numpy(v) for k, v in params.items()}
    tensors, tensor_of, records = [], {}, []
    used_params = set()

    def new_tensor(name, kind, dtype=DTYPE_FLOAT32, shape=(), array=None):
        tensors.append({"name": name, "kind": kind, "dtype": dtype, "shape": tuple(shape), "array": array})
        return len(tensors) - 1

    def source(entry):
        node_id, index = entry[0], entry[1]
        if (node_id, index) not in tensor_of:
            node = nodes[node_id]
            raise ValueError(f"Output {index} of node {node['name']!r} ({node['op']}) is used, but the runtime "
                             "only keeps output 0 of each operator")
        return tensor_of[(node_id, index)]

    for node_id, node in enumerate(nodes):
        name, op = node["name"], node["op"]
        if op == "null":
            if name in params:
                array = params[name]
                dtype = _dtype_code(name, array)
                array = array.view(np.uint64) if dtype == DTYPE_UINT64 else array
                tensor_of[(node_id, 0)] = new_tensor(name, KIND_CONSTANT, dtype, array.shape, array)
                used_params.add(name)
            elif name in input_shapes:
                tensor_of[(node_id, 0)] = new_tensor(name, KIND_INPUT, DTYPE_FLOAT32, input_shapes[name])
            elif name.endswith("_label"):
                continue  # the label input of a training loss head (SoftmaxOutput): unused at inference
            else:
                raise ValueError(f"Graph input {name!r} is neither a parameter nor in input_shapes "
                                 f"{sorted(input_shapes)}")
            continue
        canonical = _ALIASES.get(op, op)
        inputs = [e for e in node["inputs"] if nodes[e[0]]["op"] != "null" or nodes[e[0]]["name"] in params
                  or nodes[e[0]]["name"] in input_shapes]
        if canonical == "identity":
            tensor_of[(node_id, 0)] = source(inputs[0])
            continue
        if canonical not in OP_SCHEMAS:
            raise ValueError(f"Node {name!r} uses operator {op!r}, which the runtime does not implement; "
                             f"supported: {sorted(OP_SCHEMAS)}")
        attrs = dict(node.get("attrs", node.get("param", {})))
        if op in ("SoftmaxOutput", "SoftmaxActivation", "Softmax"):
            attrs = {"axis": str(_softmax_head_axis(op, attrs))}
        record = {"op": canonical, "name": name, "attrs": _resolve_attrs(canonical, name, attrs),
                  "inputs": [source(e) for e in inputs]}
        record["outputs"] = [new_tensor(name + "_output", KIND_INTERMEDIATE)]
        tensor_of[(node_id, 0)] = record["outputs"][0]
        records.append(record)
    missing = set(input_shapes) - {t["name"] for t in tensors if t["kind"] == KIND_INPUT}
    if missing:
        raise ValueError(f"input_shapes names {sorted(missing)}, which are not inputs of the graph")
    inputs = [i for i, t in enumerate(tensors) if t["kind"] == KIND_INPUT]
    outputs = [source(head) for head in symbol_json["heads"]]
    return tensors, records, inputs, outputs


def write_bmx(path, symbol, params, input_shapes, metadata=None):
    """Write a converted model as one ``.bmx`` file (atomically: temporary file, then rename).

    Parameters
    ----------
    path : str
        Destination file.
    symbol : str, dict or mxnet.symbol.Symbol
        The converted graph: symbol JSON text, a path to it, the parsed JSON or a Symbol.
    params : dict
        Parameter name (optionally prefixed ``arg:`` / ``aux:``) to array (NumPy or NDArray). Float weights
        are float32; packed binary weights int64 or uint64 words (stored as uint64, bits unchanged).
    input_shapes : dict
        Graph input name to shape, e.g. ``{"data": (1, 3, 224, 224)}``. The runtime runs this shape unless
        the caller chooses another batch size.
    metadata : bmxnet_ext.model_metadata.ModelMetadata, optional
        Input convention and class names; without it the file records none (readers assume the default).

    Returns the number of bytes written.
    """
    blob = to_bytes(symbol, params, input_shapes, metadata)
    write_bytes(path, blob)
    return len(blob)


def to_bytes(symbol, params, input_shapes, metadata=None):
    """The ``.bmx`` file contents for a converted model (see :func:`write_bmx`)."""
    tensors, records, inputs, outputs = _graph(_load_symbol_json(symbol), params, dict(input_shapes))
    entries = _metadata_entries(metadata)
    # Lay out the constants first so the graph block can name their offsets; the graph block's size does not
    # depend on the offsets' values (fixed-width fields), so it is measured with placeholder offsets.
    graph_size = len(_graph_block(tensors, records, inputs, outputs, entries, offsets=None))
    cursor = _align(HEADER.size + graph_size)
    offsets, end = {}, HEADER.size + graph_size
    for i, t in enumerate(tensors):
        if t["kind"] == KIND_CONSTANT:
            offsets[i] = cursor
            end = cursor + t["array"].nbytes
            cursor = _align(end)
    graph = _graph_block(tensors, records, inputs, outputs, entries, offsets)
    body = bytearray(end - HEADER.size)  # the file ends with the last constant's last byte
    body[:len(graph)] = graph
    for i, offset in offsets.items():
        data = np.ascontiguousarray(tensors[i]["array"], dtype=_DTYPES[tensors[i]["dtype"]]).tobytes()
        body[offset - HEADER.size:offset - HEADER.size + len(data)] = data
    header = HEADER.pack(MAGIC, VERSION[0], VERSION[1], HEADER.size, len(body), zlib.crc32(body), 0)
    return header + bytes(body)


def _align(n):
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def _metadata_entries(metadata):
    """``[(key, kind, value)]`` of a ``ModelMetadata`` (none for ``None``)."""
    if metadata is None:
        return []
    values = metadata.as_dict()
    return [(key, kind, values[key]) for key, kind in _META_KINDS.items()]


def _graph_block(tensors, records, inputs, outputs, entries, offsets):
    w = _Writer()
    w.u32(len(tensors))
    w.u32(len(records))
    w.u32(len(inputs))
    w.u32(len(outputs))
    for i, t in enumerate(tensors):
        w.string(t["name"])
        w.u8(t["kind"])
        w.u8(t["dtype"])
        w.u8(len(t["shape"]))
        w.u8(0)
        for d in t["shape"]:
            w.u64(d)
        if t["kind"] == KIND_CONSTANT:
            w.u64(offsets[i] if offsets else 0)
            w.u64(t["array"].nbytes)
    for r in records:
        w.string(r["op"])
        w.string(r["name"])
        w.u32(len(r["attrs"]))
        for key in sorted(r["attrs"]):
            w.attr(key, *r["attrs"][key])
        w.u32(len(r["inputs"]))
        for i in r["inputs"]:
            w.u32(i)
        w.u32(len(r["outputs"]))
        for i in r["outputs"]:
            w.u32(i)
    for i in inputs:
        w.u32(i)
    for i in outputs:
        w.u32(i)
    w.u32(len(entries))
    for entry in entries:
        w.meta(*entry)
    return w.data()


class BmxModel:
    """A parsed ``.bmx`` file: ``version``, ``tensors`` (dicts with name, kind, dtype, shape, array),
    ``nodes`` (dicts with op, name, attrs, inputs, outputs as tensor indices), ``inputs``, ``outputs``,
    ``metadata`` (a ``ModelMetadata``, or ``None`` when the file records none) and ``graph_end``, the file
    offset where the graph block ends."""

    def __init__(self, version, tensors, nodes, inputs, outputs, metadata, graph_end):
        self.version, self.tensors, self.nodes, self.inputs, self.outputs = version, tensors, nodes, inputs, outputs
        self.metadata, self.graph_end = metadata, graph_end


def read_bmx(data):
    """Parse ``.bmx`` bytes (or a path) into a :class:`BmxModel`; raises ``ValueError`` on a bad file."""
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            data = f.read()
    if len(data) < HEADER.size:
        raise ValueError(f"Expected at least {HEADER.size} header bytes, got {len(data)}")
    magic, major, minor, header_size, body_size, crc, flags = HEADER.unpack_from(data)
    if magic != MAGIC or (major, header_size, flags) != (VERSION[0], HEADER.size, 0):
        raise ValueError(f"Not a version-{VERSION[0]} .bmx file (magic {magic!r}, version {major}.{minor})")
    if body_size != len(data) - HEADER.size or zlib.crc32(data[HEADER.size:]) != crc:
        raise ValueError("The .bmx body is truncated or corrupt (size or CRC-32 mismatch)")
    try:
        return _parse_body(data, major, minor)
    except (struct.error, UnicodeDecodeError, KeyError, ValueError, TypeError) as err:
        raise ValueError(f"The .bmx graph block is malformed although its CRC-32 matches (written by a broken "
                         f"writer?): {type(err).__name__}: {err}") from None


def _parse_body(data, major, minor):
    """The :class:`BmxModel` in ``data``, whose header :func:`read_bmx` has checked."""
    pos = HEADER.size

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def string():
        nonlocal pos
        n = take("I")
        pos += n
        return bytes(data[pos - n:pos]).decode("utf-8")

    n_tensors, n_nodes, n_inputs, n_outputs = take("4I")
    tensors = []
    for _ in range(n_tensors):
        name = string()
        kind, dtype, ndim, _ = take("4B")
        shape = tuple(take(f"{ndim}Q")) if ndim > 1 else ((take("Q"),) if ndim == 1 else ())
        array = None
        if kind == KIND_CONSTANT:
            offset, nbytes = take("2Q")
            array = np.frombuffer(data, _DTYPES[dtype], nbytes // _DTYPES[dtype].itemsize, offset).reshape(shape)
        tensors.append({"name": name, "kind": kind, "dtype": dtype, "shape": shape, "array": array})
    nodes = []
    for _ in range(n_nodes):
        op, name = string(), string()
        attrs = {}
        for _ in range(take("I")):
            key, kind = string(), take("B")
            if kind == ATTR_INTS:
                count = take("I")
                attrs[key] = tuple(take(f"{count}q")) if count > 1 else ((take("q"),) if count == 1 else ())
            elif kind == ATTR_FLOAT:
                attrs[key] = take("d")
            else:
                attrs[key] = string()
        ins = [take("I") for _ in range(take("I"))]
        outs = [take("I") for _ in range(take("I"))]
        nodes.append({"op": op, "name": name, "attrs": attrs, "inputs": ins, "outputs": outs})
    inputs = [take("I") for _ in range(n_inputs)]
    outputs = [take("I") for _ in range(n_outputs)]
    metadata = None
    if (major, minor) >= METADATA_SINCE:
        values = {}
        for _ in range(take("I")):
            key, kind = string(), take("B")
            if kind == META_FLOAT:
                values[key] = take("d")
            elif kind == META_STRING:
                values[key] = string()
            elif kind == META_FLOATS:
                count = take("I")
                values[key] = tuple(struct.unpack_from(f"<{count}d", data, pos))
                pos += 8 * count
            elif kind == META_STRINGS:
                values[key] = tuple(string() for _ in range(take("I")))
            else:
                raise ValueError(f"Metadata entry {key!r} has unknown kind {kind}")
        if values:
            from .model_metadata import ModelMetadata

            metadata = ModelMetadata.from_dict(values)
    return BmxModel((major, minor), tensors, nodes, inputs, outputs, metadata, pos)
