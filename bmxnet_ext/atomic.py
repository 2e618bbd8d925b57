"""Atomic file output: a file or folder appears whole at its final path, or not at all.

Every writer of the project (checkpoints, exports, converted models, ``--json`` reports, plots, downloads)
writes to a temporary path of the form ``.tmp-*`` in the destination's folder and renames it into place, so a
crash or an error leaves no partial output under the final name. :func:`remove_stale_temporaries` deletes such
leftovers of a killed process the next time a tool writes into that folder.
"""
import contextlib
import os
import shutil
import tempfile
import time

__all__ = ["TEMP_PREFIX", "atomic_file", "atomic_directory", "write_bytes", "write_text",
           "check_output_parent", "check_output_folder", "remove_stale_temporaries"]

TEMP_PREFIX = ".tmp-"
"""Name prefix of every temporary file or folder the project creates next to its outputs."""

STALE_AFTER_SECONDS = 3600.0
"""A temporary older than this belongs to a process that died: :func:`remove_stale_temporaries` removes it."""


def check_output_parent(path, folder=False):
    """Raise ``OSError`` naming ``path`` unless its parent folder exists, is a folder and is writable, and
    ``path`` itself is not a folder (``folder=False``: a file is to be written) or not a file (``folder=True``:
    a folder is to be written, as :func:`atomic_directory` does).

    Call it before long work, so a bad output path is reported before anything is computed.
    """
    path = os.fspath(path)
    if not path:
        raise OSError("cannot write to an empty path: give a file or folder name")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(parent):
        raise OSError(f"cannot write {path}: the folder {parent} does not exist (create it first)")
    if not os.path.isdir(parent):
        raise OSError(f"cannot write {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(f"cannot write {path}: the folder {parent} is not writable")
    if folder and os.path.exists(path) and not os.path.isdir(path):
        raise OSError(f"cannot write the folder {path}: a file of that name exists (choose another path)")
    if not folder and os.path.isdir(path):
        raise OSError(f"cannot write {path}: it is a folder, expected a file path")


def check_output_folder(path):
    """Raise ``OSError`` naming ``path`` unless it is a folder already or can be created (with its parents):
    its nearest existing ancestor must be a writable folder. For run and output folders that tools fill."""
    path = os.fspath(path)
    if not path:
        raise OSError("cannot use an empty path as the output folder: give a folder name")
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise OSError(f"cannot use {path} as the output folder: it is a file (choose another path)")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OSError(f"cannot write into the folder {path}: it is not writable")
        return
    ancestor = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise OSError(f"cannot create the folder {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OSError(f"cannot create the folder {path}: {ancestor} is not writable")


def _umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_file(path, mode="wb"):
    """Open a temporary file beside ``path`` for writing; rename it to ``path`` when the block succeeds.

    On an exception the temporary is removed and ``path`` is untouched. The yielded file's ``name`` is the
    temporary's path, so the content can be checked before it is renamed into place.
    """
    parent = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=TEMP_PREFIX, suffix="-" + os.path.basename(path))
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; the result is an ordinary file
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path, "wb") as f:
        f.write(data)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_file(path, "w") as f:
        f.write(text)


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yield a temporary folder beside ``path``; it becomes ``path`` when the block succeeds.

    An existing ``path`` raises ``FileExistsError`` unless ``overwrite``; with ``overwrite`` the old folder is
    replaced only after the new one is complete (a file at ``path`` is never replaced: that is an error too).
    On an exception the temporary folder is removed and ``path`` is untouched.
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"{path} exists and is a file, not a folder: choose another output path")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists: choose another path or allow overwriting (--force)")
    tmp = tempfile.mkdtemp(dir=parent, prefix=TEMP_PREFIX + os.path.basename(path) + "-")
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700; the result is an ordinary folder
        yield tmp
        if os.path.exists(path):
            old = tempfile.mkdtemp(dir=parent, prefix=TEMP_PREFIX + "old-")
            os.rename(path, os.path.join(old, "previous"))
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(folder, older_than=STALE_AFTER_SECONDS):
    """Delete ``.tmp-*`` files and folders in ``folder`` last modified more than ``older_than`` seconds ago.

    Returns the removed paths. A missing folder removes nothing.
    """
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        if not name.startswith(TEMP_PREFIX):
            continue
        full = os.path.join(folder, name)
        try:
            if now - os.lstat(full).st_mtime < older_than:
                continue
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
            removed.append(full)
        except OSError:
            continue
    return removed
