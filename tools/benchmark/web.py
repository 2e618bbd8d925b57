"""``python -m tools.benchmark web``: the demo models natively and in WebAssembly, batch 1, one thread.

Models: the demo page's (tools.web.models: BMXNet v1's binary LeNet on 28x28 digits and ImageNet ResNet-18 at
224x224, converted to ``.bmx``). Native: ``bmx-run --threads 1`` with ``BMX_ISA`` set to each instruction set
the CPU has (portable, avx2, avx512). WebAssembly, under Node.js through web/bmx.js: the SIMD128 build
(``wasm_simd`` kernels) and the build without SIMD (``wasm_portable``). The variants alternate in rounds, so
machine noise hits all alike; each round reports its median, the result is the median over rounds. Node.js's
timer is ``performance.now()`` around ``bmx_model_run`` (as the page shows), bmx-run's its own run loop.
WebAssembly warms up for ``--warmup`` runs and at least ``--warmup-ms``: V8 swaps its baseline code for
optimised code only after a while, so a count of runs alone measures a small model on baseline code.

JSON rows: ``model``, ``variant``, ``median_ms``, ``rounds``, ``repeat``; the printed table adds the ratios
to native AVX2 (and to wasm_simd).
"""
import json
import os
import statistics
import subprocess
import tempfile

import numpy as np

from bmxnet_ext import bmx_format
from bmxnet_ext.cli import existing_folder, non_negative_int, positive_int
from tools.benchmark.runtime import DEFAULT_BMX_RUN, _ensure_bmx_run, bmx_run_path

__all__ = ["add_arguments", "run"]

NATIVE_ISAS = ("portable", "avx2", "avx512")
BENCH_JS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web", "bench.mjs")


def add_arguments(parser):
    from tools.web import models
    parser.add_argument("--model", action="append", choices=sorted(models.DEMO_MODELS), default=None,
                        help="demo model; repeatable (default: lenet and resnet18)")
    parser.add_argument("--rounds", type=positive_int, default=5, help="alternating rounds (default: 5)")
    parser.add_argument("--repeat", type=positive_int, default=20, help="timed runs per round (default: 20)")
    parser.add_argument("--warmup", type=non_negative_int, default=10,
                        help="untimed runs per round; WebAssembly engines optimise hot code after some runs "
                             "(default: 10)")
    parser.add_argument("--warmup-ms", type=non_negative_int, default=1000,
                        help="WebAssembly: keep warming up until this many milliseconds have passed too, so "
                             "that V8 has replaced its baseline code by optimised code (default: 1000)")
    parser.add_argument("--models-source", type=existing_folder, default=None,
                        help="folder of BMXNet v1's released models (default: $BMXNET_SHARED_DIR/models/bmxnet-v1)")
    parser.add_argument("--bmx-run", type=bmx_run_path, default=DEFAULT_BMX_RUN,
                        help="the bmx-run executable (default: build/runtime-host/bmx-run, built if missing)")


def _native_round(bmx_run, isa, model, input_npy, repeat, warmup):
    proc = subprocess.run([bmx_run, model, "--input", input_npy, "--threads", "1", "--repeat", str(repeat),
                           "--warmup", str(warmup), "--json"], capture_output=True, text=True, check=True,
                          env={**os.environ, "BMX_ISA": isa})
    return json.loads(proc.stdout)["median_ms"]


def _wasm_round(wasm_dir, simd, specs, folder, repeat, warmup, warmup_ms):
    request = os.path.join(folder, f"request-{simd}.json")
    with open(request, "w", encoding="utf-8") as f:
        json.dump({"wasm": wasm_dir, "simd": simd, "isa": None, "repeat": repeat, "warmup": warmup,
                   "warmupMs": warmup_ms,
                   "models": [{"name": name, "path": path, "input": raw} for name, (path, _, raw) in specs.items()]},
                  f)
    proc = subprocess.run(["node", BENCH_JS, request], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {name: statistics.median(times) for name, times in result["models"].items()}


def _native_isas():
    """The native instruction sets this CPU and build run, as the native core reports them."""
    from bmxnet_ext import native
    return [isa for isa in NATIVE_ISAS if isa in native.available_isas()]


def run(args):
    from tools.web import build, models
    model_dir = os.path.join(build.BUILD_DIR, "models")  # the benchmark's own cache of converted models
    os.makedirs(model_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    rows, times = [], {}
    with tempfile.TemporaryDirectory(prefix="bmx-bench-web-") as folder:
        specs = {}
        for name in args.model or list(models.DEMO_MODELS):  # first: a missing model fails before the builds
            path = models.convert(name, model_dir, args.models_source or models.DEFAULT_SOURCE)
            shape = models.DEMO_MODELS[name]["input_shape"]
            scale = bmx_format.read_bmx(path).metadata.scale  # pixels 0..255 as the model takes them
            x = (rng.uniform(0, 255, shape) * scale).astype(np.float32)
            npy, raw = os.path.join(folder, f"{name}.npy"), os.path.join(folder, f"{name}.raw")
            np.save(npy, x)
            x.tofile(raw)
            specs[name] = (path, npy, raw)
        bmx_run = _ensure_bmx_run(args.bmx_run)
        wasm_dir = build.build()
        isas = _native_isas()
        for _ in range(args.rounds):
            for isa in isas:
                for name, (path, npy, _) in specs.items():
                    times.setdefault((name, f"native_{isa}"), []).append(
                        _native_round(bmx_run, isa, path, npy, args.repeat, args.warmup))
            for simd, variant in ((True, "wasm_simd"), (False, "wasm_portable")):
                for name, ms in _wasm_round(wasm_dir, simd, specs, folder, args.repeat, args.warmup,
                                                   args.warmup_ms).items():
                    times.setdefault((name, variant), []).append(ms)
    for (name, variant), samples in times.items():
        rows.append({"model": name, "variant": variant, "median_ms": round(statistics.median(samples), 4),
                     "rounds": args.rounds, "repeat": args.repeat})
    _print_table(rows)
    return rows


def _print_table(rows):
    by_model = {}
    for row in rows:
        by_model.setdefault(row["model"], {})[row["variant"]] = row["median_ms"]
    print(f"{'model':10} {'variant':16} {'median ms':>10} {'/ native avx2':>14} {'/ wasm_simd':>12}")
    for name, variants in by_model.items():
        avx2, simd = variants.get("native_avx2"), variants.get("wasm_simd")
        for variant, ms in variants.items():
            print(f"{name:10} {variant:16} {ms:10.3f} {_ratio(ms, avx2):>14} {_ratio(ms, simd):>12}")


def _ratio(ms, base):
    return f"{ms / base:.2f}x" if base else "-"
