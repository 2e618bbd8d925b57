"""Pretrained-model store: files named by their SHA-256, verified before every load, never overwritten.

Layout: ``<root>/<model>-<sha256[:8]><suffix>``, e.g. ``lenet-f11c6abc.params`` and
``lenet-cefcb32b-symbol.json``. ``root`` defaults to ``$BMXNET_HOME/models`` or ``~/.bmxnet/models``.

Getting the files
-----------------
- By download: a missing file is fetched from ``<base URL>/<published name>``: :data:`DEFAULT_BASE_URL`, the
  raw files of BMXNet v1's GitHub repository at the commit that last changed them, or a mirror holding the
  same files (``url`` argument, else ``$BMXNET_MODEL_URL``). The bytes go to a temporary file beside the
  destination with a progress bar (tqdm, on a terminal), are checked for size and SHA-256, and only then renamed
  into place. When that fails, the error names the URL and the manual fix.
- From a local copy (no network needed): ``python -m model_zoo.model_store add FILE_OR_FOLDER...`` checks each
  file's SHA-256 against the registry below and copies it into the root under its store name (atomically); in
  a folder, files that are not registered (a README, SHA256SUMS) are skipped.

A file whose hash does not match (corrupt, truncated, or a different version) is reported with both
hashes and left untouched: nothing is silently downloaded again or overwritten. A store whose files are all
present and verify can be read-only: reading takes no lock and writes nothing.
"""
import argparse
import contextlib
import fcntl
import hashlib
import http.client
import os
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

from bmxnet_ext.atomic import atomic_file, check_output_folder
from bmxnet_ext.cli import ArgumentParser, ToolError, format_error, nonempty_path, run

__all__ = ["ModelStoreError", "StoredFile", "PRETRAINED", "DEFAULT_BASE_URL", "default_root", "base_url",
           "pretrained_models", "registered_files", "get_model_files", "add_file", "add_folder", "sha256_of"]

V1_COMMIT = "8cac825b90a5a052e20954ee02b73747c2be88fa"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/hpi-xnor/BMXNet/{V1_COMMIT}/smd_hpi/binary_models"
"""BMXNet v1's released files (``smd_hpi/binary_models/`` of ``hpi-xnor/BMXNet``, unchanged since that
commit), served raw by GitHub under their published names."""

CHUNK = 1 << 20


class ModelStoreError(ToolError, RuntimeError):
    """A pretrained file is unknown, missing, corrupt or cannot be downloaded (the message says the fix)."""


@dataclass(frozen=True)
class StoredFile:
    """One file of a pretrained model: its role, its published name, SHA-256 and size in bytes."""

    role: str
    source_name: str
    sha256: str
    size: int

    def store_name(self, model):
        """``<model>-<sha256[:8]>.params`` or ``<model>-<sha256[:8]>-symbol.json``."""
        suffix = "-symbol.json" if self.role == "symbol" else ".params"
        return f"{model}-{self.sha256[:8]}{suffix}"


PRETRAINED = {
    "lenet": (
        StoredFile("symbol", "binarized_mnist_64bit-symbol.json",
                   "cefcb32b3668639b10c582705fae99545998951842de2342defb3986d3e73109", 3165),
        StoredFile("params", "binarized_mnist_64bit-0001.params",
                   "f11c6abc27b01e302ad2292f8fdd726bf50f8bb0574db1ddbe87b2e901455cc4", 206511),
    ),
    "resnet18": (
        StoredFile("symbol", "binarized_imagenet-resnet18-64bit-symbol.json",
                   "305f6ba2f002ea6e5c68a85e5d249b8993878648203d2c175a2544c242964d21", 25050),
        StoredFile("params", "binarized_imagenet-resnet18-64bit-0040.params",
                   "833c1077ed4ca85a7e9fa9643f95d6fd9964e0ffb1e2ce6511014cb975bbcc76", 3553824),
    ),
    "resnet18_cifar": (
        StoredFile("symbol", "binarized_cifar10-resnet18-64bit-symbol.json",
                   "45eddbfeda83262261eaac4a7cdbfb7c7f511238d93468a343736a956071e4cb", 22363),
        StoredFile("params", "binarized_cifar10-resnet18-64bit-0000.params",
                   "181b80c40d1f77427ee363d51595bcd49c6daf4535dadd0f12a1ad8a77fd7ae5", 1490426),
    ),
    "resnet18_fp_stage1": (
        StoredFile("symbol", "binarized_imagenet-resnet18-64bit-1st-stage-fullprecision-symbol.json",
                   "9c7240994f004f56345c52e9f8dd6e5161e6aef223c15344301e1f34a790097f", 25731),
        StoredFile("params", "binarized_imagenet-resnet18-64bit-1st-stage-fullprecision-0038.params",
                   "6a99044a9be44573ea236a29cb49b28499943b0247d85c26fa53777c3d5d7224", 4142016),
    ),
    "lenet_32bit": (
        StoredFile("symbol", "binarized_mnist_32bit-symbol.json",
                   "cefcb32b3668639b10c582705fae99545998951842de2342defb3986d3e73109", 3165),
        StoredFile("params", "binarized_mnist_32bit-0001.params",
                   "645e6a675a810517c13d8d1043ff842a7db52003341b6146e1696756371ca734", 206511),
    ),
}
"""BMXNet v1's five released binarized models (symbol JSON + params with packed words in float64 arrays),
hashes from their ``SHA256SUMS``. ``lenet``, ``resnet18`` and ``resnet18_cifar`` load into the zoo's models
(``get_model(name, pretrained=True)``); ``resnet18_fp_stage1`` (stage 1 full precision) and ``lenet_32bit``
(LeNet in 32-bit words, v1's ARM build) are fetched with :func:`get_model_files` as converter input."""


def default_root():
    """``$BMXNET_HOME/models`` if ``BMXNET_HOME`` is set, else ``~/.bmxnet/models``."""
    home = os.environ.get("BMXNET_HOME") or os.path.join(os.path.expanduser("~"), ".bmxnet")
    return os.path.join(home, "models")


def base_url(url=None):
    """``url`` if given, else ``$BMXNET_MODEL_URL`` (a mirror), else :data:`DEFAULT_BASE_URL` (no trailing
    slash)."""
    return (url or os.environ.get("BMXNET_MODEL_URL") or DEFAULT_BASE_URL).rstrip("/")


def pretrained_models():
    """Sorted zoo names that have released weights."""
    return sorted(PRETRAINED)


def registered_files(name):
    """The :class:`StoredFile` entries of pretrained model ``name``; raises ``ModelStoreError`` if it has none."""
    if name not in PRETRAINED:
        raise ModelStoreError(f"No pretrained weights for model {name!r}: expected one of {pretrained_models()}.")
    return PRETRAINED[name]


def sha256_of(path):
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def get_model_files(name, tag=True, root=None, url=None):
    """Paths of the verified files of pretrained model ``name``, by role (``{"symbol": ..., "params": ...}``).

    Parameters
    ----------
    name : str
        A name from :func:`pretrained_models`.
    tag : True or str
        ``True`` for the registered version, or a prefix of its params file's SHA-256.
    root : str, optional
        Store folder (default :func:`default_root`).
    url : str, optional
        Base URL to download missing files from (default :func:`base_url`).

    Raises
    ------
    ModelStoreError
        Unknown name or tag, a file with the wrong hash, or a missing file that cannot be downloaded.
    """
    files = registered_files(name)
    params_hash = next(f.sha256 for f in files if f.role == "params")
    if tag is not True and not (isinstance(tag, str) and tag and params_hash.startswith(tag.lower())):
        raise ModelStoreError(f"Expected `pretrained` to be True or a prefix of {params_hash[:8]} for model "
                              f"{name!r}, got {tag!r}.")
    root = os.path.abspath(os.path.expanduser(root or default_root()))
    return {f.role: _verified_or_downloaded(name, f, root, base_url(url)) for f in files}


def _verified_or_downloaded(model, stored, root, url):
    path = os.path.join(root, stored.store_name(model))
    if os.path.exists(path):  # no lock and no write: a read-only store works
        _verify(path, model, stored)
        return path
    os.makedirs(root, exist_ok=True)
    with _lock(path):
        if not os.path.exists(path):  # another process may have placed it meanwhile
            _download(f"{url}/{stored.source_name}", path, model, stored)
        _verify(path, model, stored)
    return path


def _verify(path, model, stored):
    size = os.path.getsize(path)
    digest = sha256_of(path)
    if digest == stored.sha256:
        return
    state = f"truncated ({size:,} of {stored.size:,} bytes)" if size < stored.size else \
        f"corrupt or a different file ({size:,} bytes, expected {stored.size:,})"
    raise ModelStoreError(
        f"{path} is {state}: SHA-256 {digest}, expected {stored.sha256} ({stored.source_name} of {model!r}). "
        f"It was left untouched. Delete it and copy the correct file with "
        f"`python -m model_zoo.model_store add {stored.source_name}` (or delete it to download it again).")


def _download(url, path, model, stored):
    """Fetch ``url`` into a temporary file beside ``path`` (progress bar on a terminal), check size and hash,
    then rename it into place."""
    from tqdm import tqdm

    try:
        digest, received = hashlib.sha256(), 0
        with atomic_file(path, "wb") as out, urllib.request.urlopen(url, timeout=30) as response, \
                tqdm(total=stored.size, unit="B", unit_scale=True, desc=stored.source_name, disable=None,
                     leave=False) as progress:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
                progress.update(len(chunk))
            if received != stored.size:  # raised inside the block: the temporary is removed, nothing placed
                raise ModelStoreError(
                    f"Downloaded {url} has {received:,} bytes, expected {stored.size:,}: not saved (the connection "
                    f"ended early or the mirror holds another file). Try again, or place {stored.source_name} by "
                    f"hand with `python -m model_zoo.model_store add FILE`.")
            if digest.hexdigest() != stored.sha256:
                raise ModelStoreError(
                    f"Downloaded {url} has SHA-256 {digest.hexdigest()}, expected {stored.sha256}: not saved. The "
                    f"mirror holds a different file; place {stored.source_name} by hand with "
                    f"`python -m model_zoo.model_store add FILE`.")
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        raise ModelStoreError(
            f"Cannot download {url} ({err}). {model!r} needs {stored.source_name} (SHA-256 {stored.sha256}); "
            f"copy it into the store with `python -m model_zoo.model_store add /path/to/{stored.source_name}` "
            f"(store folder {os.path.dirname(path)}, set by `root` or $BMXNET_HOME), or point $BMXNET_MODEL_URL "
            f"at a mirror that serves {stored.source_name}.") from err


@contextlib.contextmanager
def _lock(path):
    """An exclusive lock on ``path + '.lock'`` so concurrent processes do not fetch the same file twice."""
    with open(path + ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def add_file(source, root=None):
    """Copy ``source`` into the store under its store name after checking its SHA-256; returns the path.

    The file must be one of the registered files (matched by hash, whatever its name); a file two releases
    share (LeNet's symbol) is placed for each. An existing store file with the right hash is kept; one with
    a wrong hash is reported, not overwritten.
    """
    digest = sha256_of(source)
    match = [(model, f) for model, files in PRETRAINED.items() for f in files if f.sha256 == digest]
    if not match:
        known = sorted(f.source_name for files in PRETRAINED.values() for f in files)
        raise ModelStoreError(f"{source} (SHA-256 {digest}) is none of the registered pretrained files: "
                              f"expected one of {known}. A truncated or modified copy has another hash.")
    root = os.path.abspath(os.path.expanduser(root or default_root()))
    os.makedirs(root, exist_ok=True)
    return [_place(source, root, model, stored) for model, stored in match][0]


def add_folder(folder, root=None):
    """:func:`add_file` for every registered file in ``folder``; returns ``(added paths, skipped names)``
    (files that are no registered release, such as a README or SHA256SUMS)."""
    added, skipped = [], []
    known = {f.sha256 for files in PRETRAINED.values() for f in files}
    for name in sorted(os.listdir(folder)):
        source = os.path.join(folder, name)
        if not os.path.isfile(source):
            continue
        if sha256_of(source) not in known:
            skipped.append(name)
            continue
        added.append(add_file(source, root))
    return added, skipped


def _place(source, root, model, stored):
    path = os.path.join(root, stored.store_name(model))
    with _lock(path):
        if os.path.exists(path):
            _verify(path, model, stored)
            return path
        with atomic_file(path, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, CHUNK)
            out.flush()
            _verify(out.name, model, stored)
    return path


PROG = "python -m model_zoo.model_store"


def _main(argv):
    parser = ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=nonempty_path, default=None, help=f"store folder (default: {default_root()})")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    add = sub.add_parser("add", help="verify files (or a folder's registered files) and copy them into the store")
    add.add_argument("files", nargs="+", metavar="FILE_OR_FOLDER")
    sub.add_parser("list", help="show the registered pretrained files and whether they are in the store")
    args = parser.parse_args(argv)
    root = os.path.abspath(os.path.expanduser(args.root or default_root()))
    if os.path.exists(root) and not os.path.isdir(root):
        raise ToolError(f"--root {root!r} is a file, not a folder: choose the store folder")
    if args.command == "list":
        for model, files in sorted(PRETRAINED.items()):
            for f in files:
                present = os.path.exists(os.path.join(root, f.store_name(model)))
                print(f"{model:16s} {f.store_name(model):36s} {'present' if present else 'missing':8s} "
                      f"{f.source_name}")
        return 0
    check_output_folder(root)
    status = 0
    for source in args.files:
        try:
            if os.path.isdir(source):
                added, skipped = add_folder(source, root)
                if not added:
                    raise ModelStoreError(f"{source!r} holds no registered pretrained file "
                                          f"({len(skipped)} other files): give the folder of the downloaded "
                                          "releases (see `list` for their names)")
                print("\n".join([f"{source}: added {path}" for path in added]
                                 + [f"{source}: skipped {name} (not a registered model file)" for name in skipped]))
                continue
            if not os.path.isfile(source):
                raise ModelStoreError(f"{source!r} is not a file or folder: give a downloaded pretrained file "
                                      "or the folder holding them")
            print(f"{source} -> {add_file(source, root)}")
        except (ModelStoreError, OSError) as err:  # one line per failed file; the others are still added
            print(format_error(PROG, err), file=sys.stderr)
            status = 1
    return status


def main(argv=None):
    """``python -m model_zoo.model_store {add FILE... | list} [--root DIR]``."""
    return run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
