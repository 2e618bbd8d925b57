"""``--kvstore dist_sync`` for real: scheduler, one server and two workers on 127.0.0.1."""
import os
import socket
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from tools.train.data import load_dataset
from tools.train.pipeline import create_net

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 5


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _trainable(params_file):
    """The ``arg:`` (trained) parameters of an exported params file; ``aux:`` BatchNorm statistics are local."""
    return {k: v.asnumpy() for k, v in mx.nd.load(params_file).items() if k.startswith("arg:")}


@pytest.mark.slow
def test_dist_sync_workers_hold_identical_changed_parameters(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(_free_port()), DMLC_NUM_SERVER="1",
               DMLC_NUM_WORKER="2", DMLC_NODE_HOST="127.0.0.1", OMP_NUM_THREADS="1")
    worker_cmd = [sys.executable, "-m", "tools.train", "--model", "lenet", "--dataset", "digits",
                  "--kvstore", "dist_sync", "--epochs", "1", "--limit-batches", "4", "--batch-size", "16",
                  "--seed", str(SEED), "--no-progress"]
    processes = []
    try:
        for role in ("scheduler", "server"):
            processes.append(subprocess.Popen([sys.executable, "-c", "import mxnet"], env=dict(env, DMLC_ROLE=role),
                                              cwd=str(tmp_path), stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
        workers = [subprocess.Popen(worker_cmd + ["--run-dir", str(tmp_path / f"worker{rank}")],
                                    env=dict(env, DMLC_ROLE="worker"), cwd=str(tmp_path),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                   for rank in range(2)]
        processes += workers
        for worker in workers:
            output, _ = worker.communicate(timeout=90)
            assert worker.returncode == 0, output[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
    first, second = (_trainable(str(tmp_path / f"worker{rank}" / "model-0000.params")) for rank in range(2))
    assert first.keys() == second.keys() and first
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    train_split, _, classes = load_dataset("digits")
    initial = create_net("lenet", classes=classes, seed=SEED, ctx=[mx.cpu()], input_shape=(1, 1, 28, 28))
    prefix = initial.prefix
    initial_values = {"arg:" + p.name[len(prefix):]: p.data().asnumpy() for p in initial.collect_params().values()}
    strip = lambda name: "arg:" + name[len("arg:"):].split("_", 1)[1]  # noqa: E731 (drop the block prefix)
    unchanged = [name for name in first if np.array_equal(first[name], initial_values[strip(name)])]
    assert not unchanged, unchanged
