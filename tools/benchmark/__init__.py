"""Benchmarks (not tests): ``python -m tools.benchmark {kernels,models,runtime} [--json FILE]``.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> list[dict]``;
it measures ours and the baseline side by side in one process and prints medians and ratios.
"""
