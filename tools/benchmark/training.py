"""Training step time of a zoo model, binary vs its full-precision twin, measured side by side.

``python -m tools.benchmark training --model lenet --batch-size 64``: one step is forward, backward and an
Adam update on a random batch, synchronised with ``mx.nd.waitall()``. Binary (``--bits``/``--bits-a``) and
float (32/32) rounds alternate so machine noise hits both alike; the medians and their ratio are printed.
"""
import statistics
import time

import mxnet as mx
import numpy as np

from bmxnet_ext.cli import UsageError, int_in_range, positive_int, shape
from model_zoo import model_name
from tools.benchmark import check_model_input
from tools.train.fit import cross_entropy
from tools.train.pipeline import create_net


_bits = int_in_range(1, 32)


def add_arguments(parser):
    parser.add_argument("--model", type=model_name, default="lenet", help="zoo model (default: lenet)")
    parser.add_argument("--input-shape", type=shape, default=(1, 28, 28),
                        help="C,H,W of one sample (default: 1,28,28)")
    parser.add_argument("--classes", type=positive_int, default=10, help="classes (default: 10)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default: 64)")
    parser.add_argument("--bits", type=_bits, default=1, help="weight bits of the quantized model (default: 1)")
    parser.add_argument("--bits-a", type=_bits, default=1, help="activation bits (default: 1)")
    parser.add_argument("--rounds", type=positive_int, default=7, help="alternating rounds per model (default: 7)")
    parser.add_argument("--steps", type=positive_int, default=10, help="steps per round (default: 10)")


def check_args(args):
    """Refuse a model / ``--input-shape`` / ``--batch-size`` combination the model cannot run, before any
    step is timed."""
    text = ",".join(map(str, args.input_shape))
    if len(args.input_shape) != 3:
        raise UsageError(f"--input-shape {text}: expected C,H,W (three numbers), e.g. 1,28,28")
    check_model_input(args.model, (args.batch_size,) + tuple(args.input_shape),
                      what=f"--model {args.model} --batch-size {args.batch_size} --input-shape {text}",
                      fix=f"--input-shape {args.input_shape[0]},{{size}},{{size}}")


def _step_function(net, batch, labels):
    trainer = mx.gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-3})

    def step():
        with mx.autograd.record():
            loss = cross_entropy(net(batch), labels)
        loss.backward()
        trainer.step(batch.shape[0])
    return step


def measure_step_times(*, model, input_shape, classes, batch_size, precisions, rounds, steps, seed=0):
    """Median seconds per training step for each ``(bits, bits_a)`` in ``precisions``, rounds interleaved."""
    rng = np.random.default_rng(seed)
    batch = mx.nd.array(rng.random((batch_size,) + tuple(input_shape), dtype=np.float32))
    labels = mx.nd.array(rng.integers(0, classes, batch_size), dtype="int32")
    steppers = {}
    for bits, bits_a in precisions:
        net = create_net(model, classes=classes, seed=seed, ctx=[mx.cpu()], input_shape=(1,) + tuple(input_shape),
                         bits=bits, bits_a=bits_a)
        steppers[(bits, bits_a)] = _step_function(net, batch, labels)
        for _ in range(3):  # warm-up: graph construction, memory planning
            steppers[(bits, bits_a)]()
        mx.nd.waitall()
    times = {key: [] for key in steppers}
    for _ in range(rounds):
        for key, step in steppers.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            mx.nd.waitall()
            times[key].append((time.perf_counter() - start) / steps)
    return {key: statistics.median(values) for key, values in times.items()}


def run(args):
    shape = args.input_shape
    quantized, full = (args.bits, args.bits_a), (32, 32)
    medians = measure_step_times(model=args.model, input_shape=shape, classes=args.classes,
                                 batch_size=args.batch_size, precisions=[quantized, full], rounds=args.rounds,
                                 steps=args.steps)
    ratio = medians[quantized] / medians[full]
    print(f"{args.model}, batch {args.batch_size}, median of {args.rounds} rounds x {args.steps} steps")
    print(f"  W{args.bits}A{args.bits_a}: {1e3 * medians[quantized]:8.2f} ms/step")
    print(f"  W32A32: {1e3 * medians[full]:8.2f} ms/step")
    print(f"  ratio quantized / float: {ratio:.2f}x")
    return [{"model": args.model, "batch_size": args.batch_size, "bits": b, "bits_a": a,
             "ms_per_step": 1e3 * medians[(b, a)]} for b, a in (quantized, full)] + [{"ratio": ratio}]
