"""``bmx-run`` on the PATH of a ``pip install``: the console script runs the native executable shipped in the
package (``bmxnet_ext/bin/bmx-run``, compiled by ``setup.py`` from ``native/runtime``), with its arguments.

The executable needs neither Python nor MXNet; this shim only finds it, without importing ``bmxnet_ext``
(which would load MXNet and slow every start). See ``docs/runtime.md``.
"""
import importlib.util
import os
import sys

__all__ = ["executable", "main"]


def executable():
    """Path of the packaged ``bmx-run``; raises ``FileNotFoundError`` naming the build step when absent."""
    spec = importlib.util.find_spec("bmxnet_ext")  # locates the package without running its __init__
    folder = list(spec.submodule_search_locations)[0] if spec else os.path.join(os.path.dirname(__file__), "..")
    path = os.path.join(os.path.abspath(folder), "bin", "bmx-run")
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path} is not built: install the package (`pip install .`) or build it in "
                                "place (`python setup.py build_ext --inplace`).")
    return path


def main():
    try:
        path = executable()
    except FileNotFoundError as err:
        print(f"bmx-run: error: {err}", file=sys.stderr)
        return 1
    os.execv(path, [path, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
