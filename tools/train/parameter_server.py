"""Scheduler and server nodes for ``--kvstore dist_sync``, started so that they can unpickle our optimizer.

MXNet 1.9.1 turns a process whose ``DMLC_ROLE`` is ``scheduler`` or ``server`` into that node from inside
``import mxnet``: ``mxnet/model.py`` imports ``mxnet.kvstore``, whose last line runs the node loop, before
``mxnet.gluon`` exists. A server started that way (``python -c "import mxnet"``) receives the workers'
pickled optimizer, whose :class:`~tools.train.optim.WarmupSchedule` needs ``bmxnet_ext`` and so
``mxnet.gluon``; unpickling fails inside the half-imported ``mxnet``, MXNet prints the traceback and
carries on without an optimizer, and the server then stores the summed gradients as the weights.

:func:`serve` imports MXNet and the training code with the role hidden, then restores it and runs the
node, so the server holds the real optimizer. ``bmxnet-train`` / ``python -m tools.train`` call it when
``DMLC_ROLE`` names a node, which gives every role the same command line (as MXNet's ``launch.py`` does).
"""
import os
import sys

__all__ = ["NODE_ROLES", "node_role", "serve"]

NODE_ROLES = ("scheduler", "server")


def node_role():
    """``DMLC_ROLE`` when it names a scheduler or server node, else ``None`` (a worker or a local run)."""
    role = os.environ.get("DMLC_ROLE")
    return role if role in NODE_ROLES else None


def serve():
    """Run this process as the ``DMLC_ROLE`` node until the workers finish.

    Must run before anything in the process imports ``mxnet``; raises ``RuntimeError`` otherwise, because
    the node would then already have started (or failed) inside that import.
    """
    role = node_role()
    if role is None:
        raise RuntimeError(f"DMLC_ROLE must be one of {list(NODE_ROLES)} to serve, got "
                           f"{os.environ.get('DMLC_ROLE')!r}.")
    if "mxnet" in sys.modules:
        raise RuntimeError("mxnet is already imported: a parameter-server node must be started before it.")
    del os.environ["DMLC_ROLE"]  # MXNet reads the role at import time: import everything as a worker would
    try:
        import mxnet as mx

        from . import optim  # noqa: F401  (what the server unpickles: schedules, RAdam, and their imports)
    finally:
        os.environ["DMLC_ROLE"] = role
    mx.kvstore.KVStoreServer(mx.kv.create("dist")).run()
