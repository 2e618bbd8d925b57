"""Model summary: parameters, MACs and memory by precision, per layer and in total.

    >>> from bmxnet_ext import summary
    >>> from model_zoo import get_model
    >>> s = summary(get_model("resnet18"), (1, 3, 224, 224))      # prints the table
    >>> round(s.packed_mib, 1), round(s.float_mib, 1)
    (3.4, 44.6)

Conventions
-----------
- **Parameters** (``total_params``): weights, biases and BatchNorm gamma/beta (the paper's convention).
  BatchNorm running mean/variance are **state** (``state_params``): not parameters, but stored in the
  params file, so they count towards the model sizes.
- **Float size**: every parameter and state value as float32.
- **Packed size**: what the converted model stores. 1-bit weights are packed as in ``docs/conventions.md``:
  ``ceil(K / 64)`` 64-bit words per output channel and kernel position (``K`` = input channels per group,
  or input units of a dense layer). Everything else (full-precision and k-bit weights, biases, BatchNorm
  parameters and state) stays float32. File headers are not counted: BMXNet v1's ResNet-18 file is
  3,553,824 B, this gives 3,548,368 B (3.4 MiB either way, Table 3 of the paper).
- **Bits** come from the quantizers: a layer's weight bits are its kernel quantizer's ``precision`` (32 without
  one), its activation bits those of its own ``input_quantizer``, else of the 1-bit block (``QActivation``,
  ``RSign``) whose output it reads directly, else 32.
- **MACs** per sample, for convolutions and dense layers. A MAC is *binary* when the layer's weights and input
  are both 1-bit; otherwise it counts at ``max(weight bits, activation bits)``.
- A network without weights or without convolutions gets the same table, with zeros.

The summary traces the network symbolically (no memory for weights or activations is allocated), so it
works on uninitialized and huge models alike.
"""
import json
import math
from dataclasses import dataclass, field

import mxnet as mx
from mxnet.gluon import nn

from . import quantizers
from .cli import mxnet_quiet, mxnet_reason
from .layers import CONFIG_ATTR, LAYER_ATTR, QActivation, RSign
from .words import WORD_BYTES, words_for

__all__ = ["summary", "ModelSummary", "LayerSummary"]

FLOAT_BYTES = 4
MIB = 2 ** 20
STATE_SUFFIXES = ("running_mean", "running_var")


@dataclass
class LayerSummary:
    """One leaf block of the network.

    ``params`` and ``macs`` map a bit width (1, 2..31, 32) to a count; ``state`` counts BatchNorm running
    statistics; ``memory_bytes`` is the packed storage of the layer's parameters and state.
    ``output_shape`` and ``macs`` are None when the summary had no input shape.
    """

    name: str
    type: str
    output_shape: tuple = None
    weight_bits: int = None
    activation_bits: int = None
    params: dict = field(default_factory=dict)
    state: int = 0
    macs: dict = None
    memory_bytes: int = 0


@dataclass
class ModelSummary:
    """Totals over all layers; see the module docstring for the conventions."""

    layers: list
    input_shape: tuple
    params_by_bits: dict
    state_params: int
    macs_by_bits: dict
    packed_bytes: int

    @property
    def total_params(self):
        return sum(self.params_by_bits.values())

    @property
    def binary_params(self):
        return self.params_by_bits.get(1, 0)

    @property
    def fp_params(self):
        """Parameters that are not 1-bit (full precision and k-bit)."""
        return self.total_params - self.binary_params

    @property
    def float_bytes(self):
        return FLOAT_BYTES * (self.total_params + self.state_params)

    @property
    def float_mib(self):
        return self.float_bytes / MIB

    @property
    def packed_mib(self):
        return self.packed_bytes / MIB

    @property
    def compression_ratio(self):
        """Float size over packed size (1.0 for a network that stores nothing)."""
        return self.float_bytes / self.packed_bytes if self.packed_bytes else 1.0

    @property
    def total_macs(self):
        return None if self.macs_by_bits is None else sum(self.macs_by_bits.values())

    @property
    def binary_mac_share(self):
        """Fraction of the MACs that are binary (xnor/popcount): 0.0 without MACs, None without an input shape."""
        if self.total_macs is None:
            return None
        return self.macs_by_bits.get(1, 0) / self.total_macs if self.total_macs else 0.0

    def table(self):
        """The per-layer table and the totals as text."""
        header = ("Layer", "Type", "Output shape", "Bits w/a", "Params 1-bit", "Params other",
                  "MACs binary", "MACs other", "Memory KiB")
        rows = [header]
        for layer in self.layers:
            bits = "-" if layer.weight_bits is None and layer.activation_bits is None else \
                f"{_or_dash(layer.weight_bits)}/{_or_dash(layer.activation_bits)}"
            other = sum(n for b, n in layer.params.items() if b != 1)
            macs_binary = macs_other = "-"
            if layer.macs is not None:
                macs_binary = f"{layer.macs.get(1, 0):,}"
                macs_other = f"{sum(n for b, n in layer.macs.items() if b != 1):,}"
            rows.append((layer.name, layer.type, _or_dash(layer.output_shape), bits,
                         f"{layer.params.get(1, 0):,}", f"{other:,}", macs_binary, macs_other,
                         f"{layer.memory_bytes / 1024:.1f}"))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
        lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines += ["", *self._totals()]
        return "\n".join(lines)

    def _totals(self):
        by_bits = ", ".join(f"{bits}-bit {count:,}" for bits, count in sorted(self.params_by_bits.items()))
        lines = [
            f"Total params            {self.total_params:,}" + (f" ({by_bits})" if by_bits else ""),
            f"Binary / other params   {self.binary_params:,} / {self.fp_params:,}",
            f"BatchNorm state         {self.state_params:,} (running mean/var, stored in the params file)",
            f"Model size float32      {self.float_bytes:,} B = {self.float_mib:.2f} MiB",
            f"Model size packed       {self.packed_bytes:,} B = {self.packed_mib:.2f} MiB",
            f"Compression ratio       {self.compression_ratio:.2f}x",
        ]
        if self.total_macs is not None:
            by_bits = ", ".join(f"{bits}-bit {count:,}" for bits, count in sorted(self.macs_by_bits.items()))
            lines += [f"MACs per sample         {self.total_macs:,}" + (f" ({by_bits})" if by_bits else ""),
                      f"Binary share of MACs    {self.binary_mac_share:.4f}"]
        return lines

    def __str__(self):
        return self.table()


def summary(net, input_shape=None, print_fn=print):
    """Summarize ``net`` (a Gluon ``HybridBlock``) and print the table with ``print_fn`` (None: silent).

    Parameters
    ----------
    net : mxnet.gluon.HybridBlock
        Need not be initialized.
    input_shape : tuple of int, optional
        Shape of one input batch, e.g. ``(1, 3, 224, 224)``. Gives output shapes and MACs, and resolves
        parameters whose shapes are deferred (``in_channels=0``). Without it, every parameter shape must
        already be known.

    Returns
    -------
    ModelSummary
    """
    traced = _trace(net)
    shapes = _infer_shapes(net, traced, input_shape)
    batch = input_shape[0] if input_shape else None
    out_shapes = shapes["outputs"] or [None] * len(traced.calls)
    layers, seen = [], set()
    for (block, _, in_bits), out_shape in zip(traced.calls, out_shapes):
        layers.append(_layer_summary(net, block, in_bits, out_shape, shapes["args"], batch,
                                     first_call=id(block) not in seen))
        seen.add(id(block))
    params_by_bits, macs_by_bits = {}, ({} if input_shape else None)
    for layer in layers:
        _accumulate(params_by_bits, layer.params)
        if input_shape:
            _accumulate(macs_by_bits, layer.macs)
    result = ModelSummary(layers=layers, input_shape=tuple(input_shape) if input_shape else None,
                          params_by_bits=params_by_bits, state_params=sum(layer.state for layer in layers),
                          macs_by_bits=macs_by_bits, packed_bytes=sum(layer.memory_bytes for layer in layers))
    if print_fn is not None:
        print_fn(result.table())
    return result


class _Trace:
    """Leaf blocks in call order, each with its output symbol and the bits of its input activation."""

    def __init__(self):
        self.calls = []

    def hook(self, block, inputs, output):
        self.calls.append((block, output, _activation_bits(inputs[0]) if inputs else None))


def _trace(net):
    trace = _Trace()
    handles = [block.register_forward_hook(trace.hook) for block in _leaves(net)]
    try:
        net(mx.sym.var("data"))  # the hooks record every leaf call
    finally:
        for handle in handles:
            handle.detach()
    return trace


def _leaves(block):
    """The blocks listed as layers: every block without children, and every block with parameters of its own,
    which is one layer with those of its children that hold no parameters (``Dense(activation=...)`` and its
    ``Activation``)."""
    children = list(block._children.values())
    if block._reg_params or not children:
        return [block] + [leaf for child in children if list(child.collect_params()) for leaf in _leaves(child)]
    return [leaf for child in children for leaf in _leaves(child)]


def _activation_bits(symbol):
    """Bits of ``symbol`` if a ``QActivation`` or ``RSign`` produced it (from the graph node's tags), else 32."""
    if not isinstance(symbol, mx.sym.Symbol):
        return 32
    layer = symbol.attr(LAYER_ATTR)
    if layer is None or layer.split(":")[0] not in (QActivation.__name__, RSign.__name__):
        return 32
    return int(json.loads(symbol.attr(CONFIG_ATTR))["bits"])


def _infer_shapes(net, traced, input_shape):
    """Shapes of the parameters (by name) and of the traced outputs (in call order, or None)."""
    params = net.collect_params()
    if input_shape is None:
        unknown = [name for name, p in params.items() if p.shape is None or 0 in p.shape]
        if unknown:
            raise ValueError(f"Parameter {unknown[0]!r} (and {len(unknown) - 1} more) has an unknown shape: the "
                             "network defers its shapes until it sees data. Pass input_shape=(N, C, H, W) to "
                             "summary(), or run one forward pass before summarizing.")
        return {"args": {name: p.shape for name, p in params.items()}, "outputs": None}
    group = mx.sym.Group([out for _, out, _ in traced.calls])
    try:
        with mxnet_quiet():
            arg_shapes, out_shapes, aux_shapes = group.infer_shape(data=tuple(input_shape))
    except mx.base.MXNetError as err:
        raise ValueError(f"Cannot run {type(net).__name__} on input_shape={tuple(input_shape)}: "
                         f"{mxnet_reason(err)}") from None
    args = dict(zip(group.list_arguments(), arg_shapes))
    args.update(zip(group.list_auxiliary_states(), aux_shapes))
    return {"args": args, "outputs": out_shapes}


def _layer_summary(net, block, in_bits, output_shape, arg_shapes, batch, first_call=True):
    """Parameters, state, packed bytes and MACs of one call of leaf ``block``.

    A block called more than once (shared weights) has its parameters and memory counted at the first call
    only; every call counts its MACs.
    """
    name = block.name[len(net.prefix):] if block.name.startswith(net.prefix) else block.name
    layer = LayerSummary(name=name or block.name, type=type(block).__name__,
                         output_shape=None if output_shape is None else tuple(output_shape))
    if isinstance(block, (QActivation, RSign)):
        layer.activation_bits = quantizers.precision(block.quantizer)
    weight_bits = quantizers.precision(getattr(block, "kernel_quantizer", None))
    if getattr(block, "input_quantizer", None) is not None:
        in_bits = quantizers.precision(block.input_quantizer)
    for param in block._reg_params.values():
        shape = arg_shapes.get(param.name, param.shape)
        count = int(math.prod(shape)) if first_call else 0
        if param.name.endswith(STATE_SUFFIXES):
            layer.state += count
            layer.memory_bytes += FLOAT_BYTES * count
        elif param.name.endswith("weight") and isinstance(block, (nn.conv_layers._Conv, nn.Dense)):
            layer.weight_bits, layer.activation_bits = weight_bits, in_bits
            layer.params[weight_bits] = layer.params.get(weight_bits, 0) + count
            layer.memory_bytes += _weight_bytes(shape, weight_bits) if first_call else 0
            if layer.output_shape is not None:
                layer.macs = {max(weight_bits, in_bits): _macs(block, shape, layer.output_shape, batch)}
        else:
            layer.params[32] = layer.params.get(32, 0) + count
            layer.memory_bytes += FLOAT_BYTES * count
    if layer.macs is None and layer.output_shape is not None:
        layer.macs = {}
    return layer


def _weight_bytes(shape, bits):
    """Packed bytes of a weight of ``shape`` (O, K_per_group, *kernel) or (O, K): 64-bit words along K at 1 bit."""
    if bits != 1:
        return FLOAT_BYTES * int(math.prod(shape))
    outputs, inputs, kernel = shape[0], shape[1], shape[2:]
    return WORD_BYTES * outputs * int(math.prod(kernel)) * words_for(inputs)


def _macs(block, weight_shape, output_shape, batch):
    """Multiply-accumulates per sample: each output element needs ``prod(weight_shape[1:])`` of them."""
    per_output = int(math.prod(weight_shape[1:]))
    outputs = int(math.prod(output_shape)) // batch
    return outputs * per_output


def _accumulate(total, counts):
    for bits, count in (counts or {}).items():
        total[bits] = total.get(bits, 0) + count


def _or_dash(value):
    return "-" if value is None else str(value)
