"""The run folder: what a run writes into it, and the rule that an existing run is never silently replaced.

A folder *holds a run* once an epoch finished in it (``log.jsonl`` or ``checkpoints/`` exist). Training into
such a folder needs ``resume`` (continue it) or ``force`` (replace it: the files of :data:`RUN_FILES` are
removed, anything else in the folder is left alone).
"""
import os
import shutil

from bmxnet_ext.atomic import check_output_folder
from bmxnet_ext.cli import UsageError

__all__ = ["RUN_FILES", "holds_run", "prepare_run_dir", "discard_unfinished_run"]

#: Everything a run writes into its folder (files and folders), relative to it.
RUN_FILES = ("args.json", "train.log", "log.jsonl", "checkpoints", "model-symbol.json", "model-0000.params",
             "learning_curves.png", "tensorboard")


def holds_run(run_dir):
    """Whether ``run_dir`` holds a run that trained at least one epoch."""
    return any(os.path.exists(os.path.join(run_dir, name)) for name in ("log.jsonl", "checkpoints"))


def prepare_run_dir(run_dir, *, resume=False, force=False):
    """Create ``run_dir``; refuse (one line) or, with ``force``, clear a run it already holds.

    Raises ``OSError`` when ``run_dir`` cannot be a folder (:func:`bmxnet_ext.atomic.check_output_folder`),
    :class:`bmxnet_ext.cli.UsageError` when it holds a run and neither ``resume`` nor ``force`` is set.
    """
    check_output_folder(run_dir)
    if holds_run(run_dir) and not resume:
        if not force:
            raise UsageError(f"run folder {run_dir} already holds a run; pass --resume to continue it, --force to "
                             "replace it, or another --run-dir")
        _remove_run_files(run_dir)
    os.makedirs(run_dir, exist_ok=True)


def discard_unfinished_run(run_dir, *, created):
    """Remove what a run that ended before its first epoch wrote (the files of :data:`RUN_FILES`) and, if it
    ``created`` the folder, the folder, so that a refused run leaves nothing behind. A folder that holds a run
    (:func:`holds_run`) is left alone, as are files the run did not write."""
    if holds_run(run_dir):
        return
    _remove_run_files(run_dir)
    if created and not os.listdir(run_dir):
        os.rmdir(run_dir)


def _remove_run_files(run_dir):
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)
