"""``bmxnet-train`` / ``python -m tools.train``: train, or serve as a ``dist_sync`` scheduler or server node.

With ``DMLC_ROLE=scheduler`` or ``server`` the process becomes that node and ignores the training flags, so
all roles can share one command line; otherwise it trains (see :mod:`.cli`). Errors end in one line
``bmxnet-train: error: ...`` (``--debug`` or ``BMX_DEBUG=1`` for the traceback).
"""
import sys

from bmxnet_ext.cli import run

from .parameter_server import node_role, serve


def _main(argv):
    if node_role():
        serve()
        return 0
    from .cli import main as train_main

    return train_main(argv)


def main(argv=None):
    return run("bmxnet-train", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
