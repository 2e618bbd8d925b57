"""Atomic, checksummed training checkpoints.

A checkpoint is a folder ``<run_dir>/checkpoints/epoch-NNNN/`` holding

- ``net.params``: the network's parameters (``save_parameters``),
- ``trainer.states``: the optimizer with its state (momenta, update counts, schedule); absent for distributed
  runs, whose optimizer state lives on the parameter servers,
- ``state.json``: epoch, metric history and the Python / NumPy RNG states,
- ``MANIFEST.json``: size and SHA-256 of each file above, written last.

The folder is assembled under a temporary name and renamed into place, so an interrupted save leaves the
previous checkpoint untouched. Loading verifies every file against the manifest and raises
:class:`CorruptCheckpointError` naming the file on any mismatch: a damaged checkpoint is never loaded.
"""
import hashlib
import json
import os
import random
import shutil
import tempfile

import numpy as np

from bmxnet_ext.atomic import TEMP_PREFIX, remove_stale_temporaries
from bmxnet_ext.cli import ToolError

__all__ = ["CorruptCheckpointError", "save_checkpoint", "load_checkpoint", "latest_checkpoint",
           "checkpoint_dir", "FORMAT"]

FORMAT = "bmxnet-train-checkpoint/1"
PARAMS, STATES, STATE, MANIFEST = "net.params", "trainer.states", "state.json", "MANIFEST.json"


class CorruptCheckpointError(ToolError, RuntimeError):
    """A checkpoint's files do not match its manifest (or the manifest is missing or unreadable)."""


def checkpoint_dir(run_dir, epoch):
    """Folder of the checkpoint taken after ``epoch`` (1-based) in ``run_dir``."""
    return os.path.join(run_dir, "checkpoints", f"epoch-{epoch:04d}")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rng_states():
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": [version, list(internal), gauss],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}


def _restore_rng_states(states):
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_checkpoint(run_dir, *, epoch, net, trainer, state, keep=2, optimizer_state=True):
    """Write the checkpoint of ``epoch`` atomically; keep the newest ``keep`` checkpoints. Returns its folder.

    ``state`` is a JSON-serialisable dict (history, ...); the epoch and RNG states are added to it.
    """
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    remove_stale_temporaries(root)
    final = checkpoint_dir(run_dir, epoch)
    tmp = tempfile.mkdtemp(dir=root, prefix=f"{TEMP_PREFIX}epoch-{epoch:04d}-")
    try:
        net.save_parameters(os.path.join(tmp, PARAMS))
        names = (PARAMS, STATES, STATE) if optimizer_state else (PARAMS, STATE)
        if optimizer_state:
            trainer.save_states(os.path.join(tmp, STATES))
        with open(os.path.join(tmp, STATE), "w") as f:
            json.dump(dict(state, epoch=epoch, rng=_rng_states()), f)
        files = {name: {"bytes": os.path.getsize(os.path.join(tmp, name)),
                        "sha256": _sha256(os.path.join(tmp, name))} for name in names}
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump({"format": FORMAT, "epoch": epoch, "files": files}, f, indent=1)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in _checkpoint_epochs(run_dir)[:-keep]:
        shutil.rmtree(checkpoint_dir(run_dir, old), ignore_errors=True)
    return final


def _checkpoint_epochs(run_dir):
    root = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(root):
        return []
    return sorted(int(name[len("epoch-"):]) for name in os.listdir(root)
                  if name.startswith("epoch-") and name[len("epoch-"):].isdigit())


def latest_checkpoint(run_dir):
    """Folder of the newest checkpoint in ``run_dir``, or None when there is none."""
    epochs = _checkpoint_epochs(run_dir)
    return checkpoint_dir(run_dir, epochs[-1]) if epochs else None


def verify_checkpoint(path):
    """The manifest of checkpoint ``path`` after checking every file's size and SHA-256 against it."""
    manifest_path = os.path.join(path, MANIFEST)
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as err:
        raise CorruptCheckpointError(f"Checkpoint {path!r} has no readable {MANIFEST} ({err}); it was not "
                                     "loaded. Delete the folder to resume from the previous checkpoint.") from err
    listed = set(manifest.get("files", {}))
    if manifest.get("format") != FORMAT or not {PARAMS, STATE} <= listed <= {PARAMS, STATES, STATE}:
        raise CorruptCheckpointError(f"Checkpoint {path!r}: expected a {FORMAT!r} manifest listing "
                                     f"{[PARAMS, STATES, STATE]}, got {manifest!r:.200}.")
    for name, expected in manifest["files"].items():
        file_path = os.path.join(path, name)
        if not os.path.exists(file_path):
            raise CorruptCheckpointError(f"Checkpoint {path!r} lacks {name!r}; it was not loaded.")
        size, digest = os.path.getsize(file_path), _sha256(file_path)
        if size != expected["bytes"] or digest != expected["sha256"]:
            raise CorruptCheckpointError(
                f"Checkpoint file {file_path!r} is corrupt: expected {expected['bytes']} bytes with SHA-256 "
                f"{expected['sha256']}, got {size} bytes with SHA-256 {digest}. It was not loaded; delete "
                f"{path!r} to resume from the previous checkpoint.")
    return manifest


def load_checkpoint(path, *, net, trainer, ctx):
    """Verify checkpoint ``path``, load it into ``net`` and ``trainer``, restore the RNG states.

    Returns the saved ``state`` dict (with ``epoch`` and ``history``). Nothing is loaded if verification fails.
    """
    manifest = verify_checkpoint(path)
    with open(os.path.join(path, STATE)) as f:
        state = json.load(f)
    net.load_parameters(os.path.join(path, PARAMS), ctx=ctx)
    if STATES in manifest["files"]:
        trainer.load_states(os.path.join(path, STATES))
    _restore_rng_states(state.pop("rng"))
    return state
