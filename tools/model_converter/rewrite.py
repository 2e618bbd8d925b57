"""Rewrite a graph of layer nodes (``layers.py``) into the converted graph (``docs/converter.md``).

The converted graph uses the three operators of ``docs/conventions.md`` for binary layers and standard MXNet
operators for everything else. The rewriter walks the nodes in order and gives every output a *value* that
says what it is, without deciding yet how it will be computed:

- :class:`FloatValue` - an ordinary float tensor of the converted graph;
- :class:`SignValue` - ``det_sign(source - shift)`` on the levels -1 / +1 or 0 / 1, the output of a 1-bit
  ``QActivation`` or ``RSign`` (0 / 1: ``ste_heaviside``, whose packed bits are those of the sign);
- :class:`BatchNormValue` - an inference BatchNorm of ``source`` not yet emitted;
- :class:`LevelValue` - the output of a k-bit DoReFa ``QActivation``, ``q = n / L`` with the integer level
  ``n = round(L clip(x, 0, 1))``, ``L = 2^k - 1``;
- :class:`BinaryValue` - ``scale[o] * y + bias[o]`` of a binary layer, ``y`` its integer dot product.

Consumers then ask for the form they need, and that is what folds: a BatchNorm after a binary layer becomes
its output affine; a BatchNorm + sign before a binary layer becomes ``BmxPack``'s affine, or the packed output
of the previous binary layer. A value asked for as float is materialized once (``BatchNorm`` node, ``det_sign``
arithmetic, or a binary operator with float output). With ``exact=True`` nothing is folded (BatchNorm stays
MXNet's own operator), so the converted model computes every float exactly as the original does.

A layer with a sign kernel reads a :class:`LevelValue` as ``L`` binary planes (thermometer code)
``h_t = [n >= t]``, ``t = 1 .. L``, so ``n = sum_t h_t`` and, with ``r[o]`` the sum of the +/-1 weights of
output ``o`` (zero padding is level 0: every plane 0, the -1 padding of the planes' signs)::

    conv(q, sign W) = (1 / L) sum_t conv(h_t, sign W) = (1 / L) (Y + L r) / 2

with ``Y = sum_t y_t``, ``y_t`` the binary dot product of plane ``t``: one binary operator per plane, all
sharing the layer's packed weights and output scale (the first adds the bias), their float outputs summed by
``elemwise_add``. Plane ``t`` is packed by ``BmxPack`` with the affine ``L x - (t - 1/2)``: its bit is clear
where ``fl(L x) - (t - 1/2) >= 0``, i.e. ``fl(L x) >= t - 1/2``, i.e. ``round(fl(L clip(x, 0, 1))) >= t`` for
MXNet's round (half away from zero) on every float32 ``x`` but NaN: the same multiply MXNet rounds
(``docs/conventions.md``).

Every sign decision that folding moves into a different float evaluation order is recorded as a
:class:`SignCheck`, and every binary operator as an :class:`ArithmeticCheck`, for ``verify.py``.
"""
import json
from dataclasses import dataclass, field

import numpy as np

from bmxnet_ext.words import WORD_BYTES, words_for

from .graph import ConversionError, Graph, Node, as_float32
from .packing import pack_conv_weight, pack_dense_weight

__all__ = ["rewrite", "Rewritten", "SignCheck", "ArithmeticCheck", "FoldCheck", "LayerRecord", "plane_affine",
           "MAX_PLANE_BITS"]


@dataclass(eq=False)
class FloatValue:
    entry: tuple


@dataclass(eq=False)
class ParamValue:
    name: str


@dataclass(eq=False)
class SignValue:
    source: object
    origin: str  # original node whose output is this +/-1 (or 0/1) tensor
    name: str  # the QActivation layer's name, for the nodes emitted for it
    levels: tuple = (-1.0, 1.0)  # (0.0, 1.0): ste_heaviside, (det_sign + 1) / 2
    shift: object = None  # RSign: per-channel threshold subtracted before the sign, float32 (C,)
    reference: str = None  # RSign: the original node holding source - shift
    ndim: int = 4

    @property
    def heaviside(self):
        return self.levels == (0.0, 1.0)


@dataclass(eq=False)
class LevelValue:
    """A k-bit (2..31) DoReFa activation ``round(L clip(source, 0, 1)) / L`` (``L = 2^k - 1``) not yet emitted:
    float where a float is asked for, ``L`` 0/1 planes for a binary layer (module docstring)."""

    source: object
    bits: int
    origin: str  # original node holding the activation's output
    name: str  # the QActivation layer's name
    heaviside = True  # the planes are 0/1 values: a layer of them pads with 0 (level 0)

    @property
    def planes(self):
        return 2 ** self.bits - 1


@dataclass(eq=False)
class BatchNormValue:
    source: object
    node: Node  # the original BatchNorm node (inputs: data, gamma, beta, moving mean, moving var)
    scale: np.ndarray  # the folded affine a, b with BN(x) = a * x + b, float32
    bias: np.ndarray


@dataclass(eq=False)
class BinaryValue:
    node: Node  # the binary layer node (its LayerSpec in node.layer)
    sign: SignValue
    scale: np.ndarray  # float32 (O,)
    bias: np.ndarray
    origin: str  # original node whose output this value equals (up to float reordering when folded)
    folded: bool = False  # scale, bias hold a folded BatchNorm: origin is that BatchNorm (or its RSign shift)


@dataclass
class SignCheck:
    """A sign the converted model takes of ``scale[c] * x + bias[c]``, the original of ``reference``.

    ``source`` and ``reference`` name original nodes (their first output); ``x`` is ``source``'s output and
    ``reference`` holds the float value whose ``det_sign`` the original model took. Channels are axis 1.
    """

    name: str
    source: str
    reference: str
    scale: np.ndarray
    bias: np.ndarray
    negated: bool = False  # the converted bits are those of -det_sign (see `_Rewriter.packed`)
    row_sums: object = None  # a binary layer fed 0/1 activations: x = (y + row_sums) / 2, the sign is of y's affine
    planes: int = 1  # ... fed k-bit activations as planes: x = (y + row_sums) / (2 planes), rounded by MXNet


@dataclass
class ArithmeticCheck:
    """A binary operator to verify bit-exactly: packing ``input`` (original +/-1 tensor) and running the op
    (as int32) must give ``output`` (the original layer's unscaled Convolution / FullyConnected output)."""

    name: str
    op: str
    attrs: dict
    weight: str
    input: str
    output: str
    pre_pad: tuple = (0, 0)  # +1 padding applied to `input` before packing (BMXNet v1 style layers)
    negated: bool = False  # input and weights enter the operator negated
    heaviside: bool = False  # `input` holds 0/1 (= (s + 1) / 2); `output` is then (y + rowsum(sign W)) / 2
    row_sums: object = None  # heaviside: rowsum(sign W) per output channel, float64 (O,)
    planes: int = 1  # > 1: `input` holds k-bit activations n / planes; the operator reads plane `plane`
    plane: int = 0  # 1 .. planes: the operator's plane [n >= plane]
    plane_weight: object = None  # planes > 1: the layer's sign W (float32, original shape), for the exact reference
    folds: list = field(default_factory=list)  # FoldCheck: BatchNorms folded into this layer's affine


@dataclass
class FoldCheck:
    """A BatchNorm folded into a binary layer: ``scale[o] * y + bias[o]`` (float32, multiply then add), ``y``
    the layer's dot product on the original's own input, must equal the original node ``reference`` (MXNet's
    BatchNorm output) within float tolerance."""

    reference: str
    scale: np.ndarray
    bias: np.ndarray


@dataclass
class LayerRecord:
    """One quantized layer for the report: how it was converted and its weight bytes before / after."""

    name: str
    kind: str
    bits: int
    shape: tuple
    converted_as: str
    bytes_before: int
    bytes_after: int
    reason: str = ""  # why a quantized layer stays a float operator
    planes: int = 1  # binary layers of a k-bit input: its number of 0/1 planes


@dataclass
class Rewritten:
    graph: Graph
    layers: list = field(default_factory=list)
    sign_checks: list = field(default_factory=list)
    arithmetic_checks: list = field(default_factory=list)
    folded_batchnorms: int = 0


_TWO_D_OPS = ("Flatten", "FullyConnected", "BmxBinaryDense")
"""Operators whose output is already (N, K): a dense layer's input needs no Flatten after them."""


def _tuple_attr(values):
    return "(" + ", ".join(str(int(v)) for v in values) + ")"


def _batchnorm_affine(graph, node):
    """``(a, b)`` with ``BatchNorm(x) = a * x + b`` per channel, computed in float64, returned as float32."""
    if int(node.attrs.get("axis", 1)) != 1:
        raise ConversionError(f"BatchNorm {node.name!r}: only axis=1 can be folded, got axis={node.attrs['axis']}.")
    gamma, beta, mean, var = (graph.params[graph.nodes[src].name].astype(np.float64) for src, _ in node.inputs[1:5])
    if node.attrs.get("fix_gamma", "True") == "True":
        gamma = np.ones_like(gamma)
    a = gamma / np.sqrt(var + float(node.attrs.get("eps", 1e-3)))
    return as_float32(a), as_float32(beta - mean * a)


def _kernel_quantizer(spec, name):
    """The layer's kernel quantizer (``bmxnet_ext.quantizers``; None: full precision)."""
    from bmxnet_ext import quantizers

    if spec.kernel_quantizer is None:
        return quantizers.from_bits(spec.bits, "weights")
    config = json.loads(spec.kernel_quantizer)
    if config.get("custom"):
        raise ConversionError(f"Layer {name!r}: custom kernel quantizer {config.get('name')!r}: the converter "
                              "cannot compute its forward value; use a registered quantizer.")
    return quantizers.get(config)


def _quantized_weight(weight, spec, name):
    """The forward value of the kernel quantizer ``Q(W)`` computed by the same MXNet operators as the layer
    (for ``magnitude_aware_sign`` its +/-1 part: the scale is the layer's ``xnor`` scaling)."""
    import mxnet as mx

    from bmxnet_ext import quantizers

    q = _kernel_quantizer(spec, name)
    if q is None:
        return as_float32(weight)
    if isinstance(q, quantizers.MagnitudeAwareSign):
        return q.unit(mx.nd, mx.nd.array(weight)).asnumpy()
    return q(mx.nd, mx.nd.array(weight)).asnumpy()


MAX_PLANE_BITS = 4
"""k-bit inputs of at most this many bits (15 planes) become binary planes; wider ones stay float, where
``2^k - 1`` binary products would cost more than one float product."""


def _float_reason(spec, name, x, exact):
    """Why a quantized layer of ``spec`` fed ``x`` stays a float operator, or "" when it packs."""
    from bmxnet_ext import quantizers

    q = _kernel_quantizer(spec, name)
    if quantizers.precision(q) != 1:
        return f"{quantizers.precision(q)}-bit kernel ({getattr(q, 'name', 'none')})" if q else "full precision"
    if getattr(q, "levels", (-1.0, 1.0)) != (-1.0, 1.0) and not isinstance(q, quantizers.MagnitudeAwareSign):
        return f"kernel quantizer {q.name} is not a sign"
    if isinstance(x, LevelValue):
        if exact:
            return (f"{x.bits}-bit input in exact mode (MXNet rounds its float product of k-bit values, the "
                    "planes give the exact one)")
        if x.bits > MAX_PLANE_BITS:
            return f"{x.bits}-bit input (binary planes only up to {MAX_PLANE_BITS} bits)"
        if spec.kind == "conv" and spec.num_group != 1:
            return f"grouped convolution of a {x.bits}-bit input"
    elif not isinstance(x, SignValue):
        return "input is not a quantized activation"
    if spec.bias is not None:
        return "has a bias"
    if spec.kind == "dense" and not spec.flatten:
        return "dense layer with flatten=False"
    if spec.kind == "conv" and any(spec.pad):
        allowed = (0.0,) if x.heaviside else (-1.0, 1.0)
        if spec.pad_value not in allowed:
            kind = f"{x.bits}-bit" if isinstance(x, LevelValue) else "binary"
            return f"pads with {spec.pad_value:g}, not a level of its {kind} input"
    return ""


def _alpha(weight, scaling, channels):
    """Per-output-channel factor of the scaling mode, computed by the same MXNet operators as the layer."""
    import mxnet as mx

    w = mx.nd.array(weight)
    if scaling in ("none", "backward"):  # backward scales only the gradient
        return np.ones(channels, np.float32)
    if scaling == "forward_backward":
        return np.full(channels, mx.nd.mean(mx.nd.abs(w)).asscalar(), np.float32)
    if scaling == "xnor":
        return mx.nd.mean(mx.nd.abs(w), axis=0, exclude=True).asnumpy().astype(np.float32)
    raise ConversionError(f"Unknown scaling mode {scaling!r}.")


class _Rewriter:
    def __init__(self, graph, exact):
        self.src = graph
        self.exact = exact
        self.out = Rewritten(graph=Graph(nodes=[], heads=[], params={}, aux_names=set()))
        self.names = set()
        self.float_cache = {}
        self.packed_cache = {}
        self.param_cache = {}
        self.values = {}
        self.copied = {}
        self.checked_layers = {}  # binary layer node name -> its ArithmeticCheck

    # ---- emitting nodes and parameters -------------------------------------------------------------------
    def unique(self, base):
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def emit(self, op, name, inputs, attrs=None):
        nodes = self.out.graph.nodes
        nodes.append(Node(op=op, name=self.unique(name), attrs=dict(attrs or {}), inputs=list(inputs)))
        return (len(nodes) - 1, 0)

    def param(self, name, array=None):
        """Entry of parameter ``name``, emitted once: the original one when ``array`` is None, else a new one
        holding ``array`` (kept apart from originals of the same name; the node name is made unique)."""
        key = name if array is None else ("generated", name)
        if key not in self.param_cache:
            entry = self.emit("null", name, [])
            self.out.graph.params[self.out.graph.nodes[entry[0]].name] = (
                self.src.params[name] if array is None else array)
            if array is None and name in self.src.aux_names:
                self.out.graph.aux_names.add(self.out.graph.nodes[entry[0]].name)
            self.param_cache[key] = entry
        return self.param_cache[key]

    # ---- values -------------------------------------------------------------------------------------------
    def value(self, entry):
        if entry not in self.values:
            src, out = entry
            self.values[entry] = FloatValue((self.copied[src], out))
        return self.values[entry]

    def float(self, value):
        """The value as a float tensor entry of the converted graph."""
        if isinstance(value, FloatValue):
            return value.entry
        if isinstance(value, ParamValue):
            return self.param(value.name)
        key = id(value)
        if key not in self.float_cache:
            self.float_cache[key] = self._materialize(value)
        return self.float_cache[key]

    def _materialize(self, value):
        if isinstance(value, LevelValue):
            return self.k_bit_activation(value)
        if isinstance(value, SignValue):
            x = self.shifted_float(value)
            if value.heaviside:
                return self.emit("_greater_equal_scalar", value.name, [x], {"scalar": "0"})
            ge = self.emit("_greater_equal_scalar", f"{value.name}_ge", [x], {"scalar": "0"})
            twice = self.emit("_mul_scalar", f"{value.name}_twice", [ge], {"scalar": "2"})
            return self.emit("_minus_scalar", value.name, [twice], {"scalar": "1"})
        if isinstance(value, BatchNormValue):
            node = value.node
            inputs = [self.float(value.source)] + [self.param(self.src.nodes[s].name) for s, _ in node.inputs[1:]]
            return self.emit("BatchNorm", node.name, inputs, node.attrs)
        return self.binary_op(value, "float")

    def shifted_float(self, sign):
        """``source - shift`` of ``sign`` as a float entry (``source`` when there is no shift); ``x + (-t)`` is
        exactly the ``x - t`` the original computed."""
        x = self.float(sign.source)
        if sign.shift is None:
            return x
        shape = (1, -1) + (1,) * (sign.ndim - 2)
        minus = self.param(f"{sign.name}_minus_threshold", as_float32(-sign.shift).reshape(shape))
        return self.emit("broadcast_add", f"{sign.name}_shift", [x, minus])

    def shifted_source(self, sign):
        """The source of ``sign`` with its RSign shift folded in: a BatchNorm affine or a binary layer's bias
        minus the threshold (None when the source cannot absorb it)."""
        source = sign.source
        if sign.shift is None:
            return source
        key = ("shifted", id(sign))
        if key not in self.packed_cache:
            if isinstance(source, BatchNormValue):
                folded = BatchNormValue(source=source.source, node=source.node, scale=source.scale,
                                        bias=as_float32(source.bias - sign.shift))
            elif isinstance(source, BinaryValue):
                folded = BinaryValue(node=source.node, sign=source.sign, scale=source.scale,
                                     bias=as_float32(source.bias - sign.shift), origin=sign.reference,
                                     folded=source.folded)
            else:
                folded = None
            self.packed_cache[key] = folded
        return self.packed_cache[key]

    def packed(self, sign, consumer, negated=False):
        """``sign`` packed for the binary layer node ``consumer`` (conv: per pixel and group; dense: rows).

        ``negated`` packs ``-sign`` instead: a convolution that pads with +1 (BMXNet v1) equals one of the
        negated input and negated weights padding with -1, which the operator does natively. Only sources
        :meth:`negatable` accepts can be negated (their affine is negated with the bias one float lower,
        :func:`_pack_affine`, so the bits are exactly those of ``-det_sign``, zeros included).
        """
        kind, groups = consumer.layer.kind, consumer.layer.num_group
        key = (id(sign), kind, groups, negated)
        if key in self.packed_cache:
            return self.packed_cache[key]
        # an RSign threshold folds into a BatchNorm affine or a binary layer's bias, except in exact mode
        source = sign.source if sign.shift is None else (None if self.exact else self.shifted_source(sign))
        if not self.exact and kind == "conv" and isinstance(source, BatchNormValue):
            scale, bias = _pack_affine(source.scale, source.bias, negated)
            self.out.sign_checks.append(SignCheck(
                name=sign.name, source=self.origin_name(source.node.inputs[0]),
                reference=sign.reference or source.node.name, scale=scale, bias=bias, negated=negated))
            suffix = "_pack_neg" if negated else "_pack"
            inputs = [self.float(source.source), self.param(f"{sign.name}{suffix}_scale", scale),
                      self.param(f"{sign.name}{suffix}_bias", bias)]
            entry = self.emit("BmxPack", f"{sign.name}{suffix}", inputs, {"affine": "True", "num_group": str(groups)})
        elif (not self.exact or not negated) and self._fusable(source, kind, groups):
            self._check_binary_sign(source, negated)
            entry = self.binary_op(source, "packed", negated=negated)
        elif negated:
            raise ConversionError(f"{consumer.name}: cannot negate the packed input {sign.name!r}.")
        else:
            if isinstance(sign.source, BinaryValue) and sign.shift is None:
                self._check_binary_sign(sign.source, False)
            x = self.shifted_float(sign)
            if kind == "dense" and self.out.graph.nodes[x[0]].op not in _TWO_D_OPS:
                x = self.emit("Flatten", f"{sign.name}_flatten", [x])
            entry = self.emit("BmxPack", f"{sign.name}_pack", [x], {"num_group": str(groups)})
        self.packed_cache[key] = entry
        return entry

    def packed_plane(self, level, consumer, t):
        """Plane ``t`` of ``level`` packed for ``consumer`` (groups 1): ``BmxPack`` of the source (flattened
        first for a dense layer) with the affine ``L x - (t - 1/2)``, whose sign is that of the plane (module
        docstring)."""
        kind = consumer.layer.kind
        key = (id(level), kind, t)
        if key not in self.packed_cache:
            x = self.float(level.source)
            if kind == "dense" and self.out.graph.nodes[x[0]].op not in _TWO_D_OPS:
                x = self.emit("Flatten", f"{level.name}_flatten", [x])
            scale, bias = plane_affine(level.planes, t, self.src.params[consumer.layer.weight].shape[1])
            self.packed_cache[key] = self.emit("BmxPack", f"{level.name}_plane{t}", [
                x, self.param(f"{level.name}_plane{t}_scale", scale), self.param(f"{level.name}_plane{t}_bias", bias)],
                {"affine": "True", "num_group": "1"})
        return self.packed_cache[key]

    @staticmethod
    def _fusable(source, kind, groups):
        """A binary layer whose packed output can feed a ``kind`` layer with ``groups`` directly (not a layer of
        k-bit planes, whose output is a sum of float outputs)."""
        return (isinstance(source, BinaryValue) and source.node.layer.kind == kind
                and (kind == "dense" or groups == 1) and _planes(source.sign) == 1)

    def negatable(self, sign, consumer):
        """True if :meth:`packed` can pack ``-sign`` for ``consumer`` (never in exact mode)."""
        return not self.exact and (isinstance(sign.source, BatchNormValue)
                                   or self._fusable(sign.source, consumer.layer.kind, consumer.layer.num_group))

    def _check_binary_sign(self, value, negated):
        raw = value.node.layer.raw_origin
        if raw is not None:
            weight, planes = self.src.params[value.node.layer.weight], _planes(value.sign)
            row_sums = _row_sums(weight, planes) if value.sign.heaviside else None
            scale, bias = _pack_affine(value.scale, value.bias, negated)
            self.out.sign_checks.append(SignCheck(name=value.origin, source=raw, reference=value.origin,
                                                  scale=scale, bias=bias, negated=negated,
                                                  row_sums=row_sums, planes=planes))

    def origin_name(self, entry):
        """The original graph's name for the node producing ``entry`` (layer nodes stand for their output)."""
        node = self.src.nodes[entry[0]]
        return node.layer.origin if node.layer is not None else node.name

    # ---- binary and float layers ------------------------------------------------------------------------
    def binary_op(self, value, out_format, negated=False):
        """Emit the layer of ``value`` with ``out_format``; ``negated`` gives the sign bits of ``-value``."""
        key = (id(value), out_format, negated)
        if key in self.packed_cache:
            return self.packed_cache[key]
        if _planes(value.sign) > 1:  # only ever asked for as float (not fusable, never negated)
            self.packed_cache[key] = self.planes_op(value)
            return self.packed_cache[key]
        node = value.node
        a = node.layer
        weight = self.src.params[a.weight]
        name = node.name if out_format == "float" else f"{node.name}_{out_format}{'_neg' if negated else ''}"
        pre_pad, flip_input = (0, 0), False
        if a.kind == "conv":
            groups = a.num_group
            pad = a.pad
            if any(pad) and a.pad_value > 0 and self.negatable(value.sign, node):
                # +1 padding (BMXNet v1) = the operator's -1 padding of the negated input and weights
                flip_input, x = True, self.packed(value.sign, node, negated=True)
            elif any(pad) and a.pad_value > 0:  # exact mode: pad the +/-1 tensor with +1, then pack
                padded = self.emit("Pad", f"{node.name}_pad", [self.float(value.sign)],
                                   {"mode": "constant", "constant_value": "1.0",
                                    "pad_width": _tuple_attr((0, 0, 0, 0, pad[0], pad[0], pad[1], pad[1]))})
                x = self.emit("BmxPack", f"{node.name}_pack", [padded], {"num_group": str(groups)})
                pre_pad, pad = pad, (0, 0)
            else:
                x = self.packed(value.sign, node)
            op, attrs = self.binary_attrs(node, out_format, pad)
            packed_weight = pack_conv_weight(-weight if flip_input else weight)
        else:
            x = self.packed(value.sign, node)
            op, attrs = self.binary_attrs(node, out_format)
            packed_weight = pack_dense_weight(weight)
        w = self.param(f"{node.name}_weight", packed_weight)
        scale, bias = _pack_affine(value.scale, value.bias, negated)
        scale, bias = self.param(f"{name}_scale", scale), self.param(f"{name}_bias", bias)
        entry = self.emit(op, name, [x, w, scale, bias], attrs)
        if a.raw_origin is not None and node.name not in self.checked_layers:
            self.checked_layers[node.name] = ArithmeticCheck(
                name=self.out.graph.nodes[entry[0]].name, op=op, attrs={**attrs, "out_format": "int32"},
                weight=self.out.graph.nodes[w[0]].name, input=value.sign.origin, output=a.raw_origin,
                pre_pad=tuple(pre_pad), negated=flip_input, heaviside=value.sign.heaviside,
                row_sums=_row_sums(weight) if value.sign.heaviside else None)
            self.out.arithmetic_checks.append(self.checked_layers[node.name])
        check = self.checked_layers.get(node.name)
        if value.folded and check is not None and value.origin not in [f.reference for f in check.folds]:
            check.folds.append(FoldCheck(reference=value.origin, scale=value.scale, bias=value.bias))
        self.packed_cache[key] = entry
        return entry

    def binary_attrs(self, node, out_format, pad=None):
        """The operator name and attributes of the binary layer ``node`` (``pad``: the operator's -1 padding,
        default the layer's)."""
        a = node.layer
        weight = self.src.params[a.weight]
        if a.kind == "dense":
            return "BmxBinaryDense", {"num_hidden": str(a.num_hidden), "in_units": str(weight.shape[1]),
                                      "out_format": out_format}
        return "BmxBinaryConv2D", {
            "kernel": _tuple_attr(a.kernel), "stride": _tuple_attr(a.stride),
            "pad": _tuple_attr(a.pad if pad is None else pad), "dilate": _tuple_attr(a.dilate),
            "num_filter": str(a.num_filter), "num_group": str(a.num_group),
            "in_channels": str(weight.shape[1] * a.num_group), "out_format": out_format}

    def planes_op(self, value):
        """The float output of ``value``, a layer reading the ``L`` planes of a k-bit input: one binary operator
        per plane (:meth:`packed_plane`), all with the layer's packed weights (stored once) and ``scale``, the
        first with ``bias``, the others with 0; their outputs summed by ``elemwise_add`` (module docstring)."""
        node, a, level = value.node, value.node.layer, value.sign
        weight = self.src.params[a.weight]
        w = self.param(f"{node.name}_weight",
                       pack_conv_weight(weight) if a.kind == "conv" else pack_dense_weight(weight))
        scale = self.param(f"{node.name}_scale", as_float32(value.scale))
        biases = (self.param(f"{node.name}_bias", as_float32(value.bias)),
                  self.param(f"{node.name}_zero_bias", np.zeros(len(value.bias), np.float32)))
        op, attrs = self.binary_attrs(node, "float")
        total, sign_weight = None, None
        for t in range(1, level.planes + 1):
            entry = self.emit(op, f"{node.name}_plane{t}", [self.packed_plane(level, node, t), w, scale,
                                                              biases[t > 1]], attrs)
            if a.raw_origin is not None:
                sign_weight = _quantized_weight(weight, a, node.name) if sign_weight is None else sign_weight
                self.out.arithmetic_checks.append(ArithmeticCheck(
                    name=self.out.graph.nodes[entry[0]].name, op=op, attrs={**attrs, "out_format": "int32"},
                    weight=self.out.graph.nodes[w[0]].name, input=level.origin, output=a.raw_origin,
                    heaviside=True, row_sums=_row_sums(weight), planes=level.planes, plane=t,
                    plane_weight=sign_weight))
            last = t == level.planes
            total = entry if total is None else self.emit(
                "elemwise_add", node.name if last else f"{node.name}_sum{t}", [total, entry])
        return total

    def quantized_layer(self, node, x, raw=None):
        """The value of a quantized layer: binary when it packs (see :func:`_float_reason`), else float.

        A 0/1 (``ste_heaviside``) input ``h = (s + 1) / 2`` gives ``alpha * (y + r) / 2``, ``y`` the binary dot
        product of the signs ``s``, ``r[o]`` the sum of the +/-1 weights of output ``o``: a per-channel affine
        of ``y``. A k-bit input of ``L`` planes gives ``alpha * (Y + L r) / (2 L)`` (module docstring), ``L r``
        the row sum of the repeated weights. XNOR-Net's K map (``raw``: the unquantized input) multiplies the
        float output afterwards.
        """
        a = node.layer
        weight = self.src.params[a.weight]
        channels = weight.shape[0]
        reason = _float_reason(a, node.name, x, self.exact)
        if not reason:
            planes = _planes(x)
            alpha = _alpha(weight, a.scaling, channels).astype(np.float64) / planes
            offset = np.zeros(channels)
            if x.heaviside:
                alpha, offset = alpha / 2, alpha / 2 * _row_sums(weight, planes)
            scale = as_float32(alpha * a.output_scale)
            bias = as_float32((offset + a.output_offset) * a.output_scale)
            words = packed_weight_bytes(weight.shape, a.kind)
            self.out.layers.append(LayerRecord(node.name, a.kind, 1, weight.shape, "binary",
                                               weight.size * 4, words, planes=planes))
            value = BinaryValue(node=node, sign=x, scale=scale, bias=bias, origin=a.origin)
            if raw is None:
                return value
            y = self.binary_op(value, "float")
        else:
            self.out.layers.append(LayerRecord(node.name, a.kind, a.bits, weight.shape, "float",
                                               weight.size * 4, weight.size * 4, reason))
            y = self.float_layer(node, x)
        if raw is not None:
            y = self.emit("broadcast_mul", f"{node.name}_k_scaled", [y, self.k_map(node, raw)])
        return FloatValue(y)

    def k_map(self, node, raw):
        """XNOR-Net's ``K = mean_c |x| * box``: one Convolution of ``|x|`` with weights ``1 / (C KH KW)``,
        zero padding and the layer's stride and dilation; shape (N, 1, OH, OW)."""
        a = node.layer
        channels = self.src.params[a.weight].shape[1] * a.num_group
        box = np.full((1, channels) + tuple(a.kernel), 1.0 / (channels * a.kernel[0] * a.kernel[1]), np.float32)
        magnitude = self.emit("abs", f"{node.name}_k_abs", [self.float(raw)])
        return self.emit("Convolution", f"{node.name}_k_map", [magnitude, self.param(f"{node.name}_k_box", box)], {
            "kernel": _tuple_attr(a.kernel), "stride": _tuple_attr(a.stride), "pad": _tuple_attr(a.pad),
            "dilate": _tuple_attr(a.dilate), "num_filter": "1", "num_group": "1", "no_bias": "True",
            "layout": "NCHW"})

    def rprelu(self, node, x):
        """ReActNet's RPReLU as standard operators: ``broadcast_add(x, -gamma)``, ``LeakyReLU`` (prelu, slope
        ``beta``), ``broadcast_add(., zeta)``."""
        a = node.layer
        gamma, beta, zeta = (self.src.params[p] for p in a.params)
        shape = (1, -1) + (1,) * (a.ndim - 2)
        y = self.emit("broadcast_add", f"{node.name}_shift_in",
                      [self.float(x), self.param(f"{node.name}_minus_gamma", as_float32(-gamma).reshape(shape))])
        y = self.emit("LeakyReLU", f"{node.name}_prelu", [y, self.param(a.params[1])], {"act_type": "prelu"})
        return self.emit("broadcast_add", node.name, [y, self.param(f"{node.name}_zeta", as_float32(zeta).reshape(shape))])

    def float_layer(self, node, x):
        """A quantized layer kept as a float operator with its quantized weights precomputed."""
        a = node.layer
        weight = self.src.params[a.weight]
        q = _quantized_weight(weight, a, node.name)
        inputs = [self.float(x), self.param(f"{node.name}_qweight", q)]
        if a.bias is not None:
            inputs.append(self.param(a.bias))
        no_bias = str(a.bias is None)
        if a.kind == "conv":
            pad = a.pad
            if any(pad) and a.pad_value != 0:
                inputs[0] = self.emit("Pad", f"{node.name}_pad", [inputs[0]], {
                    "mode": "constant", "constant_value": repr(a.pad_value),
                    "pad_width": _tuple_attr((0, 0, 0, 0, pad[0], pad[0], pad[1], pad[1]))})
                pad = (0, 0)
            y = self.emit("Convolution", f"{node.name}_fwd", inputs, {
                "kernel": _tuple_attr(a.kernel), "stride": _tuple_attr(a.stride), "pad": _tuple_attr(pad),
                "dilate": _tuple_attr(a.dilate), "num_filter": str(a.num_filter),
                "num_group": str(a.num_group), "no_bias": no_bias, "layout": "NCHW"})
            channel_shape = (1, -1, 1, 1)
        else:
            y = self.emit("FullyConnected", f"{node.name}_fwd", inputs, {
                "num_hidden": str(a.num_hidden), "flatten": str(a.flatten), "no_bias": no_bias})
            channel_shape = (1, -1)
        if a.bits == 1 and a.scaling in ("forward_backward", "xnor"):
            alpha = _alpha(weight, a.scaling, weight.shape[0]).reshape(channel_shape)
            y = self.emit("broadcast_mul", f"{node.name}_scale", [y, self.param(f"{node.name}_alpha", alpha)])
        if a.output_offset or a.output_scale != 1.0:
            y = self.emit("_plus_scalar", f"{node.name}_offset", [y], {"scalar": repr(float(a.output_offset))})
            y = self.emit("_mul_scalar", f"{node.name}_rescale", [y], {"scalar": repr(float(a.output_scale))})
        return y

    def k_bit_activation(self, level):
        """``level`` as float operators: ``clip -> * L -> round -> / L``, MXNet's own arithmetic."""
        levels = repr(float(level.planes))
        y = self.emit("clip", f"{level.name}_clip", [self.float(level.source)], {"a_min": "0", "a_max": "1"})
        y = self.emit("_mul_scalar", f"{level.name}_levels", [y], {"scalar": levels})
        y = self.emit("round", f"{level.name}_round", [y])
        return self.emit("_div_scalar", level.origin, [y], {"scalar": levels})

    def batch_norm(self, node, inputs):
        a, b = _batchnorm_affine(self.src, node)
        source = inputs[0]
        if isinstance(source, BinaryValue):
            self.out.folded_batchnorms += 1
            return BinaryValue(node=source.node, sign=source.sign, scale=as_float32(a * source.scale),
                               bias=as_float32(a * source.bias + b), origin=node.name, folded=True)
        return BatchNormValue(source=source, node=node, scale=a, bias=b)

    # ---- the walk ---------------------------------------------------------------------------------------
    def run(self):
        for i, node in enumerate(self.src.nodes):
            inputs = [self.value(e) for e in node.inputs]
            if node.op == "null":
                if node.name in self.src.params:
                    self.values[(i, 0)] = ParamValue(node.name)
                else:
                    self.values[(i, 0)] = FloatValue(self.emit("null", node.name, []))
            elif node.op == "_bmx_sign":
                a = node.layer
                shift = None if a.threshold is None else as_float32(self.src.params[a.threshold])
                self.values[(i, 0)] = SignValue(source=inputs[0], origin=a.origin, name=node.name, levels=a.levels,
                                                shift=shift, reference=a.pre_sign, ndim=a.ndim)
            elif node.op == "_bmx_act_k" and node.layer.bits == 32:  # identity
                self.values[(i, 0)] = FloatValue(self.float(inputs[0]))
            elif node.op == "_bmx_act_k":
                self.values[(i, 0)] = LevelValue(source=inputs[0], bits=node.layer.bits, origin=node.layer.origin,
                                                 name=node.name)
            elif node.op == "_bmx_qlayer":
                self.values[(i, 0)] = self.quantized_layer(node, *inputs)
            elif node.op == "_bmx_rprelu":
                self.values[(i, 0)] = FloatValue(self.rprelu(node, inputs[0]))
            elif node.op == "BatchNorm" and not self.exact:
                self.values[(i, 0)] = self.batch_norm(node, inputs)
            else:
                entry = self.emit(node.op, node.name, [self.float(v) for v in inputs], node.attrs)
                self.copied[i] = entry[0]
        self.out.graph.heads = [self.float(self.value(h)) for h in self.src.heads]
        return self.out


def _pack_affine(scale, bias, negated):
    """The float32 ``(scale', bias')`` whose sign bit (set iff ``fl(fl(scale' x) + bias') < 0``) is that of
    ``det_sign(v)``, ``v = fl(fl(scale x) + bias)``, or with ``negated`` that of ``-det_sign(v)``.

    Negated: ``scale' = -scale`` and ``bias'`` = the float32 just below ``-bias``. With ``p = fl(scale x)``,
    ``fl(scale' x) = -p`` exactly, and for floats ``-p + bias' < 0`` iff ``-p < next float above bias`` iff
    ``-p <= bias`` iff ``p + bias >= 0`` iff ``v >= 0``: the bit is set exactly where ``det_sign(v) = +1``, zero
    included (rounding keeps the sign of a sum of floats, which is 0 only when it is exactly 0). The plain
    negation ``-bias`` would give ``v > 0`` and turn every exact zero into a -1."""
    scale, bias = as_float32(scale), as_float32(bias)
    if not negated:
        return scale, bias
    return as_float32(-scale), np.nextafter(-bias, np.float32(-np.inf)).astype(np.float32)


def plane_affine(planes, t, channels):
    """``BmxPack``'s ``(scale, bias)``, float32 ``(channels,)``, of plane ``t`` (1 .. ``planes``): the affine
    ``planes * x - (t - 1/2)``, whose sign bit is clear exactly where ``round(fl(planes * clip(x, 0, 1))) >= t``
    (module docstring)."""
    return np.full(channels, planes, np.float32), np.full(channels, -(t - 0.5), np.float32)


def _planes(x):
    """Binary planes of the input value ``x`` of a binary layer: ``2^k - 1`` for a k-bit input, else 1."""
    return x.planes if isinstance(x, LevelValue) else 1


def _row_sums(weight, planes=1):
    """Sum of the +/-1 weights (det_sign) of each output channel, float64 (O,), times ``planes`` (the row sums
    of all the planes of a k-bit input, ``L r``)."""
    rows = weight.reshape(weight.shape[0], -1)
    return planes * (2.0 * np.count_nonzero(rows >= 0, axis=1) - rows.shape[1])


def packed_weight_bytes(shape, kind):
    """Bytes of the packed words of a binary weight of ``shape``."""
    per_row = words_for(shape[1]) * WORD_BYTES
    return shape[0] * per_row * (shape[2] * shape[3] if kind == "conv" else 1)


def rewrite(graph, *, exact=False):
    """The converted graph of a layer-node graph (see module docstring); raises ConversionError when
    nothing is binary."""
    result = _Rewriter(graph, exact).run()
    if not any(r.converted_as == "binary" for r in result.layers):
        reasons = sorted({r.reason for r in result.layers if r.reason})
        raise ConversionError("Nothing to convert: the model has no 1-bit QConv2D / QDense layer whose input "
                              f"comes from a 1-bit or k-bit (k <= {MAX_PLANE_BITS}) QActivation"
                              + (f" (quantized layers kept float: {'; '.join(reasons)})" if reasons else "") + ".")
    return result
