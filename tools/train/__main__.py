"""``bmxnet-train`` / ``python -m tools.train``: train, or serve as a ``dist_sync`` scheduler or server node.

With ``DMLC_ROLE=scheduler`` or ``server`` the process becomes that node and ignores the training flags, so
all roles can share one command line; otherwise it trains (see :mod:`.cli`). Errors end in one line
``bmxnet-train: error: ...`` (``--debug`` or ``BMX_DEBUG=1`` for the traceback).

Nothing that imports MXNet (``bmxnet_ext`` included) may be imported at module level: a node must start
before MXNet is imported (see :mod:`.parameter_server`).
"""
import sys

from .parameter_server import node_role, serve


def main(argv=None):
    if node_role():
        # before anything imports mxnet (bmxnet_ext does): the node starts inside that import
        serve()
        return 0
    from bmxnet_ext.cli import run

    from .cli import main as train_main

    return run("bmxnet-train", train_main, argv)


if __name__ == "__main__":
    sys.exit(main())
