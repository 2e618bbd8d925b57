"""``python -m tools.benchmark kernels``: binary convolution kernels vs MXNet fp32 ``Convolution``.

Measured side by side in one process, in alternating blocks so machine noise hits both alike (each block
after a short gap and 30 ms of warm-up calls, so neither path runs against the other's spinning threads):
- the machine's xnor/popcount peak per instruction set (``bmxnet_ext.native.peak_macs_per_second``), once at the
  start for every instruction set and, for the one in use, once more in every round of every shape (a third
  path of the alternation), so that a shape's fraction of the peak compares two medians taken under the same
  load;
- per shape, the binary path as a converted model runs it: pack the float NCHW input by sign with a fused
  per-channel affine (``BmxPack``), then the binary convolution with float output ``scale * y + bias``
  (``BmxBinaryConv2D``); the packing is inside the timed region, the weights are packed once beforehand and
  both outputs are written into buffers allocated once (``out=``), as a model's memory plan does;
- MXNet's fp32 ``Convolution`` (oneDNN) on the same shape, batch 1.

Prints per shape the median milliseconds, binary G MAC/s (one MAC = one binary multiply-accumulate), the
median peak of its rounds, the fraction of that peak, the fraction of the best peak the run saw (a lower
bound: a best case against a median), the speed-up over fp32, and its ceiling: the speed-up a binary path
running at 100 % of the peak would reach against the same fp32 time (``--per-core``: one thread on both
sides, robust when other jobs share the machine). ``--json`` writes one record per shape with the keys
``name``, ``binary_ms``, ``float_ms``, ``speedup``, ``peak_fraction`` (of the median peak), ``peak_gmacs``,
``best_peak_fraction``, ``best_peak_gmacs`` (plus ``ceiling_speedup``, shape, isa, threads and G MAC/s for
context).
"""
import argparse
import gc
import os
import sys
import time

import numpy as np

from bmxnet_ext.cli import ToolError, positive_float, positive_int, thread_count
from tools.benchmark import float_threads_before_mxnet

# (name, in_channels, out_channels, height = width, kernel, stride, pad)
SHAPES = [
    ("resnet18-64x56x56", 64, 64, 56, 3, 1, 1),
    ("resnet18-128x28x28", 128, 128, 28, 3, 1, 1),
    ("resnet18-256x14x14", 256, 256, 14, 3, 1, 1),
    ("resnet18-512x7x7", 512, 512, 7, 3, 1, 1),
    ("densenet-256to128-56x56", 256, 128, 56, 3, 1, 1),
    ("densenet-1120to140-7x7", 1120, 140, 7, 3, 1, 1),
    ("densenet-transition-512-1x1-28x28", 512, 512, 28, 1, 1, 0),
]


def add_arguments(parser):
    parser.add_argument("--threads", type=thread_count, default=None,
                        help="threads for the binary kernels and for MXNet's fp32 Convolution (default: all hardware threads)")
    parser.add_argument("--repeat", type=positive_int, default=50, help="timed runs per shape and path (default: 50)")
    from bmxnet_ext import native

    parser.add_argument("--isa", choices=native.available_isas(), default=None,
                        help="force an instruction set this CPU and build support (default: the fastest)")
    parser.add_argument("--shapes", type=_shape_selection, default=None,
                        help="comma-separated substrings selecting shapes by name, each matching at least one "
                             f"of {', '.join(s[0] for s in SHAPES)} (default: all)")
    parser.add_argument("--peak-seconds", type=positive_float, default=0.3,
                        help="duration of each peak measurement in seconds (default: 0.3)")
    parser.add_argument("--per-core", action="store_true",
                        help="one thread for both sides (binary kernels and MXNet's OpenMP), a comparison that "
                             "stays fair when other jobs share the machine (default: all threads)")


def _shape_selection(text):
    """argparse type: comma-separated substrings of shape names -> the shapes of :data:`SHAPES` they select;
    a substring that selects nothing is refused, so no run measures fewer shapes than asked for."""
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated parts of shape names, got {text!r}")
    unmatched = [part for part in parts if not any(part in s[0] for s in SHAPES)]
    if unmatched:
        raise argparse.ArgumentTypeError(f"{', '.join(map(repr, unmatched))} selects no shape; shapes are "
                                         f"{', '.join(s[0] for s in SHAPES)}")
    return [s for s in SHAPES if any(part in s[0] for part in parts)]


def _median_ms(samples):
    return float(np.median(samples) * 1e3)


IDLE_GAP_SECONDS = 0.02
WARM_UP_SECONDS = 0.03
PEAK_BLOCK_SECONDS = 0.02  # one peak measurement per round: about as long as a round's block of a shape


def _let_threads_idle():
    """Busy-wait until the other path's threads have stopped spinning.

    After a parallel region MXNet's OpenMP (libgomp) threads spin for a few milliseconds, our pool's workers
    for 0.1 ms; a block timed in that window shares its cores with them. Busy, not asleep: a sleeping
    process lets this VM's cores drop into a slow idle state that outlasts a short warm-up.
    """
    end = time.perf_counter() + IDLE_GAP_SECONDS
    while time.perf_counter() < end:
        pass


def _warm_up(fn):
    """Call ``fn`` for WARM_UP_SECONDS (at least 3 calls): caches, thread pools, oneDNN primitives, clocks."""
    end, calls = time.perf_counter() + WARM_UP_SECONDS, 0
    while calls < 3 or time.perf_counter() < end:
        fn()
        calls += 1


def _time_once(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_peaks(native, threads, seconds):
    """Peak binary MAC/s of every supported ISA on 1 and on ``threads`` threads."""
    peaks = {}
    for isa in native.available_isas():
        for n in sorted({1, threads}):
            peaks[(isa, n)] = native.peak_macs_per_second(isa, n, seconds)
    return peaks


def benchmark_shape(native, mx, shape, repeat, rng, isa, threads):
    """Median seconds of (pack + binary conv) and of MXNet fp32 Convolution, run alternately, and the median
    peak binary MAC/s of ``isa`` on ``threads`` threads measured in the same rounds."""
    name, cin, cout, size, kernel, stride, pad = shape
    x = rng.standard_normal((1, cin, size, size)).astype(np.float32)
    w = rng.standard_normal((cout, cin, kernel, kernel)).astype(np.float32)
    in_scale, in_bias = np.ones(cin, np.float32), rng.standard_normal(cin).astype(np.float32) * 0.1
    out_scale, out_bias = rng.standard_normal(cout).astype(np.float32), rng.standard_normal(cout).astype(np.float32)
    packed_w = native.pack_conv_weights(w)
    # Both outputs go to buffers allocated once, as in a model (MXNet's memory pool, the runtime's memory plan):
    # a fresh 800 KB NumPy array per call would time the kernel's page faults, not its work.
    packed_x = native.pack_activations(x, scale=in_scale, bias=in_bias)
    out = native.binary_conv2d(packed_x, packed_w, in_channels=cin, stride=stride, pad=pad, out_format="float",
                               scale=out_scale, bias=out_bias)

    def binary():
        data = native.pack_activations(x, scale=in_scale, bias=in_bias, out=packed_x)
        return native.binary_conv2d(data, packed_w, in_channels=cin, stride=stride, pad=pad, out_format="float",
                                    scale=out_scale, bias=out_bias, out=out)

    xm, wm = mx.nd.array(x), mx.nd.array(w)

    def fp32():
        mx.nd.Convolution(xm, wm, kernel=(kernel, kernel), stride=(stride, stride), pad=(pad, pad),
                          num_filter=cout, no_bias=True).wait_to_read()

    binary_times, float_times, peaks = [], [], []
    rounds = 10  # alternate in blocks: each path runs back to back, as inside a model
    for r in range(rounds):
        block = repeat // rounds + (r < repeat % rounds)
        for fn, times in ((binary, binary_times), (fp32, float_times)):
            _let_threads_idle()
            _warm_up(fn)
            gc.disable()  # as timeit does: a collection inside a 0.1 ms call would be timed as the call's
            try:
                times += [_time_once(fn) for _ in range(block)]
            finally:
                gc.enable()
        _let_threads_idle()
        peaks.append(native.peak_macs_per_second(isa, threads, PEAK_BLOCK_SECONDS))
    out = (size + 2 * pad - kernel) // stride + 1
    macs = cout * cin * kernel * kernel * out * out
    return _median_ms(binary_times), _median_ms(float_times), macs, float(np.median(peaks))


def run(args):
    if args.per_core:
        if "mxnet" in sys.modules and os.environ.get("OMP_NUM_THREADS") != "1":
            raise ToolError("--per-core needs OMP_NUM_THREADS=1 before MXNet is imported; unset "
                            "OMP_NUM_THREADS or run python -m tools.benchmark kernels --per-core")
        os.environ["OMP_NUM_THREADS"] = "1"
    threads = 1 if args.per_core else (args.threads or os.cpu_count())
    float_threads = float_threads_before_mxnet(threads)
    import mxnet as mx

    from bmxnet_ext import native

    native.set_num_threads(threads)
    isa = args.isa or native.current_isa()
    shapes = args.shapes or SHAPES
    rng = np.random.default_rng(0)

    peaks = measure_peaks(native, threads, args.peak_seconds)
    print(f"xnor/popcount peak (G binary MAC/s), L1-resident, {threads} thread(s) = all used below:")
    for (peak_isa, n), value in peaks.items():
        print(f"  {peak_isa:9s} {n} thread(s): {value / 1e9:8.1f}")
    best_peak = peaks[(isa, threads)]

    with native.use_isa(isa):
        measured = [(shape, *benchmark_shape(native, mx, shape, args.repeat, rng, isa, threads)) for shape in shapes]
    best_peak = max([best_peak, native.peak_macs_per_second(isa, threads, args.peak_seconds)] +
                    [peak for *_, peak in measured])

    results = []
    header = (f"{'shape':36s} {'binary ms':>10s} {'fp32 ms':>9s} {'G MAC/s':>9s} {'peak':>7s} {'% peak':>7s} "
              f"{'% best':>7s} {'speed-up':>9s} {'ceiling':>8s}")
    print(f"\nbinary = pack (fused affine) + binary conv (float output) on {isa}, {threads} thread(s); "
          f"fp32 = mx.nd.Convolution, OMP_NUM_THREADS={float_threads}; medians of {args.repeat} runs in "
          f"alternating blocks, batch 1; peak = median of the peaks measured in the same rounds (G MAC/s); "
          f"% best = of the best peak of the run, {best_peak / 1e9:.1f} G MAC/s")
    print(header)
    print("-" * len(header))
    for shape, binary_ms, float_ms, macs, peak in measured:
        gmacs = macs / (binary_ms * 1e-3) / 1e9
        record = {"name": shape[0], "binary_ms": binary_ms, "float_ms": float_ms,
                  "speedup": float_ms / binary_ms, "peak_fraction": gmacs * 1e9 / peak,
                  "best_peak_fraction": gmacs * 1e9 / best_peak,
                  "ceiling_speedup": float_ms * 1e-3 / (macs / peak),
                  "binary_gmacs": gmacs, "macs": macs, "isa": isa, "threads": threads,
                  "float_omp_threads": float_threads, "peak_gmacs": peak / 1e9, "best_peak_gmacs": best_peak / 1e9}
        results.append(record)
        print(f"{shape[0]:36s} {binary_ms:10.3f} {float_ms:9.3f} {gmacs:9.1f} {peak / 1e9:7.1f} "
              f"{100 * record['peak_fraction']:6.1f}% {100 * record['best_peak_fraction']:6.1f}% "
              f"{record['speedup']:8.1f}x {record['ceiling_speedup']:7.1f}x")
    return results
