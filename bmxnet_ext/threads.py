"""One switch for the thread count of every native kernel in the process.

The Python binding (:mod:`bmxnet_ext.native`), the MXNet operators (:mod:`bmxnet_ext.ops`) and the runtime
binding all link one native core library, so one thread count serves them all (a runtime model uses its own
count while it runs and restores this one). The environment variable ``BMX_NUM_THREADS`` sets the default.
"""
__all__ = ["set_num_threads"]


def set_num_threads(n):
    """Use ``n >= 1`` threads in every native kernel of the process."""
    from . import native  # needs the compiled extension; imported here so training works without it

    native.set_num_threads(n)
