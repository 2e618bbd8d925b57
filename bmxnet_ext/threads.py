"""One switch for the thread count of every native kernel in the process.

``bmxnet_ext.native`` (kernels called from Python) and ``bmxnet_ext.ops`` (the MXNet operators) each link
their own copy of the native core and so have their own thread pools; :func:`set_num_threads` sets both.
The environment variable ``BMX_NUM_THREADS`` sets the default of both.
"""
from . import ops

__all__ = ["set_num_threads"]


def set_num_threads(n):
    """Use ``n >= 1`` threads in the native kernels and in the MXNet operators (those that are built)."""
    from . import native  # needs the compiled extension; imported here so training works without it

    native.set_num_threads(n)
    if ops.available():
        ops.set_num_threads(n)
