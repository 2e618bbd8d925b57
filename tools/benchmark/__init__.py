"""Benchmarks (not tests): ``python -m tools.benchmark {kernels,models,runtime,training,web} [--json FILE]``.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> list[dict]``,
and ``check_args(args)`` when some flags are wrong only together (a model and an input size): it raises
:class:`bmxnet_ext.cli.UsageError` before anything is measured. Single values are checked by the argparse
types (zoo names by :func:`model_zoo.model_name`). A sub-command measures ours and the baseline side by side
in one process and prints medians and ratios.
"""
import os
import sys


def float_threads_before_mxnet(threads):
    """Give MXNet's float operators ``threads`` OpenMP threads, so float and binary use the same cores.

    MXNet reads ``OMP_NUM_THREADS`` once, when it is first imported (its default here is one thread per
    physical core, which on this 2-vCPU machine is 1); a value the user set is kept. Returns the count
    MXNet will use, as a string for the report.
    """
    if "mxnet" not in sys.modules:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    return os.environ.get("OMP_NUM_THREADS", "MXNet's default")


def zoo_input_shape(name, batch=1, size=None):
    """``(batch, C, H, W)``: the input of zoo model ``name``, its own ``H, W`` or ``size`` x ``size``."""
    from model_zoo import default_input_shape

    shape = default_input_shape(name, batch)
    return shape[:2] + ((size, size) if size else shape[2:])


def check_model_input(name, shape, *, what, fix):
    """Raise :class:`bmxnet_ext.cli.UsageError` unless the input ``shape`` ``(N, C, H, W)``, made by the flags
    ``what``, has at most :data:`bmxnet_ext.cli.MAX_SHAPE_ELEMENTS` elements and model ``name`` takes it (shape
    inference on the uninitialised model); the message suggests ``fix`` (with ``{size}``, the smallest size
    the model takes)."""
    from bmxnet_ext.cli import UsageError, check_shape_size
    from tools.train.pipeline import check_model_input as check_input

    check_shape_size(shape, what)
    check_input(name, tuple(shape[1:]), fix=fix, error=UsageError)
