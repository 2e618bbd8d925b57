"""``python -m tools.benchmark runtime``: the standalone runtime on a converted binary model vs MXNet float.

For each model (any zoo model with binary layers; default ``resnet18`` and ``densenet21_k140``) and thread
count (default 1 and 2): MXNet runs
the float twin (``get_model(name, bits=32)``, hybridized, static memory) in a subprocess with
``OMP_NUM_THREADS`` set, and ``bmx-run`` runs the binary model converted to ``.bmx`` (``get_model(name, bits=1)``,
``tools.model_converter --format bmx``) with ``--threads``. Batch 1, the model's own input (224x224 for the
ImageNet models) or ``--size``, the same random input. The two
alternate in rounds (float, binary, float, binary, ...) so machine noise hits both alike; each round reports
its median, and the result is the median over rounds. ``peak_rss_mb`` is the peak resident memory of the
``bmx-run`` process (``getrusage``), i.e. everything the runtime needs, weights included.

JSON rows: ``model``, ``threads``, ``float_ms``, ``binary_ms``, ``speedup``, ``peak_rss_mb`` (plus
``float_peak_rss_mb``, ``bmx_bytes``, ``rounds``, ``repeat``, ``mxnet_env``).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import numpy as np

from bmxnet_ext.cli import ToolError, non_negative_int, positive_int, thread_count
from model_zoo import model_name
from tools.benchmark import check_model_input, zoo_input_shape

__all__ = ["add_arguments", "check_args", "run"]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_BMX_RUN = os.path.join(REPO, "build", "runtime-host", "bmx-run")

FLOAT_WORKER = r"""
import json, resource, sys, time
import mxnet as mx
import numpy as np
folder, repeat, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
net = mx.gluon.SymbolBlock.imports(folder + "/float-symbol.json", ["data"], folder + "/float-0000.params")
net.hybridize(static_alloc=True, static_shape=True)
x = mx.nd.array(np.load(folder + "/input.npy"))
times = []
for i in range(warmup + repeat):
    t = time.perf_counter()
    net(x).wait_to_read()
    if i >= warmup:
        times.append((time.perf_counter() - t) * 1e3)
print(json.dumps({"times": times, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def add_arguments(parser):
    parser.add_argument("--model", type=model_name, action="append", default=None,
                        help="zoo model; repeatable (default: resnet18 and densenet21_k140)")
    parser.add_argument("--models", type=model_name, nargs="+", default=None, metavar="NAME",
                        help="zoo models, several at once; adds to --model (default: none)")
    parser.add_argument("--threads", type=thread_count, action="append", default=None,
                        help="thread count; repeatable (default: 1 and 2)")
    parser.add_argument("--size", type=positive_int, default=None,
                        help="input height and width (default: the model's own, 224 for resnet18)")
    parser.add_argument("--rounds", type=positive_int, default=5, help="alternating float/binary rounds (default: 5)")
    parser.add_argument("--repeat", type=positive_int, default=20, help="timed calls per round (default: 20)")
    parser.add_argument("--warmup", type=non_negative_int, default=3, help="untimed calls per round (default: 3)")
    parser.add_argument("--mxnet-env", type=_env_pair, action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the MXNet process; repeatable (default: none, i.e. MXNet's "
                             "own settings; its OpenMP busy waiting is its fastest, and since each side runs in "
                             "its own process it cannot slow the runtime down)")
    parser.add_argument("--bmx-run", type=bmx_run_path, default=DEFAULT_BMX_RUN,
                        help="the bmx-run executable (default: build/runtime-host/bmx-run, built with CMake "
                             "if missing)")


def bmx_run_path(text):
    """argparse type of ``--bmx-run``: an executable file, as an absolute path (the default one may be missing:
    :func:`_ensure_bmx_run` builds it)."""
    path = os.path.abspath(text)
    if path != DEFAULT_BMX_RUN and not (os.path.isfile(path) and os.access(path, os.X_OK)):
        problem = "does not exist" if not os.path.exists(path) else "is not an executable file"
        raise argparse.ArgumentTypeError(f"{text!r} {problem}; give the bmx-run executable, e.g. "
                                         "bmxnet_ext/bin/bmx-run (built by setup.py build_ext --inplace)")
    return path


def _ensure_bmx_run(path):
    if os.path.exists(path):
        return path
    if shutil.which("cmake") is None:
        raise ToolError(f"bmx-run not found at {path}; build it: cmake -S native/runtime -B build/runtime-host "
                         "&& cmake --build build/runtime-host")
    build = os.path.dirname(path)
    print(f"building {path} with CMake ...", flush=True)
    subprocess.run(["cmake", "-S", os.path.join(REPO, "native", "runtime"), "-B", build,
                    "-DCMAKE_BUILD_TYPE=Release"], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", build, "--target", "bmx-run", "-j", "2"], check=True, capture_output=True)
    return path


def _prepare(name, size, folder, rng):
    """Export the float twin, convert the binary model to .bmx, save the input; returns the .bmx size."""
    import mxnet as mx
    from model_zoo import get_model
    from tools.benchmark.models import _randomize_batchnorm
    from tools.model_converter import convert_block

    shape = zoo_input_shape(name, 1, size)
    for bits in (32, 1):
        net = get_model(name, bits=bits)
        net.initialize(mx.init.Xavier(magnitude=2))
        net(mx.nd.zeros(shape))
        _randomize_batchnorm(net, rng)
        if bits == 32:
            net.hybridize()
            net(mx.nd.zeros(shape))
            net.export(os.path.join(folder, "float"), 0)
        else:
            convert_block(net, output_dir=os.path.join(folder, "binary"), input_shape=shape, output_format="bmx",
                          prefix="model")
    np.save(os.path.join(folder, "input.npy"), rng.standard_normal(shape).astype(np.float32))
    return os.path.getsize(os.path.join(folder, "binary", "model.bmx"))


def _float_round(folder, threads, repeat, warmup, extra_env):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MXNET_CPU_WORKER_NTHREADS": "1", **extra_env}
    proc = subprocess.run([sys.executable, "-c", FLOAT_WORKER, folder, str(repeat), str(warmup)], env=env,
                          capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return statistics.median(result["times"]), result["peak_rss_mb"]


def _binary_round(bmx_run, folder, threads, repeat, warmup):
    proc = subprocess.run([bmx_run, os.path.join(folder, "binary", "model.bmx"), "--input",
                           os.path.join(folder, "input.npy"), "--threads", str(threads), "--repeat", str(repeat),
                           "--warmup", str(warmup), "--json"], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)
    return result["median_ms"], result["peak_rss_mb"]


def _env_pair(text):
    """argparse type: ``KEY=VALUE`` -> ``(KEY, VALUE)``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _model_names(args):
    """The models of ``--model`` and ``--models`` (default resnet18, densenet21_k140), each a zoo name."""
    return (args.model or []) + (args.models or []) or ["resnet18", "densenet21_k140"]


def check_args(args):
    """Refuse a model / ``--size`` combination the model cannot run, before anything is built or measured."""
    for name in _model_names(args):
        size = f" --size {args.size}" if args.size else ""
        check_model_input(name, zoo_input_shape(name, 1, args.size), what=f"--model {name}{size}",
                          fix="--size {size}")


def run(args):
    names = _model_names(args)
    bmx_run = _ensure_bmx_run(args.bmx_run)
    mxnet_env = dict(args.mxnet_env)
    rng = np.random.default_rng(0)
    rows = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix="bmx-bench-runtime-") as folder:
            bmx_bytes = _prepare(name, args.size, folder, rng)
            for threads in args.threads or [1, 2]:
                floats, binaries, rss, float_rss = [], [], [], []
                for _ in range(args.rounds):
                    ms, peak = _float_round(folder, threads, args.repeat, args.warmup, mxnet_env)
                    floats.append(ms)
                    float_rss.append(peak)
                    ms, peak = _binary_round(bmx_run, folder, threads, args.repeat, args.warmup)
                    binaries.append(ms)
                    rss.append(peak)
                float_ms, binary_ms = statistics.median(floats), statistics.median(binaries)
                row = {"model": name, "threads": threads, "float_ms": round(float_ms, 3),
                       "binary_ms": round(binary_ms, 3), "speedup": round(float_ms / binary_ms, 3),
                       "peak_rss_mb": round(max(rss), 2), "float_peak_rss_mb": round(max(float_rss), 2),
                       "bmx_bytes": bmx_bytes, "input_shape": list(zoo_input_shape(name, 1, args.size)),
                       "rounds": args.rounds, "repeat": args.repeat, "mxnet_env": mxnet_env}
                rows.append(row)
                print(f"{name} {threads} thread(s): MXNet float {float_ms:.2f} ms, runtime binary {binary_ms:.2f} ms "
                      f"-> {row['speedup']:.2f}x; runtime peak RSS {row['peak_rss_mb']:.1f} MB "
                      f"(MXNet process {row['float_peak_rss_mb']:.0f} MB); .bmx {bmx_bytes / 2 ** 20:.2f} MiB",
                      flush=True)
    return rows
