"""Output formats of the converter, and writing an output directory atomically.

A writer is ``write(graph, directory, prefix, input_shape, metadata) -> [file names]``: it writes the converted
:class:`Graph` and its :class:`~bmxnet_ext.model_metadata.ModelMetadata` (input convention and class names, or
``None``) into an existing, empty ``directory``. :data:`WRITERS` maps format names to writers; other formats (the standalone
runtime's) register themselves there. :func:`write_output_dir` creates the files in a temporary directory
next to the destination and renames it into place at the end, so a failure leaves no partial output.
"""
import json
import os

import numpy as np

from bmxnet_ext.atomic import atomic_directory
from bmxnet_ext.manifest import MANIFEST_NAME, write_manifest

from .graph import ConversionError

__all__ = ["WRITERS", "register_writer", "graph_to_json", "to_mxnet_symbol", "write_mxnet", "write_bmx",
           "write_output_dir"]

MXNET_VERSION = 10901


IMPORT_HINT = "needs `import bmxnet_ext`: "
"""Prefix of the first binary operator's node name in a written symbol: MXNet names that node when it cannot
load the operator, so a process that did not import ``bmxnet_ext`` gets an error that says what is missing."""


def graph_to_json(graph, import_hint=False):
    """MXNet's symbol JSON for ``graph`` (loadable by ``mx.sym.load_json`` once ``bmxnet_ext`` is imported);
    ``import_hint`` prefixes the first ``Bmx*`` node's name with :data:`IMPORT_HINT`."""
    nodes = [{"op": n.op, "name": n.name, "attrs": {k: str(v) for k, v in n.attrs.items()},
              "inputs": [[src, out, 0] for src, out in n.inputs]} for n in graph.nodes]
    first_binary = next((node for node in nodes if node["op"].startswith("Bmx")), None)
    if import_hint and first_binary is not None:
        first_binary["name"] = IMPORT_HINT + first_binary["name"]
    for node in nodes:
        if not node["attrs"]:
            del node["attrs"]
    return json.dumps({
        "nodes": nodes,
        "arg_nodes": [i for i, n in enumerate(graph.nodes) if n.op == "null"],
        "heads": [[src, out, 0] for src, out in graph.heads],
        "attrs": {"mxnet_version": ["int", MXNET_VERSION]},
    }, indent=2)


def to_mxnet_symbol(graph):
    """The graph as an MXNet symbol (the operators must be registered: ``import bmxnet_ext``)."""
    import mxnet as mx

    return mx.sym.load_json(graph_to_json(graph))


def mxnet_params(graph):
    """``{"arg:NAME" | "aux:NAME": NDArray}`` as ``mx.nd.save`` writes checkpoints; packed words stay int64."""
    import mxnet as mx

    arrays = {}
    for name, array in graph.params.items():
        kind = "aux" if name in graph.aux_names else "arg"
        arrays[f"{kind}:{name}"] = mx.nd.array(array, dtype=array.dtype if array.dtype == np.int64 else np.float32)
    return arrays


def write_mxnet(graph, directory, prefix, input_shape=None, metadata=None):
    """``PREFIX-symbol.json`` + ``PREFIX-0000.params``, loadable by ``gluon.SymbolBlock.imports``, and with
    ``metadata`` ``PREFIX-metadata.json``."""
    import mxnet as mx

    from bmxnet_ext import model_metadata

    symbol_file, params_file = f"{prefix}-symbol.json", f"{prefix}-0000.params"
    with open(os.path.join(directory, symbol_file), "w", encoding="utf-8") as f:
        f.write(graph_to_json(graph, import_hint=True))
    mx.nd.save(os.path.join(directory, params_file), mxnet_params(graph))
    files = [symbol_file, params_file]
    if metadata is not None:
        files.append(model_metadata.metadata_file_name(prefix))
        model_metadata.write_metadata_file(os.path.join(directory, files[-1]), metadata)
    return files


def write_bmx(graph, directory, prefix, input_shape, metadata=None):
    """``PREFIX.bmx``: one file for the standalone runtime (``docs/bmx_format.md``, ``docs/runtime.md``); the
    data input gets ``input_shape`` (the runtime's default batch size is its first dimension), the file's
    metadata section ``metadata``."""
    from bmxnet_ext import bmx_format

    inputs = graph.input_names()
    if len(inputs) != 1:
        raise ConversionError(f"The .bmx format needs one data input, the graph has {inputs}.")
    params = {name: a if a.dtype in (np.int64, np.uint64) else a.astype(np.float32) for name, a in graph.params.items()}
    file_name = f"{prefix}.bmx"
    bmx_format.write_bmx(os.path.join(directory, file_name), graph_to_json(graph), params,
                         {inputs[0]: tuple(input_shape)}, metadata)
    return [file_name]


WRITERS = {"mxnet": write_mxnet, "bmx": write_bmx}
"""Output formats by name."""


def register_writer(name, writer):
    """Make ``writer`` available as output format ``name``."""
    WRITERS[name] = writer


def write_output_dir(output_dir, write, *, overwrite=False):
    """Create ``output_dir`` with the files ``write(tmp_dir)`` produces, atomically
    (:func:`bmxnet_ext.atomic.atomic_directory`), plus the integrity manifest of :mod:`bmxnet_ext.manifest`.

    An existing ``output_dir`` is an error unless ``overwrite``; then it is replaced only once the new one is
    complete (an existing *file* is never replaced). Returns the file names: ``write``'s, then the manifest's.
    """
    try:
        with atomic_directory(output_dir, overwrite=overwrite) as tmp:
            files = list(write(tmp))
            write_manifest(tmp, files)
    except FileExistsError as err:
        raise ConversionError(str(err)) from err
    return files + [MANIFEST_NAME]
