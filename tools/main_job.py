"""The main job: train a binary LeNet offline, show it, convert it, run it natively, and compare with float.

``python -m tools.main_job`` (what ``./run.sh main`` runs) does, on scikit-learn's handwritten digits (no
network needed; 1,437 training and 360 held-out digits, upscaled to 28 x 28):

1. trains the zoo's binary LeNet (W1A1) and its full-precision twin (W32A32, same recipe and seed) with
   ``tools.train``;
2. prints the binary model's summary (parameters and MACs by precision, memory);
3. converts the binary model with ``tools.model_converter`` (weights packed into 64-bit words, BatchNorm +
   sign folded into the binary layers) and checks it against the trained model;
4. runs the converted model through the native ``BmxBinaryConv2D`` / ``BmxBinaryDense`` operators inside
   MXNet, each binary layer one call that packs its float input and applies its epilogue (folded BatchNorm,
   max pooling, tanh);
5. converts it once more into one ``.bmx`` file (with the digits' input convention and class names) and runs
   that through the standalone runtime: accuracy via the Python binding, latency with ``bmx-run``, and one
   ``bmx-run`` top-3 on a held-out digit saved as a PNG image;
6. prints held-out accuracy, model size and latency (batch 1 and 64) of float, binary and both conversions.

Everything lands in ``--out-dir`` (default ``runs/main_job``): both training runs (logs, checkpoints, curves,
exports), the converted models and the digit image.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# MXNet reads this once, at import; its default here is one OpenMP thread, while the native operators use
# every core. Give the float model the same cores so the latency comparison is fair (a user's value wins).
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))

import cv2  # noqa: E402
import mxnet as mx  # noqa: E402  (after OMP_NUM_THREADS on purpose)
import numpy as np

from bmxnet_ext import model_metadata, summary
from bmxnet_ext import runtime as standalone
from bmxnet_ext.atomic import check_output_folder
from bmxnet_ext.cli import ArgumentParser, non_negative_int, positive_float, positive_int, run
from bmxnet_ext.manifest import import_converted
from tools.bmx_run import executable as bmx_run_executable
from tools.train import train
from tools.train.data import load_dataset

INPUT_SHAPE = (1, 1, 28, 28)
PROG = "python -m tools.main_job"


def parse_args(argv=None):
    p = ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=15, help="training epochs of each model (default: 15)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default: 64)")
    p.add_argument("--lr", type=positive_float, default=2e-3,
                   help="Adam learning rate, cosine schedule (default: 0.002)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of both trainings (default: 0)")
    p.add_argument("--latency-runs", type=positive_int, default=200,
                   help="timed single-image forward passes per model (default: 200)")
    p.add_argument("--out-dir", default=os.path.join("runs", "main_job"), help="output folder (default: "
                   "runs/main_job)")
    p.add_argument("--limit-batches", type=positive_int, default=None, help="batches per epoch, for smoke tests "
                   "(default: all)")
    return p.parse_args(argv)


def accuracy(predict, split, batch_size=120):
    """Fraction of ``split`` whose argmax of ``predict(batch NDArray)`` equals the label."""
    correct = 0
    for start in range(0, len(split), batch_size):
        data, labels = split.batch(np.arange(start, min(start + batch_size, len(split))))
        correct += int((predict(mx.nd.array(data)).asnumpy().argmax(axis=1) == labels).sum())
    return correct / len(split)


def median_latencies(models, *, runs, sample):
    """Median seconds of one forward pass on ``sample`` per named model; models alternate in every round."""
    for predict in models.values():
        for _ in range(10):
            predict(sample).wait_to_read()
    times = {name: [] for name in models}
    for _ in range(runs):
        for name, predict in models.items():
            start = time.perf_counter()
            predict(sample).wait_to_read()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bmx_run(model_file, *args):
    """stdout of the packaged ``bmx-run`` on ``model_file`` with ``args``."""
    proc = subprocess.run([bmx_run_executable(), model_file, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bmx-run failed: {proc.stderr.strip()}")
    return proc.stdout


def standalone_runtime(report_dir, eval_split, runs):
    """Accuracy (Python binding, the whole held-out split as one batch) and median latency in seconds at batch
    1 and per image at batch 64 (``bmx-run --benchmark``) of the ``.bmx`` model in ``report_dir``."""
    model_file = next(os.path.join(report_dir, f) for f in os.listdir(report_dir) if f.endswith(".bmx"))
    data, labels = eval_split.batch(np.arange(len(eval_split)))
    with standalone.Model(model_file, batch_size=len(eval_split)) as model:
        acc = float((model.run(data).argmax(axis=1) == labels).mean())
    timing = {}
    for batch, repeat in ((1, runs), (64, max(runs // 10, 3))):
        result = json.loads(bmx_run(model_file, "--benchmark", "--batch", str(batch), "--repeat", str(repeat),
                                    "--warmup", "10", "--threads", str(os.cpu_count()), "--json"))
        timing[batch] = result["median_ms"] / 1e3 / batch
    return model_file, acc, timing


def _train(label, out_dir, splits, args, bits):
    print(f"\n== training {label} (W{bits}A{bits}) for {args.epochs} epochs", flush=True)
    return train(model="lenet", dataset="digits", splits=splits, run_dir=os.path.join(out_dir, label), bits=bits,
                 bits_a=bits, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                 limit_batches=args.limit_batches, progress=sys.stderr.isatty(),
                 force=True)  # the main job retrains from scratch each time it runs


def main(argv=None):
    return run(PROG, _main, argv)


def _main(argv):
    args = parse_args(argv)
    check_output_folder(args.out_dir)
    from tools.model_converter import convert_files  # also registers the native operators

    start = time.time()
    splits = load_dataset("digits")
    eval_split = splits[1]
    binary = _train("binary", args.out_dir, splits, args, bits=1)
    full = _train("float", args.out_dir, splits, args, bits=32)

    print("\n== summary of the binary LeNet")
    summary(binary["net"], INPUT_SHAPE)

    print("\n== converting the binary LeNet")
    converted_dir = os.path.join(args.out_dir, "converted")
    report = convert_files(binary["symbol_file"], binary["params_file"], output_dir=converted_dir,
                           input_shape=INPUT_SHAPE, overwrite=True)
    print(report.format())
    symbol_file = os.path.join(converted_dir, next(f for f in report.files if f.endswith("-symbol.json")))
    params_file = os.path.join(converted_dir, next(f for f in report.files if f.endswith(".params")))
    native = import_converted(symbol_file, params_file)
    native.hybridize(static_alloc=True)  # as the trained nets: one cached graph with static memory
    with open(symbol_file) as f:
        ops = sorted({node["op"] for node in json.load(f)["nodes"] if node["op"].startswith("Bmx")})

    print("\n== converting it for the standalone runtime (one .bmx file, digits convention and class names)")
    bmx_dir = os.path.join(args.out_dir, "converted-bmx")
    bmx_report = convert_files(binary["symbol_file"], binary["params_file"], output_dir=bmx_dir,
                               input_shape=INPUT_SHAPE, overwrite=True, output_format="bmx",
                               metadata=model_metadata.for_dataset("digits"))
    print(bmx_report.notes[-1])

    print(f"\n== evaluating on {len(eval_split)} held-out digits")
    acc = {"float": accuracy(full["net"], eval_split), "binary": accuracy(binary["net"], eval_split),
           "converted": accuracy(native, eval_split)}
    data = mx.nd.array(eval_split.batch(np.arange(len(eval_split)))[0])
    agree = float((native(data).asnumpy().argmax(1) == binary["net"](data).asnumpy().argmax(1)).mean())
    sizes = {"float": os.path.getsize(full["params_file"]), "binary": os.path.getsize(binary["params_file"]),
             "converted": report.bytes_after}
    models = {"float": full["net"], "binary": binary["net"], "converted": native}
    latency = median_latencies(models, runs=args.latency_runs, sample=data[:1])
    batch_time = median_latencies(models, runs=max(args.latency_runs // 10, 3), sample=data[:64])
    bmx_file, acc["standalone"], timing = standalone_runtime(bmx_dir, eval_split, args.latency_runs)
    sizes["standalone"], latency["standalone"], batch_time["standalone"] = \
        os.path.getsize(bmx_file), timing[1], 64 * timing[64]

    rows = [("float", "W32A32 LeNet, same recipe, MXNet float operators"),
            ("binary", "W1A1 LeNet as trained: float operators on +/-1 values"),
            ("converted", "W1A1 LeNet converted: packed bits, native Bmx* operators"),
            ("standalone", "the same as one .bmx file in the standalone runtime (bmx-run, no MXNet)")]
    print(f"\n{'model':10s} {'what it is':72s} {'accuracy':>9s} {'model file':>13s} {'latency b=1':>12s} "
          f"{'b=64, per image':>16s}")
    for name, what in rows:
        print(f"{name:10s} {what:72s} {100 * acc[name]:8.2f}% {sizes[name] / 1024:9.1f} KiB "
              f"{1e3 * latency[name]:9.3f} ms {1e3 * batch_time[name] / 64:13.3f} ms")
    print(f"\nnative operators in the converted graph: {', '.join(ops)}")
    print(f"converted vs trained binary model: identical predictions on {100 * agree:.2f} % of the held-out "
          f"digits")
    print(f"model size float / converted binary: {sizes['float'] / sizes['converted']:.1f}x smaller")
    print(f"speed-up of the converted binary over float (median of {args.latency_runs} runs, models interleaved): "
          f"{latency['float'] / latency['converted']:.2f}x at batch 1, "
          f"{batch_time['float'] / batch_time['converted']:.2f}x at batch 64 (above 1 = binary faster)")
    print(f"accuracy binary - float: {100 * (acc['converted'] - acc['float']):+.2f} points "
          f"(one seed; {len(eval_split)} digits, so one digit is {100 / len(eval_split):.2f} points)")
    print("latencies: medians on this machine's shared CPU, in-MXNet models interleaved; the standalone "
          "runtime's from bmx-run --benchmark with as many threads after them")

    image, label = eval_split.batch(np.arange(1))
    image_file = os.path.join(args.out_dir, f"held-out-digit-{int(label[0])}.png")
    cv2.imwrite(image_file, np.round(255 * image[0, 0]).astype(np.uint8))
    print(f"\n== bmx-run {bmx_file} --input {image_file} --top 3 --repeat 1")
    print(bmx_run(bmx_file, "--input", image_file, "--top", "3", "--repeat", "1").rstrip())
    print(f"\nall outputs in {os.path.abspath(args.out_dir)}; total {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
