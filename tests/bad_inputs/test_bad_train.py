"""``bmxnet-train`` refuses bad flags, run folders, datasets and checkpoints with one line, before writing."""
import json
import os

import pytest

from tools.train.__main__ import main

PROG = "bmxnet-train"


@pytest.mark.parametrize("argv, fragments", [
    (["--model", "no_such_model"], ["--model", "unknown model 'no_such_model'"]),
    (["--model", "lenet9"], ["unknown model 'lenet9'", "did you mean lenet"]),
    (["--model", ""], ["unknown model ''"]),
    (["--bits", "0"], ["--bits", "from 1 to 32", "'0'"]),
    (["--bits", "33"], ["--bits", "'33'"]),
    (["--bits", "1.5"], ["--bits", "'1.5'"]),
    (["--bits-a", "0"], ["--bits-a", "'0'"]),
    (["--bits-a", "64"], ["--bits-a", "'64'"]),
    (["--batch-size", "0"], ["--batch-size", "positive integer", "'0'"]),
    (["--batch-size", "-8"], ["--batch-size", "'-8'"]),
    (["--batch-size", "sixty"], ["--batch-size", "'sixty'"]),
    (["--lr", "-0.01"], ["--lr", "> 0", "'-0.01'"]),
    (["--lr", "nan"], ["--lr", "finite", "'nan'"]),
    (["--lr", "inf"], ["--lr", "'inf'"]),
    (["--lr", "0"], ["--lr", "'0'"]),
    (["--lr", "1e-3x"], ["--lr", "'1e-3x'"]),
    (["--epochs", "-2"], ["--epochs", "'-2'"]),
    (["--epochs", "0"], ["--epochs", "'0'"]),
    (["--label-smoothing", "2"], ["--label-smoothing", "'2'"]),
    (["--label-smoothing", "-0.1"], ["--label-smoothing", "'-0.1'"]),
    (["--label-smoothing", "1"], ["--label-smoothing", "not including"]),
    (["--momentum", "-1"], ["--momentum", "'-1'"]),
    (["--momentum", "1"], ["--momentum", "'1'"]),
    (["--momentum", "nan"], ["--momentum", "'nan'"]),
    (["--clip-threshold", "-0.5"], ["--clip-threshold", "'-0.5'"]),
    (["--clip-threshold", "0"], ["--clip-threshold", "'0'"]),
    (["--clip-threshold", "nan"], ["--clip-threshold", "'nan'"]),
    (["--wd=-1e-4"], ["--wd", "'-1e-4'"]),
    (["--wd", "nan"], ["--wd", "'nan'"]),
    (["--warmup-epochs", "-1"], ["--warmup-epochs", "'-1'"]),
    (["--lr-steps", "60,30"], ["--lr-steps", "increasing order"]),
    (["--lr-steps", "a,b"], ["--lr-steps", "'a'"]),
    (["--lr-steps", "-5"], ["--lr-steps", "'-5'"]),
    (["--lr-factor", "0"], ["--lr-factor", "'0'"]),
    (["--final-lr", "-1"], ["--final-lr", "'-1'"]),
    (["--poly-power", "0"], ["--poly-power", "'0'"]),
    (["--image-size", "0"], ["--image-size", "'0'"]),
    (["--record-classes", "-3"], ["--record-classes", "'-3'"]),
    (["--limit-batches", "0"], ["--limit-batches", "'0'"]),
    (["--seed", "-1"], ["--seed", "'-1'"]),
    (["--ctx", "cpu"], ["--ctx", "cpu(0)", "'cpu'"]),
    (["--ctx", "cpu(0),tpu(1)"], ["--ctx", "'tpu(1)'"]),
    (["--dataset", "imagenet21k"], ["--dataset", "invalid choice", "'imagenet21k'"]),
    (["--optimizer", "adamw2"], ["--optimizer", "'adamw2'"]),
    (["--lr-schedule", "linear9"], ["--lr-schedule", "'linear9'"]),
    (["--kvstore", "dist_async"], ["--kvstore", "'dist_async'"]),
    (["--augment", "mixup"], ["--augment", "'mixup'"]),
    (["--activation-method", "tanh"], ["--activation-method", "'tanh'"]),
    (["--scaling", "both"], ["--scaling", "'both'"]),
    (["--no-such-flag"], ["unrecognized arguments: --no-such-flag"]),
    (["--epochs"], ["--epochs", "expected one argument"]),
])
def test_bad_flag_values_are_usage_errors(bad, argv, fragments):
    bad(main, argv, 2, *fragments, prog=PROG)


def test_run_folder_that_is_a_file(bad, tmp_path):
    (tmp_path / "run").write_text("not a folder")
    bad(main, ["--run-dir", "run", "--epochs", "1"], 1, "run", "is a file", prog=PROG)


def test_run_folder_below_a_file(bad, tmp_path):
    (tmp_path / "blocker").write_text("")
    bad(main, ["--run-dir", "blocker/run", "--epochs", "1"], 1, "blocker", "is a file", prog=PROG)


def _checkpoint(tmp_path, files, manifest):
    folder = tmp_path / "run" / "checkpoints" / "epoch-0001"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    if manifest is not None:
        (folder / "MANIFEST.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return folder


def test_corrupt_checkpoint_is_one_line(bad, tmp_path):
    from tools.train.checkpoint import FORMAT

    entry = {"bytes": 5, "sha256": "0" * 64}
    _checkpoint(tmp_path, {"net.params": b"bytes", "state.json": b"{}"},
                {"format": FORMAT, "epoch": 1, "files": {"net.params": entry, "state.json": entry}})
    bad(main, ["--run-dir", "run", "--resume", "--epochs", "2"], 1, "net.params", "is corrupt", "SHA-256",
        prog=PROG)


def test_checkpoint_without_manifest_is_one_line(bad, tmp_path):
    _checkpoint(tmp_path, {"net.params": b"x"}, None)
    bad(main, ["--run-dir", "run", "--resume", "--epochs", "2"], 1, "no readable MANIFEST.json", prog=PROG)


def test_checkpoint_with_garbage_manifest_is_one_line(bad, tmp_path):
    _checkpoint(tmp_path, {"net.params": b"x"}, "{not json")
    bad(main, ["--run-dir", "run", "--resume", "--epochs", "2"], 1, "MANIFEST.json", prog=PROG)


def test_checkpoint_with_missing_file_is_one_line(bad, tmp_path):
    from tools.train.checkpoint import FORMAT

    entry = {"bytes": 1, "sha256": "0" * 64}
    _checkpoint(tmp_path, {"state.json": b"{}"},
                {"format": FORMAT, "epoch": 1, "files": {"net.params": entry, "state.json": entry}})
    bad(main, ["--run-dir", "run", "--resume", "--epochs", "2"], 1, "lacks 'net.params'", prog=PROG)


def test_init_from_a_file_that_is_not_parameters(tmp_path, capsys, monkeypatch):
    """Found once the run has started (its log lines come first), the error ends it, leaving nothing behind; MXNet's
    message starts with a Python stack trace header, and the line quotes its reason, not the header."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.params").write_text("garbage")
    assert main(["--run-dir", "run", "--init-from", "weights.params", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and not (tmp_path / "run").exists()
    assert err.strip().splitlines()[-1].startswith(
        "bmxnet-train: error: --init-from weights.params is not an MXNet parameter file (MXNetError: Check failed")


def test_missing_mnist_folder(bad, tmp_path):
    bad(main, ["--dataset", "mnist-test-split", "--data-dir", tmp_path / "absent", "--run-dir", "run"], 1,
        "absent", prog=PROG)


def test_imagenet_without_data_dir(bad):
    bad(main, ["--dataset", "imagenet", "--run-dir", "run"], 1, "needs --data-dir", prog=PROG)


def test_imagenet_folder_without_data(bad, tmp_path):
    (tmp_path / "images").mkdir()
    bad(main, ["--dataset", "imagenet", "--data-dir", "images", "--run-dir", "run"], 1, "train.rec", prog=PROG)


def test_default_run_folder_is_not_created_on_a_bad_flag(bad, tmp_path):
    bad(main, ["--lr", "-1"], 2, "--lr", prog=PROG)
    assert not os.path.exists(tmp_path / "runs")


def _stale(path, is_dir):
    from bmxnet_ext.atomic import STALE_AFTER_SECONDS

    if is_dir:
        path.mkdir(parents=True)
        (path / "net.params").write_bytes(b"\0" * 1000)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    past = os.path.getmtime(path) - 2 * STALE_AFTER_SECONDS
    os.utime(path, (past, past))


def test_a_killed_runs_temporaries_are_removed_by_the_next_checkpoint(tmp_path):
    import mxnet as mx

    from tools.train.checkpoint import save_checkpoint

    root = tmp_path / "run" / "checkpoints"
    _stale(root / ".tmp-epoch-0003-killed", is_dir=True)
    _stale(root / ".tmp-fresh-writer", is_dir=True)
    os.utime(root / ".tmp-fresh-writer")  # another process writing right now: kept
    net = mx.gluon.nn.Dense(2, in_units=3)
    net.initialize()
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    save_checkpoint(str(tmp_path / "run"), epoch=1, net=net, trainer=trainer, state={"history": []})
    assert sorted(os.listdir(root)) == [".tmp-fresh-writer", "epoch-0001"]


def test_a_killed_runs_temporaries_are_removed_when_training_starts(tmp_path):
    from tools.train.cli import _check_run_dir, parse_args

    _stale(tmp_path / "run" / ".tmp-export-killed", is_dir=True)
    _stale(tmp_path / "run" / ".tmp-abc-args.json", is_dir=False)
    _stale(tmp_path / "run" / "checkpoints" / ".tmp-epoch-0002-killed", is_dir=True)
    _check_run_dir(parse_args(["--run-dir", str(tmp_path / "run")]))
    assert os.listdir(tmp_path / "run") == ["checkpoints"] and os.listdir(tmp_path / "run" / "checkpoints") == []


def test_a_diverging_run_stops_without_checkpointing_or_exporting(tmp_path, capsys, monkeypatch):
    """Not a bad flag (a huge lr is a legal one), so the run starts; the diverged first epoch leaves a one-line
    error and no run folder (no checkpoint, no export, no log of a run that never finished an epoch)."""
    monkeypatch.delenv("BMX_DEBUG", raising=False)
    code = main(["--lr", "1e38", "--epochs", "2", "--limit-batches", "3", "--batch-size", "32", "--no-progress",
                 "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("bmxnet-train: error: the training loss became nan at step")
    assert not os.path.exists(tmp_path / "run")
