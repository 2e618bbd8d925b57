"""Integrity manifests: the size and SHA-256 of every file of a saved model, checked before it is loaded.

A converted model in MXNet format is a folder with ``PREFIX-symbol.json`` and ``PREFIX-0000.params``; the
converter adds ``MANIFEST.json``::

    {"format": "bmxnet-ext-manifest/1",
     "files": {"model-symbol.json": {"bytes": 1234, "sha256": "9f2c..."}, ...}}

:func:`verify_manifest` recomputes both values for every listed file and raises :class:`CorruptModelError`
naming the file on any difference, so a truncated, edited or half-copied model is refused with the reason
instead of loading (or failing deep inside MXNet). :func:`import_converted` is the checked counterpart of
``gluon.SymbolBlock.imports`` for converted models. (``.bmx`` files carry their own CRC-32 instead.)
"""
import hashlib
import json
import os

from .atomic import write_text
from .cli import ToolError

__all__ = ["MANIFEST_NAME", "FORMAT", "CorruptModelError", "sha256_of", "write_manifest", "verify_manifest",
           "import_converted"]

MANIFEST_NAME = "MANIFEST.json"
FORMAT = "bmxnet-ext-manifest/1"


class CorruptModelError(ToolError, ValueError):
    """A model folder whose files do not match its manifest, or that has no readable manifest."""


def sha256_of(path):
    """Hex SHA-256 of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder, names):
    """Write ``folder/MANIFEST.json`` listing the files ``names`` (relative to ``folder``); returns its path."""
    files = {name: {"bytes": os.path.getsize(os.path.join(folder, name)),
                    "sha256": sha256_of(os.path.join(folder, name))} for name in sorted(names)}
    path = os.path.join(folder, MANIFEST_NAME)
    write_text(path, json.dumps({"format": FORMAT, "files": files}, indent=1) + "\n")
    return path


def verify_manifest(folder, required=()):
    """Check every file listed in ``folder``'s manifest (and that ``required`` names are listed).

    Returns the list of checked names. Raises :class:`CorruptModelError` naming the folder or file when the
    manifest is missing or unreadable, a listed file is missing, or its size or SHA-256 differs.
    """
    path = os.path.join(folder, MANIFEST_NAME)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
        files = manifest["files"]
        if manifest.get("format") != FORMAT or not isinstance(files, dict):
            raise ValueError(f"expected format {FORMAT!r}")
        expected = {name: (int(entry["bytes"]), str(entry["sha256"])) for name, entry in files.items()}
    except FileNotFoundError:
        raise CorruptModelError(f"{folder!r} has no {MANIFEST_NAME}: it is not a complete converted model "
                                "(convert the model again)") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CorruptModelError(f"{path!r} is unreadable or corrupt ({err}): convert the model again") from None
    missing = sorted(set(required) - set(expected))
    if missing:
        raise CorruptModelError(f"{path!r} does not list {missing}: convert the model again")
    for name, (size, digest) in sorted(expected.items()):
        file_path = os.path.join(folder, name)
        if os.path.basename(name) != name or not os.path.isfile(file_path):
            raise CorruptModelError(f"{file_path!r}, listed in {MANIFEST_NAME}, is missing: convert the model "
                                    "again or copy the whole folder")
        actual = (os.path.getsize(file_path), sha256_of(file_path))
        if actual != (size, digest):
            raise CorruptModelError(f"{file_path!r} is corrupt: expected {size} bytes with SHA-256 {digest[:16]}..., "
                                    f"got {actual[0]} bytes with SHA-256 {actual[1][:16]}... (copy it again or "
                                    "convert the model again)")
    return sorted(expected)


def import_converted(symbol_file, params_file, input_names=("data",), ctx=None):
    """``gluon.SymbolBlock.imports`` of a converted model after :func:`verify_manifest` of its folder.

    Both files must lie in the same folder and be listed in its manifest. Loads this library's operators first.
    """
    import mxnet as mx

    from . import ops

    folder = os.path.dirname(os.path.abspath(symbol_file))
    if os.path.dirname(os.path.abspath(params_file)) != folder:
        raise CorruptModelError(f"expected {symbol_file!r} and {params_file!r} in one converted-model folder")
    verify_manifest(folder, required=(os.path.basename(symbol_file), os.path.basename(params_file)))
    ops.load()
    return mx.gluon.SymbolBlock.imports(symbol_file, list(input_names), params_file, ctx=ctx)
