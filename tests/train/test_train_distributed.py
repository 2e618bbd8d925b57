"""``--kvstore dist_sync`` for real: scheduler, one server and two workers on 127.0.0.1."""
import os
import socket
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from bmxnet_ext.optimizers import is_binary_weight
from tools.train.parameter_server import node_role, serve
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


LR = 1e-3
UPDATES = 4  # --limit-batches: one push-pull per batch
BETA1, BETA2 = 0.9, 0.999  # MXNet's Adam defaults
# One Adam update moves a weight by at most lr (1 - beta1) / sqrt(1 - beta2) (Kingma & Ba, section 2.1).
MAX_ADAM_MOVE = UPDATES * LR * (1 - BETA1) / (1 - BETA2) ** 0.5


@pytest.mark.slow
def test_dist_sync_workers_hold_identical_bop_and_adam_trained_parameters(tmp_path):
    """Scheduler, server and workers all run ``python -m tools.train``, as MXNet's ``launch.py`` would, the
    workers starting ``--init-from`` a saved net (seed 99, not the run's seed) with ``--optimizer bop``: Bop
    for the 1-bit latent weights, Adam for the others, both run by the server.

    The server must hold the workers' optimizer: a server without it (one started by a bare ``import mxnet``
    cannot unpickle the optimizer) stores the summed gradients as the weights, which move far more than
    ``UPDATES`` Adam steps can. It must also route as the workers do, although MXNet does not pickle the
    parameter table: a server that ran Adam on the binary weights would change their magnitudes, Bop only
    flips signs. Moves are measured from the ``--init-from`` values, so a worker that ignored them (starting
    from its seed's initialisation) would fail the same checks.
    """
    initial = create_net("lenet", classes=10, seed=99, ctx=[mx.cpu()], input_shape=(1, 1, 28, 28))
    initial.save_parameters(str(tmp_path / "init.params"))
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(_free_port()), DMLC_NUM_SERVER="1",
               DMLC_NUM_WORKER="2", DMLC_NODE_HOST="127.0.0.1", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "tools.train", "--model", "lenet", "--dataset", "digits",
               "--kvstore", "dist_sync", "--epochs", "1", "--limit-batches", str(UPDATES), "--batch-size", "16",
               "--optimizer", "bop", "--lr", str(LR), "--seed", str(SEED), "--no-progress",
               "--init-from", str(tmp_path / "init.params")]
    roles = ["scheduler", "server", "worker", "worker"]
    logs = [tmp_path / f"{role}{index}.log" for index, role in enumerate(roles)]
    processes = []
    try:
        for index, (role, log) in enumerate(zip(roles, logs)):
            with open(log, "w") as out:
                processes.append(subprocess.Popen(command + ["--run-dir", str(tmp_path / f"run{index}")],
                                                  env=dict(env, DMLC_ROLE=role), cwd=str(tmp_path), stdout=out,
                                                  stderr=subprocess.STDOUT))
        for process, log in zip(processes, logs):
            process.wait(timeout=120)
            assert process.returncode == 0, log.read_text()[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
    server_log = logs[1].read_text()
    assert "Traceback" not in server_log, server_log
    first, second = (_trainable(str(tmp_path / f"run{index}" / "model-0000.params")) for index in (2, 3))
    assert first.keys() == second.keys() and first
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    prefix = initial.prefix
    params = {"arg:" + p.name[len(prefix):]: p for p in initial.collect_params().values()}
    strip = lambda name: "arg:" + name[len("arg:"):].split("_", 1)[1]  # noqa: E731 (drop the block prefix)
    binary = {name for name in first if is_binary_weight(params[strip(name)])}
    assert len(binary) == 2, binary  # LeNet's binary conv and binary FC
    initial_values = {name: param.data().asnumpy() for name, param in params.items()}
    moves = {name: np.abs(first[name] - initial_values[strip(name)]).max() for name in first}
    unchanged = [name for name, move in moves.items() if move == 0]
    assert not unchanged, unchanged
    for name in binary:  # Bop: sign flips only (some flipped: each binary weight moved, checked above)
        np.testing.assert_array_equal(np.abs(first[name]), np.abs(initial_values[strip(name)]), err_msg=name)
    too_far = {name: move for name, move in moves.items() if move > MAX_ADAM_MOVE and name not in binary}
    assert not too_far, f"moved more than {UPDATES} Adam updates can: {too_far}"


def test_importing_the_training_package_does_not_import_mxnet():
    """``python -m tools.train`` must reach :func:`serve` before MXNet is imported (see parameter_server)."""
    probe = "import sys, tools.train.__main__; print('mxnet' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", result.stderr
    from tools.train import train
    from tools.train.pipeline import train as pipeline_train

    assert train is pipeline_train


@pytest.mark.parametrize("role", [None, "worker", "servre"])
def test_serve_refuses_a_role_that_is_not_a_node(monkeypatch, role):
    if role is None:
        monkeypatch.delenv("DMLC_ROLE", raising=False)
    else:
        monkeypatch.setenv("DMLC_ROLE", role)
    assert node_role() is None
    with pytest.raises(RuntimeError, match="DMLC_ROLE must be one of"):
        serve()


def test_serve_refuses_to_start_after_mxnet_was_imported(monkeypatch):
    monkeypatch.setenv("DMLC_ROLE", "server")
    assert node_role() == "server"
    with pytest.raises(RuntimeError, match="already imported"):
        serve()  # this test process imported mxnet at the top
