"""The converter's Python API: a trained model in, a verified packed binary model (and a report) out.

    from tools.model_converter import convert_block, convert_files, convert_bmxnet_v1
    report = convert_block(net, output_dir="out/resnet18", input_shape=(1, 3, 224, 224))
    print(report.format())

Every function (1) reads its input, (2) rewrites it into the converted graph (``rewrite.py``), (3) verifies
it against the original on random inputs (``verify.py``), and only then (4) writes the chosen output format
into ``output_dir`` atomically (``writers.py``), returning a :class:`ConversionReport`. Options are
keyword-only and checked before any work.

The output records the model's :class:`~bmxnet_ext.model_metadata.ModelMetadata` (input convention and class
names), found by :func:`detect_metadata`: the training run's ``args.json`` beside the exported symbol, BMXNet
v1's convention for v1 models, or none; ``metadata=`` replaces it (a ``ModelMetadata``) or some of its fields
(a dict such as ``{"mean": (0, 0, 0), "labels": names}``).
"""
import json
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from bmxnet_ext import bmxnet_v1, model_metadata, ops
from bmxnet_ext.atomic import check_output_parent
from bmxnet_ext.cli import UsageError, mxnet_quiet
from bmxnet_ext.manifest import MANIFEST_NAME

from .graph import ConversionError, check_param_shapes, guess_input_shape, read_mxnet_model
from .fuse import fuse as fuse_graph, verify_fusion
from .layers import collapse_quantized_layers
from .rewrite import rewrite
from .v1_import import v1_layer_graph
from .verify import verify
from .writers import WRITERS, to_mxnet_symbol, write_output_dir

__all__ = ["ConversionReport", "convert_files", "convert_block", "convert_bmxnet_v1", "detect_metadata"]

MIB = 1024 * 1024


@dataclass
class ConversionReport:
    """What a conversion did: the layers, the sizes, the verification and the files written."""

    source: str
    output_dir: str
    files: list
    layers: list
    folded_batchnorms: int
    bytes_before: int
    bytes_after: int
    verification: object
    exact: bool = False
    notes: list = field(default_factory=list)
    fusions: list = field(default_factory=list)  # fuse.Fusion per fused operator (MXNet output only)

    @property
    def compression_ratio(self):
        return self.bytes_before / self.bytes_after if self.bytes_after else float("inf")

    @property
    def binary_layers(self):
        return [r for r in self.layers if r.converted_as == "binary"]

    def as_dict(self):
        return {"source": self.source, "output_dir": self.output_dir, "files": self.files,
                "binary_layers": len(self.binary_layers), "float_layers": len(self.layers) - len(self.binary_layers),
                "folded_batchnorms": self.folded_batchnorms, "bytes_before": self.bytes_before,
                "bytes_after": self.bytes_after, "compression_ratio": round(self.compression_ratio, 3),
                "exact": self.exact, "verification": self.verification.summary(),
                "fused_operators": [{"name": f.name, "replaces": f.ops} for f in self.fusions]}

    def format(self):
        """A human-readable report: one line per quantized layer, then totals."""
        lines = [f"Converted {self.source} -> {self.output_dir}",
                 f"{'layer':40s} {'kind':5s} {'bits':>4s} {'weight shape':>20s} {'as':>6s} "
                 f"{'bytes':>10s} -> {'bytes':>9s}"]
        for r in self.layers:
            lines.append(f"{r.name:40s} {r.kind:5s} {r.bits:4d} {str(tuple(r.shape)):>20s} {r.converted_as:>6s} "
                         f"{r.bytes_before:10d} -> {r.bytes_after:9d}" + (f"  ({r.reason})" if r.reason else "")
                         + (f"  ({r.planes} input planes)" if r.planes > 1 else ""))
        lines.append(f"{len(self.binary_layers)} binary layers (packed), "
                     f"{len(self.layers) - len(self.binary_layers)} quantized layers kept as float operators, "
                     f"{self.folded_batchnorms} BatchNorms folded into binary layer outputs"
                     f"{' (exact mode: no folding)' if self.exact else ''}")
        lines.append(f"params: {self.bytes_before / MIB:.2f} MiB -> {self.bytes_after / MIB:.2f} MiB "
                     f"({self.bytes_before} -> {self.bytes_after} bytes, compression {self.compression_ratio:.1f}x)")
        lines.append(self.verification.summary())
        fused = [f for f in self.fusions if not f.reordered]
        if fused:
            exact = all(f.bit_exact for f in fused)
            lines.append(f"fused: {sum(len(f.ops) for f in fused)} operators into {len(fused)} "
                         f"(binary layer with its input packing and epilogue), "
                         + ("bit-exact against the unfused ones" if exact else
                            "bit-exact against the unfused ones except tanh (within 1e-6)"))
        for f in self.fusions:
            if f.reordered:
                lines.append(f"reordered: tanh after max pooling at {f.name!r} (tanh is non-decreasing; "
                             "checked within 1e-6)")
        lines.extend(self.notes)
        return "\n".join(lines)


class InputShapeMissingError(ValueError, UsageError):
    """A model that records no input shape (a BMXNet v1 model, a Gluon block) given without ``input_shape``:
    a ``ValueError`` for callers, and for the command line a usage error (exit code 2) fixed by a flag,
    ``--input-shape``."""


def _require_shape(input_shape, what):
    if input_shape is None:
        raise InputShapeMissingError(
            f"{what} records no input shape: give one with --input-shape (input_shape=), e.g. --input-shape "
            "1,3,224,224 for ImageNet or 1,1,28,28 for MNIST (input_shape=(1, 3, 224, 224)).")


class OutputExistsError(ConversionError, UsageError):
    """The output folder exists and ``overwrite`` (``--force``) is not set: a :class:`ConversionError` for
    callers, and for the command line a usage error (exit code 2) fixed by a flag, as ``bmxnet-train``'s run
    folder that already holds a run without ``--resume`` / ``--force``."""


def _check_options(output_dir, input_shape, exact, overwrite, output_format, prefix, metadata=None, fuse=True):
    if not isinstance(output_dir, (str, os.PathLike)) or not str(output_dir):
        raise ValueError(f"Expected `output_dir` to be a path, got {output_dir!r}.")
    check_output_parent(output_dir, folder=True)
    if os.path.exists(output_dir) and not overwrite:
        raise OutputExistsError(f"Output directory {os.path.abspath(output_dir)!r} already exists; choose another "
                                "or pass --force (overwrite=True) to replace it.")
    if input_shape is not None and (
            not isinstance(input_shape, (tuple, list)) or len(input_shape) < 2
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape)):
        raise ValueError(f"Expected `input_shape` to be None or a tuple of positive ints like (1, 3, 224, 224), "
                         f"got {input_shape!r}.")
    for name, value in (("exact", exact), ("overwrite", overwrite), ("fuse", fuse)):
        if not isinstance(value, bool):
            raise ValueError(f"Expected `{name}` to be True or False, got {value!r}.")
    if output_format not in WRITERS:
        raise ValueError(f"Expected `output_format` to be one of {sorted(WRITERS)}, got {output_format!r}.")
    if not isinstance(prefix, str) or not prefix or os.sep in prefix:
        raise ValueError(f"Expected `prefix` to be a file name prefix, got {prefix!r}.")
    if metadata is not None and not isinstance(metadata, (model_metadata.ModelMetadata, dict)):
        raise ValueError(f"Expected `metadata` to be a ModelMetadata or a dict of its fields, got {metadata!r}.")


def detect_metadata(symbol_file, *, v1=False, input_shape=None, classes=None):
    """``(ModelMetadata or None, where it came from)`` for a model to convert.

    A BMXNet v1 model gets v1's convention: ImageNet-style models RGB pixels 0..255 without mean or std,
    1-channel (MNIST) models grey pixels scaled to [0, 1]; class names by the number of classes. Otherwise the
    training run's ``args.json`` beside ``symbol_file`` (``bmxnet-train`` records its preprocessing there) is
    read, if present.
    """
    if v1:
        if input_shape is not None and len(input_shape) == 4 and input_shape[1] == 1:
            return model_metadata.for_dataset("mnist"), "BMXNet v1 MNIST convention"
        labels = {1000: "imagenet1k", 10: "cifar10"}.get(classes)
        size = input_shape[-1] if input_shape is not None else 224
        meta = model_metadata.BMXNET_V1.with_overrides(
            labels=model_metadata.label_set(labels) if labels else (),
            resize="stretch" if size < 64 else None)  # CIFAR-sized inputs are taken whole
        return meta, "BMXNet v1 convention (RGB 0..255, no mean/std)"
    args_file = os.path.join(os.path.dirname(os.path.abspath(str(symbol_file))), "args.json")
    if not os.path.isfile(args_file):
        return None, None
    try:
        with open(args_file, encoding="utf-8") as f:
            meta = model_metadata.from_training_args(json.load(f))
    except (OSError, ValueError) as err:
        raise ConversionError(f"Cannot read the training run's {args_file!r}: {err}") from err
    return meta, (args_file if meta is not None else None)


def _resolve_metadata(detected, source, metadata, notes):
    """The metadata to record: ``metadata`` if it is a ModelMetadata, else ``detected`` (or the default when
    only some fields are given) with the fields of a ``metadata`` dict replaced; notes where it came from."""
    if isinstance(metadata, model_metadata.ModelMetadata):
        result, source = metadata, "given"
    elif metadata:
        result = (detected or model_metadata.DEFAULT).with_overrides(**metadata)
        source = f"{source or 'default'}, with {', '.join(sorted(metadata))} given"
    else:
        result = detected
    if result is not None:
        notes.append(f"input convention: {result.color}, x = (pixel * {result.scale:.6g} - mean {list(result.mean)}) "
                     f"/ std {list(result.std)}, resize {result.resize}; {len(result.labels)} class names "
                     f"({source}).")
    return result


HUGE_PARAMETER = 1e10
"""Parameters beyond this magnitude are reported: no trained layer needs them; a diverged training makes them."""


def check_values(params, source):
    """Raise :class:`ConversionError` naming the first parameter of ``params`` (name -> NumPy array) with NaN or
    infinite values (as float32, the converted model's precision) and how many it holds. Returns notes for the
    report naming parameters with values beyond :data:`HUGE_PARAMETER` (converted, but suspicious)."""
    notes = []
    for name, array in params.items():
        if not np.issubdtype(array.dtype, np.floating) or not array.size:
            continue
        magnitude = np.abs(array.astype(np.float32, copy=False))
        bad = np.count_nonzero(~np.isfinite(magnitude))
        if bad:
            raise ConversionError(f"Parameter {name!r} in {source} holds {bad} non-finite value"
                                  f"{'s' if bad > 1 else ''} (NaN or beyond float32's range) of {array.size}: "
                                  "the model cannot be converted; retrain or repair it.")
        huge = np.count_nonzero(magnitude > HUGE_PARAMETER)
        if huge:
            notes.append(f"warning: parameter {name!r} holds {huge} values beyond {HUGE_PARAMETER:g} in magnitude "
                         f"(largest {float(magnitude.max()):.3g}): the training may have diverged.")
    return notes


def _check_labels(metadata, symbol, data_name, input_shape):
    """Raise :class:`ConversionError` unless the class names to record number the outputs ``K`` of a model
    whose output is ``(N, K)`` (shape inference only): a reader would otherwise name classes wrongly."""
    if metadata is None or not metadata.labels:
        return
    with mxnet_quiet():
        _, outputs, _ = symbol.infer_shape(**{data_name: tuple(input_shape)})
    if len(outputs) == 1 and len(outputs[0]) == 2 and outputs[0][1] != len(metadata.labels):
        sets = ", ".join(f"{name} ({len(model_metadata.label_set(name))})" for name in model_metadata.LABEL_SETS)
        raise ConversionError(f"{len(metadata.labels)} class names for a model with {outputs[0][1]} outputs: give "
                              f"{outputs[0][1]} (--labels: a file with one name per line, or one of {sets}).")


def _convert(source, layer_graph, original_symbol, original_params, original_aux, bytes_before, *, output_dir,
             input_shape, exact, overwrite, output_format, prefix, notes=(), metadata=None, fuse=True):
    """Shared tail: rewrite, verify, write, report."""
    data_name = [n for n in original_symbol.list_arguments() if n not in original_params][0]
    _check_labels(metadata, original_symbol, data_name, input_shape)
    rewritten = rewrite(layer_graph, exact=exact)
    converted_symbol = to_mxnet_symbol(rewritten.graph)
    verification = verify(original_symbol, original_params, original_aux, rewritten, converted_symbol, data_name,
                          input_shape, exact=exact)
    graph, fusions = rewritten.graph, []
    if fuse and output_format == "mxnet":  # the standalone runtime fuses at load time (fuse.py)
        graph, fusions = fuse_graph(rewritten.graph, exact=exact)
        if fusions:
            verify_fusion(converted_symbol, to_mxnet_symbol(graph), graph, fusions, data_name, input_shape)
    files = write_output_dir(output_dir, lambda tmp: WRITERS[output_format](graph, tmp, prefix,
                                                                            tuple(input_shape), metadata),
                             overwrite=overwrite)
    model_files = [f for f in files if f != MANIFEST_NAME]
    bytes_after = sum(os.path.getsize(os.path.join(output_dir, f)) for f in model_files if f.endswith(".params"))
    return ConversionReport(source=source, output_dir=os.path.abspath(output_dir), files=files,
                            layers=rewritten.layers, folded_batchnorms=rewritten.folded_batchnorms,
                            bytes_before=bytes_before, bytes_after=bytes_after or sum(
                                os.path.getsize(os.path.join(output_dir, f)) for f in model_files),
                            verification=verification, exact=exact, notes=list(notes), fusions=fusions)


def convert_files(symbol_file, params_file, *, output_dir, input_shape=None, exact=False, overwrite=False,
                  output_format="mxnet", prefix=None, metadata=None, fuse=True):
    """Convert an exported model (``PREFIX-symbol.json`` + ``PREFIX-NNNN.params`` of a Gluon model built from
    ``bmxnet_ext`` layers).

    Parameters
    ----------
    symbol_file, params_file : str
    output_dir : str
        Directory to create (an existing one is an error unless ``overwrite``).
    input_shape : tuple of int, optional
        Shape of the data input used for verification, e.g. ``(1, 3, 224, 224)``; default: guessed from the
        first layer (batch 1; sizes 224, 32, 28, ... until the parameters fit), stated in the report.
    exact : bool
        Keep BatchNorm unfolded so every float is computed as in the original (see ``docs/converter.md``).
    output_format : str
        A key of :data:`writers.WRITERS` (``"mxnet"``: symbol JSON + params for ``SymbolBlock.imports``).
    prefix : str, optional
        Output file prefix; default: the input's prefix.
    metadata : ModelMetadata or dict, optional
        Input convention and class names to record, or fields replacing the detected ones (module docstring).
    fuse : bool
        MXNet format: run each binary layer with its input packing and epilogue as one operator call
        (``fuse.py``; verified against the unfused graph). False writes one operator per step.
    """
    prefix = prefix or os.path.basename(str(symbol_file)).rsplit("-symbol.json", 1)[0] or "model"
    _check_options(output_dir, input_shape, exact, overwrite, output_format, prefix, metadata, fuse)
    ops.load()
    import mxnet as mx

    graph = read_mxnet_model(symbol_file, params_file)
    notes = check_values(graph.params, repr(str(params_file)))
    try:
        symbol = mx.sym.load(symbol_file)
    except mx.base.MXNetError as err:
        raise ConversionError(f"MXNet cannot load the symbol {str(symbol_file)!r}: "
                              f"{str(err).strip().splitlines()[-1]}") from err
    if input_shape is None:
        input_shape, how = guess_input_shape(graph, symbol)
        notes.append(f"input shape {input_shape} {how} (give input_shape to choose).")
    check_param_shapes(graph, symbol, input_shape)
    metadata = _resolve_metadata(*detect_metadata(symbol_file), metadata, notes)
    return _convert(f"{symbol_file} + {params_file}", collapse_quantized_layers(graph), symbol, graph.params,
                    graph.aux_names, os.path.getsize(params_file), output_dir=output_dir, input_shape=input_shape,
                    exact=exact, overwrite=overwrite, output_format=output_format, prefix=prefix, notes=notes,
                    metadata=metadata, fuse=fuse)


def convert_block(block, *, output_dir, input_shape, exact=False, overwrite=False, output_format="mxnet",
                  prefix="model", metadata=None, fuse=True):
    """Convert a Gluon ``HybridBlock`` built from ``bmxnet_ext`` layers (initialized; it is hybridized and run
    once on zeros of ``input_shape`` to export it). Other options as :func:`convert_files`."""
    import mxnet as mx
    from mxnet.gluon import HybridBlock

    if not isinstance(block, HybridBlock):
        raise ValueError(f"Expected `block` to be a gluon HybridBlock, got {type(block).__name__}.")
    _require_shape(input_shape, "a Gluon block")
    _check_options(output_dir, input_shape, exact, overwrite, output_format, prefix, metadata, fuse)
    with tempfile.TemporaryDirectory(prefix="bmx-export-") as tmp:
        block.hybridize()
        block(mx.nd.zeros(tuple(input_shape)))
        path = os.path.join(tmp, prefix)
        block.export(path, 0)
        return convert_files(f"{path}-symbol.json", f"{path}-0000.params", output_dir=output_dir,
                             input_shape=input_shape, exact=exact, overwrite=overwrite, output_format=output_format,
                             prefix=prefix, metadata=metadata, fuse=fuse)


def convert_bmxnet_v1(symbol_file, params_file, *, output_dir, input_shape, exact=False, overwrite=False,
                      output_format="mxnet", prefix=None, metadata=None, fuse=True):
    """Import a BMXNet v1 released model (``QConvolution`` / ``QFullyConnected`` with packed float64 words)
    and convert it to our operators. Verified against :func:`bmxnet_v1.reference_symbol`. Options as
    :func:`convert_files`."""
    prefix = prefix or os.path.basename(str(symbol_file)).rsplit("-symbol.json", 1)[0] or "model"
    _require_shape(input_shape, "a BMXNet v1 model")
    _check_options(output_dir, input_shape, exact, overwrite, output_format, prefix, metadata, fuse)
    ops.load()
    try:
        model = bmxnet_v1.read_v1_model(symbol_file, params_file)
        params = {**model.args, **model.aux}
        value_notes = check_values(params, repr(str(params_file)))
        bmxnet_v1.check_shapes(model, input_shape)
    except (OSError, ValueError) as err:
        raise ConversionError(str(err)) from err
    reference = bmxnet_v1.reference_symbol(model)
    notes = ["BMXNet v1 import: output (dot + K) / 2 and +1 padding reproduced; SoftmaxOutput dropped (logits).",
             *value_notes]
    detected = detect_metadata(symbol_file, v1=True, input_shape=input_shape, classes=_v1_classes(model))
    metadata = _resolve_metadata(*detected, metadata, notes)
    return _convert(f"{symbol_file} + {params_file} (BMXNet v1)", v1_layer_graph(model), reference, params,
                    set(model.aux), os.path.getsize(params_file), output_dir=output_dir, input_shape=input_shape,
                    exact=exact, overwrite=overwrite, output_format=output_format, prefix=prefix, notes=notes,
                    metadata=metadata, fuse=fuse)


def _v1_classes(model):
    """Outputs of the v1 model's last FullyConnected layer (its number of classes), or None."""
    dense = [n for n in model.nodes if n["op"] in ("FullyConnected", "QFullyConnected")]
    return int(model.node_attrs(dense[-1])["num_hidden"]) if dense else None
