"""``python -m tools.benchmark models``: a converted binary model inside MXNet vs the same model in float.

For each model: the float twin (``get_model(name, bits=32)``) and the binary model converted by
``tools.model_converter`` (loaded back with ``gluon.SymbolBlock.imports``), once as written by default (each
binary layer one fused operator call) and once with ``fuse=False`` (one operator per step), run in this
process on the same input, all hybridized with static memory, alternating call by call so machine noise hits
them alike. Prints median latencies and the ratios; JSON rows have keys ``model``, ``float_ms``,
``binary_ms``, ``speedup``, ``unfused_ms``, ``unfused_speedup`` (plus ``batch``, ``input_shape``, ``repeat``,
``binary_params_mib``, ``bmx_threads``, ``float_omp_threads``).
"""
import os
import statistics
import tempfile
import time

import numpy as np

from bmxnet_ext.cli import non_negative_int, positive_int, thread_count
from model_zoo import model_name
from tools.benchmark import check_model_input, float_threads_before_mxnet, zoo_input_shape

__all__ = ["add_arguments", "check_args", "run"]


def add_arguments(parser):
    parser.add_argument("--model", type=model_name, action="append", default=None,
                        help="zoo model to measure; repeatable (default: resnet18)")
    parser.add_argument("--batch", type=positive_int, default=1, help="batch size (default: 1)")
    parser.add_argument("--size", type=positive_int, default=None,
                        help="input height and width (default: the model's own, 224 for resnet18)")
    parser.add_argument("--repeat", type=positive_int, default=30, help="timed calls per model and variant (default: 30)")
    parser.add_argument("--warmup", type=non_negative_int, default=5, help="untimed calls first (default: 5)")
    parser.add_argument("--threads", type=thread_count, default=None,
                        help="threads of the binary kernels (sets BMX_NUM_THREADS before their first call; "
                             "default: BMX_NUM_THREADS or all hardware threads)")


def check_args(args):
    """Refuse a model / ``--batch`` / ``--size`` combination the model cannot run, before any measurement."""
    for name in args.model or ["resnet18"]:
        size = f" --size {args.size}" if args.size else ""
        check_model_input(name, zoo_input_shape(name, args.batch, args.size),
                          what=f"--model {name} --batch {args.batch}{size}", fix="--size {size}")


def _randomize_batchnorm(net, rng):
    """Give BatchNorm layers non-trivial statistics so binary activations are not all one sign."""
    import mxnet as mx

    for name, param in net.collect_params().items():
        if name.endswith("running_var"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 2.0, param.shape)))
        elif name.endswith(("running_mean", "beta")):
            param.set_data(mx.nd.array(rng.normal(0.0, 0.5, param.shape)))


def _build(name, bits, shape, rng):
    import mxnet as mx
    from model_zoo import get_model

    net = get_model(name, bits=bits)
    net.initialize(mx.init.Xavier(magnitude=2))
    net(mx.nd.zeros(shape))
    _randomize_batchnorm(net, rng)
    return net


def _converted(net, shape, directory, fuse=True):
    from bmxnet_ext.manifest import import_converted
    from tools.model_converter import convert_block

    out = f"{directory}/{'fused' if fuse else 'unfused'}"
    report = convert_block(net, output_dir=out, input_shape=shape, fuse=fuse)
    block = import_converted(f"{out}/model-symbol.json", f"{out}/model-0000.params")
    return block, report


def _time_alternating(variants, data, repeat, warmup):
    """Median milliseconds per variant, calling them in turn ``repeat`` times after ``warmup`` rounds."""
    times = {name: [] for name in variants}
    for i in range(warmup + repeat):
        for name, block in variants.items():
            start = time.perf_counter()
            block(data).wait_to_read()
            if i >= warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def run(args):
    if args.threads is not None:
        os.environ["BMX_NUM_THREADS"] = str(args.threads)  # read by the kernels' thread pool at first use
    threads = os.environ.get("BMX_NUM_THREADS", str(os.cpu_count()))
    float_threads = float_threads_before_mxnet(threads)
    import mxnet as mx

    rows = []
    rng = np.random.default_rng(0)
    for name in args.model or ["resnet18"]:
        shape = zoo_input_shape(name, args.batch, args.size)
        float_net = _build(name, 32, shape, rng)
        binary_net = _build(name, 1, shape, rng)
        with tempfile.TemporaryDirectory(prefix="bmx-bench-") as tmp:
            converted, report = _converted(binary_net, shape, tmp)
            unfused, _ = _converted(binary_net, shape, tmp, fuse=False)
            for block in (float_net, converted, unfused):
                block.hybridize(static_alloc=True, static_shape=True)
            data = mx.nd.array(rng.standard_normal(shape).astype(np.float32))
            medians = _time_alternating({"float": float_net, "binary": converted, "unfused": unfused}, data,
                                        args.repeat, args.warmup)
        row = {"model": name, "float_ms": round(medians["float"], 3), "binary_ms": round(medians["binary"], 3),
               "speedup": round(medians["float"] / medians["binary"], 3),
               "unfused_ms": round(medians["unfused"], 3),
               "unfused_speedup": round(medians["float"] / medians["unfused"], 3), "batch": args.batch,
               "input_shape": list(shape), "repeat": args.repeat,
               "binary_params_mib": round(report.bytes_after / 2 ** 20, 3), "bmx_threads": threads,
               "float_omp_threads": float_threads}
        rows.append(row)
        print(f"{name} {shape}: float {row['float_ms']:.2f} ms, converted binary {row['binary_ms']:.2f} ms "
              f"(unfused: {row['unfused_ms']:.2f} ms, {row['unfused_speedup']:.2f}x) "
              f"(median of {args.repeat}, threads: binary {threads}, float {float_threads}) -> speedup {row['speedup']:.2f}x; "
              f"binary params {row['binary_params_mib']:.2f} MiB")
    return rows
