"""The training loop end to end on the offline digits: logs, checkpoints, resume, corruption, export."""
import argparse
import json
import os

import mxnet as mx
import numpy as np
import pytest

from tools.train import train
from tools.train.checkpoint import CorruptCheckpointError, checkpoint_dir
from tools.train.data import load_dataset
from tools.train.fit import cross_entropy
from tools.train.pipeline import create_net

TINY = dict(model="lenet", dataset="digits", epochs=2, batch_size=32, limit_batches=4, progress=False, seed=3)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _params(net):
    return {name: p.data().asnumpy() for name, p in net._collect_params_with_prefix().items()}


class _InterruptingSplit:
    """A train split that raises KeyboardInterrupt on its ``after``-th batch (a Ctrl-C mid-epoch)."""

    def __init__(self, split, after):
        self.split, self.after, self.calls = split, after, 0

    def __len__(self):
        return len(self.split)

    @property
    def shape(self):
        return self.split.shape

    def batch(self, indices, rng=None):
        self.calls += 1
        if self.calls == self.after:
            raise KeyboardInterrupt
        return self.split.batch(indices, rng)


def test_an_epoch_trains_logs_checkpoints_exports_and_plots(tmp_path, digits):
    run = train(run_dir=str(tmp_path), splits=digits, **TINY)
    lines = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    assert [line["epoch"] for line in lines] == [1, 2]
    assert {"train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "lr", "epoch_seconds"} <= set(lines[0])
    assert lines[1]["train_loss"] < lines[0]["train_loss"]
    assert os.path.isfile(os.path.join(checkpoint_dir(str(tmp_path), 2), "MANIFEST.json"))
    with open(run["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert run["history"] == lines


def test_interrupted_then_resumed_run_is_bit_identical_to_a_straight_run(tmp_path):
    """With random shifts, so that the data order and the augmentation must both be replayed from the seed."""
    shifted = load_dataset("digits", augment="shift")
    straight = train(run_dir=str(tmp_path / "straight"), splits=shifted, **TINY)
    train_split, eval_split, classes = shifted
    interrupted = _InterruptingSplit(train_split, after=TINY["limit_batches"] + 2)  # 2nd batch of epoch 2
    with pytest.raises(KeyboardInterrupt):
        train(run_dir=str(tmp_path / "resumed"), splits=(interrupted, eval_split, classes), **TINY)
    assert not os.path.exists(checkpoint_dir(str(tmp_path / "resumed"), 2))
    resumed = train(run_dir=str(tmp_path / "resumed"), splits=shifted, resume=True, **TINY)
    expected, actual = _params(straight["net"]), _params(resumed["net"])
    assert expected.keys() == actual.keys()
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in straight["history"]]


def test_resume_with_more_epochs_follows_the_longer_schedule(tmp_path, digits):
    """The learning rate after resuming a 1-epoch run with ``epochs=2`` is that of a straight 2-epoch run, not
    the end of the checkpoint's own 1-epoch cosine schedule (0)."""
    straight = train(run_dir=str(tmp_path / "straight"), splits=digits, **TINY)
    train(run_dir=str(tmp_path / "extended"), splits=digits, **dict(TINY, epochs=1))
    extended = train(run_dir=str(tmp_path / "extended"), splits=digits, resume=True, **TINY)
    assert extended["history"][1]["lr"] == straight["history"][1]["lr"] > 0


def test_corrupt_checkpoint_is_refused_with_a_clear_error(tmp_path, digits):
    settings = dict(TINY, epochs=1)
    train(run_dir=str(tmp_path), splits=digits, **settings)
    params_file = os.path.join(checkpoint_dir(str(tmp_path), 1), "net.params")
    raw = bytearray(open(params_file, "rb").read())
    raw[len(raw) // 2] ^= 0x01
    open(params_file, "wb").write(bytes(raw))
    with pytest.raises(CorruptCheckpointError, match=r"net\.params.*is corrupt: expected .* SHA-256"):
        train(run_dir=str(tmp_path), splits=digits, resume=True, **dict(settings, epochs=2))
    assert len(open(tmp_path / "log.jsonl").readlines()) == 1  # nothing trained on top of the bad checkpoint


def test_missing_manifest_is_refused(tmp_path, digits):
    train(run_dir=str(tmp_path), splits=digits, **dict(TINY, epochs=1))
    os.unlink(os.path.join(checkpoint_dir(str(tmp_path), 1), "MANIFEST.json"))
    with pytest.raises(CorruptCheckpointError, match="MANIFEST.json"):
        train(run_dir=str(tmp_path), splits=digits, resume=True, **TINY)


def test_export_reimports_as_symbolblock_with_identical_outputs(tmp_path, digits):
    run = train(run_dir=str(tmp_path), splits=digits, **dict(TINY, epochs=1))
    imported = mx.gluon.SymbolBlock.imports(run["symbol_file"], ["data"], run["params_file"])
    batch = mx.nd.array(digits[1].batch(np.arange(16))[0])
    np.testing.assert_array_equal(imported(batch).asnumpy(), run["net"](batch).asnumpy())


def test_two_devices_train_data_parallel(tmp_path, digits):
    run = train(run_dir=str(tmp_path), splits=digits, ctx="cpu(0),cpu(1)", **dict(TINY, epochs=1))
    for param in run["net"].collect_params().values():
        if param.grad_req == "null":
            continue  # BatchNorm running statistics are per device (Gluon's usual data parallelism)
        copies = [d.asnumpy() for d in param.list_data()]
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=param.name)


def _mlp(classes, bits, bits_a, in_channels):
    """A network without BatchNorm (whose statistics are per device), so that one and two devices agree; its
    first Dense infers ``in_channels`` x H x W inputs."""
    from bmxnet_ext import QActivation, QDense

    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Flatten(), mx.gluon.nn.Dense(32), QActivation(bits=bits_a), QDense(32, bits=bits),
            mx.gluon.nn.Dense(classes))
    return net


@pytest.mark.parametrize("samples", [64, 65])  # 65: the last batch has one sample for two devices
def test_two_devices_follow_the_one_device_run(tmp_path, digits, samples):
    """Data parallelism sums the devices' gradients of one batch: up to float rounding, the same updates as
    one device, also for a last batch smaller than the device count (the idle device adds nothing)."""
    from tools.train.data import ArraySplit

    train_split, eval_split, classes = digits
    subset = ArraySplit(train_split.images[:samples], train_split.labels[:samples])
    settings = dict(model=_mlp, dataset="digits", epochs=1, batch_size=32, progress=False, seed=3, optimizer="sgd",
                    lr=0.1)
    runs = [train(run_dir=str(tmp_path / ctx), splits=(subset, eval_split, classes), ctx=ctx, **settings)
            for ctx in ("cpu(0)", "cpu(0),cpu(1)")]
    one, two = (_params(run["net"]) for run in runs)
    initial = _params(create_net(_mlp, classes=classes, seed=3, ctx=[mx.cpu()], input_shape=(1,) + subset.shape))
    for name in one:
        assert not np.array_equal(one[name], initial[name]), name
        np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(runs[1]["history"][0]["train_loss"], runs[0]["history"][0]["train_loss"], rtol=1e-5)


def test_cross_entropy_with_label_smoothing_matches_numpy():
    """-(1 - eps) log p_y - eps / K * sum_k log p_k, per sample."""
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((5, 7)).astype(np.float32), rng.integers(0, 7, size=5)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    for eps in (0.0, 0.1):
        expected = -(1 - eps) * log_p[np.arange(5), labels] - eps * log_p.mean(axis=1)
        actual = cross_entropy(mx.nd.array(logits), mx.nd.array(labels, dtype="int32"), eps).asnumpy()
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_one_sgd_step_subtracts_lr_times_the_mean_gradient(tmp_path, digits):
    """The trainer normalises by the batch size: the first SGD update (momentum buffer still 0) is
    ``w - lr * grad(mean loss over the batch)``, computed here by hand on the same first batch."""
    from tools.train.data import ArraySplit, epoch_batches

    train_split, eval_split, classes = digits
    subset = ArraySplit(train_split.images[:64], train_split.labels[:64])
    run = train(model=_mlp, dataset="digits", splits=(subset, eval_split, classes), run_dir=str(tmp_path), epochs=1,
                batch_size=32, limit_batches=1, optimizer="sgd", lr=0.1, progress=False, seed=3)
    net = create_net(_mlp, classes=classes, seed=3, ctx=[mx.cpu()], input_shape=(1,) + subset.shape)
    before = _params(net)
    data, labels = subset.batch(epoch_batches(len(subset), batch_size=32, seed=3, epoch=1)[0])
    with mx.autograd.record():
        loss = cross_entropy(net(mx.nd.array(data)), mx.nd.array(labels, dtype="int32")).mean()
    loss.backward()
    gradients = {name: p.grad().asnumpy() for name, p in net._collect_params_with_prefix().items()}
    after = _params(run["net"])
    for name in before:
        np.testing.assert_allclose(after[name], before[name] - 0.1 * gradients[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_command_line_saves_args_first_and_trains(tmp_path):
    from tools.train.cli import main, parse_args

    run_dir = tmp_path / "run"
    assert main(["--epochs", "1", "--limit-batches", "2", "--batch-size", "16", "--no-progress",
                 "--run-dir", str(run_dir), "--optimizer", "radam", "--lr-schedule", "step", "--lr-steps", "1",
                 "--clip-threshold", "none"]) == 0
    saved = json.loads((run_dir / "args.json").read_text())
    assert saved["optimizer"] == "radam" and saved["lr_steps"] == [1.0] and saved["clip_threshold"] is None
    assert saved["preprocessing"]["color"] == "GRAY" and saved["preprocessing"]["label_set"] == "digits"
    assert (run_dir / "model-symbol.json").is_file() and (run_dir / "log.jsonl").is_file()
    assert parse_args([]).run_dir == os.path.join("runs", "lenet-digits-w1a1")


def test_help_states_every_default():
    from tools.train.cli import build_parser

    flags = [a for a in build_parser()._actions
             if a.option_strings and a.dest != "help" and a.help != argparse.SUPPRESS]
    assert len(flags) > 30
    for action in flags:
        assert "(default:" in action.help, action.option_strings


class _PoisonedSplit(_InterruptingSplit):
    """A train split whose ``after``-th batch holds a sample of NaN pixels (a corrupt sample; the float MLP
    carries it to the loss, where max-pooling networks may drop it)."""

    def batch(self, indices, rng=None):
        self.calls += 1
        data, labels = self.split.batch(indices, rng)
        if self.calls == self.after:
            data = data.copy()
            data[0] = np.nan
        return data, labels


def test_a_nan_loss_stops_before_its_step_naming_the_step_and_the_last_good_checkpoint(tmp_path, digits):
    from tools.train.fit import NonFiniteLossError

    train_split, eval_split, classes = digits
    poisoned = _PoisonedSplit(train_split, after=TINY["limit_batches"] + 2)  # 2nd batch of epoch 2
    good = checkpoint_dir(str(tmp_path), 1)
    with pytest.raises(NonFiniteLossError, match=rf"became nan at step 6 \(epoch 2, batch 2\); training stopped "
                                                  rf"before applying that step, the last good checkpoint is {good}"):
        train(run_dir=str(tmp_path), splits=(poisoned, eval_split, classes), **dict(TINY, model=_mlp, bits=32))
    assert len(open(tmp_path / "log.jsonl").readlines()) == 1


def test_an_existing_run_is_refused_without_resume_or_force(tmp_path):
    from bmxnet_ext.cli import UsageError
    from tools.train.cli import main

    run_dir = tmp_path / "run"
    flags = ["--epochs", "1", "--limit-batches", "1", "--batch-size", "8", "--no-progress", "--run-dir", str(run_dir)]
    assert main(flags) == 0
    first = (run_dir / "model-0000.params").read_bytes()
    with pytest.raises(UsageError, match=f"run folder {run_dir} already holds a run; pass --resume .* --force"):
        main(flags + ["--seed", "1"])
    assert (run_dir / "model-0000.params").read_bytes() == first
    (run_dir / "notes.txt").write_text("mine")
    assert main(flags + ["--seed", "1", "--force"]) == 0
    assert (run_dir / "model-0000.params").read_bytes() != first
    assert json.loads((run_dir / "args.json").read_text())["seed"] == 1
    assert (run_dir / "notes.txt").read_text() == "mine"  # --force removes the run's files only
    assert main(flags + ["--seed", "1", "--resume"]) == 0  # nothing left to train: the finished run is kept


def test_bits_32_alone_is_the_full_precision_twin():
    from tools.train.cli import parse_args

    args = parse_args(["--bits", "32"])
    assert (args.bits, args.bits_a, args.run_dir) == (32, 32, os.path.join("runs", "lenet-digits-w32a32"))
    assert parse_args(["--bits", "32", "--bits-a", "1"]).bits_a == 1
    assert parse_args([]).bits_a == 1


def _tensorboard_scalars(folder):
    """``{tag: [(step, value), ...]}`` read back from the event files in ``folder`` (TFRecord framing: length,
    its CRC, an ``Event`` protobuf, its CRC)."""
    import struct

    from tensorboardX.proto import event_pb2

    scalars = {}
    for name in sorted(os.listdir(folder)):
        raw = open(os.path.join(folder, name), "rb").read()
        offset = 0
        while offset < len(raw):
            (length,) = struct.unpack("<Q", raw[offset:offset + 8])
            event = event_pb2.Event.FromString(raw[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_log_interval_lines_tensorboard_events_and_integer_epoch_ticks(tmp_path, digits):
    """Log lines every 2 batches go to train.log also without a terminal; TensorBoard gets the same values."""
    from tools.train.cli import main

    run_dir = tmp_path / "run"
    assert main(["--epochs", "2", "--limit-batches", "5", "--batch-size", "8", "--no-progress", "--log-interval",
                 "2", "--tensorboard", "--run-dir", str(run_dir)]) == 0
    log = (run_dir / "train.log").read_text()
    lines = [line for line in log.splitlines() if " batch " in line]
    assert [line.split("epoch ", 1)[1].split(":")[0] for line in lines] == [
        "1/2 batch 2/5 (step 2)", "1/2 batch 4/5 (step 4)", "2/2 batch 2/5 (step 7)", "2/2 batch 4/5 (step 9)"]
    assert all(" loss " in line and " acc " in line and " lr " in line and " flip ratio " in line
               and "samples/s" in line for line in lines)
    scalars = _tensorboard_scalars(run_dir / "tensorboard")
    assert [step for step, _ in scalars["train/loss"]] == [2, 4, 5, 7, 9, 10]
    assert [step for step, _ in scalars["eval/accuracy"]] == [5, 10]
    assert [step for step, _ in scalars["train/flip_ratio"]] == [2, 4, 5, 7, 9, 10]
    history = [json.loads(line) for line in open(run_dir / "log.jsonl")]
    assert scalars["eval/accuracy"][1][1] == pytest.approx(history[1]["eval_accuracy"])


def test_learning_curves_have_whole_epoch_ticks_and_a_learning_rate_panel(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tools.train.artifacts import plot_learning_curves

    history = [{"epoch": e, "train_loss": 1 / e, "eval_loss": 1.1 / e, "train_accuracy": 0.5 + e / 10,
                "eval_accuracy": 0.5 + e / 11, "lr": 1e-3 / e} for e in (1, 2, 3)]
    created = []
    original = plt.subplots
    plt.subplots = lambda *a, **k: created.append(original(*a, **k)) or created[-1]
    try:
        plot_learning_curves(history, str(tmp_path / "curves.png"))
    finally:
        plt.subplots = original
    fig, axes = created[0]
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy", "lr"]
    for ax in axes:
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bop_flips_binary_weights_only_by_sign_and_the_log_records_the_flip_ratio(tmp_path, digits):
    """--optimizer bop: Bop for the 1-bit latent weights (a step changes only signs), Adam for the rest."""
    from bmxnet_ext.optimizers import is_binary_weight

    settings = dict(TINY, epochs=1, optimizer="bop", bop_threshold=0.0, bop_gamma=1.0)
    run = train(run_dir=str(tmp_path), splits=digits, **settings)
    initial = create_net("lenet", classes=10, seed=TINY["seed"], ctx=[mx.cpu()], input_shape=(1, 1, 28, 28))
    before = {p.name[len(initial.prefix):]: p for p in initial.collect_params().values()}
    binary = 0
    for param in run["net"].collect_params().values():
        old, new = before[param.name[len(run["net"].prefix):]].data().asnumpy(), param.data().asnumpy()
        if is_binary_weight(param):
            binary += 1
            np.testing.assert_array_equal(np.abs(new), np.abs(old), err_msg=param.name)
            assert (np.sign(new) != np.sign(old)).any(), param.name
        elif param.grad_req != "null" and param.name.endswith("weight"):
            assert not np.array_equal(new, old), param.name  # Adam moved it
    assert binary == 2  # the binary conv and the binary FC of LeNet
    record = run["history"][0]
    assert 0 < record["flip_ratio"] <= 1
