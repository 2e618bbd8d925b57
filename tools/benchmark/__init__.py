"""Benchmarks (not tests): ``python -m tools.benchmark {kernels,models,runtime} [--json FILE]``.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> list[dict]``;
it measures ours and the baseline side by side in one process and prints medians and ratios.
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
