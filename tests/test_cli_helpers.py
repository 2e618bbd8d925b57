"""The shared command-line helpers: one error line and exit codes (bmxnet_ext.cli), atomic output (atomic)."""
import os
import time

import pytest

from bmxnet_ext import atomic, cli


def _main_raising(err):
    def main(argv):
        raise err
    return main


@pytest.mark.parametrize("err, code, text", [
    (cli.UsageError("--lr: expected > 0, got -1"), 2, "prog: error: --lr: expected > 0, got -1"),
    (cli.ToolError("checkpoint x is corrupt"), 1, "prog: error: checkpoint x is corrupt"),
    (FileNotFoundError(2, "No such file or directory", "m.params"), 1, "prog: error: [Errno 2]"),
    (ValueError("Traceback (most recent call last):\n  File x\nValueError: bad shape (3, 4)"), 1,
     "prog: error: ValueError: bad shape (3, 4)"),
    (ZeroDivisionError("division by zero"), 1, "prog: error: unexpected ZeroDivisionError: division by zero"),
])
def test_run_turns_exceptions_into_one_line(err, code, text, capsys, monkeypatch):
    monkeypatch.delenv("BMX_DEBUG", raising=False)
    assert cli.run("prog", _main_raising(err), []) == code
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(text)


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.delenv("BMX_DEBUG", raising=False)
    with pytest.raises(ZeroDivisionError):
        cli.run("prog", _main_raising(ZeroDivisionError()), ["--debug"])
    monkeypatch.setenv("BMX_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.run("prog", _main_raising(ZeroDivisionError()), [])


def test_run_returns_mains_code():
    assert cli.run("prog", lambda argv: None, []) == 0
    assert cli.run("prog", lambda argv: 3, []) == 3


def test_parser_error_is_one_line(capsys):
    parser = cli.ArgumentParser(prog="prog")
    parser.add_argument("--n", type=cli.positive_int)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--n", "0"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["prog: error: argument --n: expected a positive integer, got '0' (see prog --help)"]


@pytest.mark.parametrize("kind, good, bad", [
    (cli.positive_int, [("1", 1), ("64", 64)], ["0", "-3", "1.5", "x"]),
    (cli.non_negative_int, [("0", 0)], ["-1", "nan"]),
    (cli.finite_float, [("-2.5", -2.5)], ["nan", "inf", "-inf", "x"]),
    (cli.positive_float, [("1e-3", 1e-3)], ["0", "-0.01", "nan"]),
    (cli.non_negative_float, [("0", 0.0)], ["-0.5", "inf"]),
    (cli.fraction, [("0", 0.0), ("1", 1.0)], ["2", "-0.1", "nan"]),
    (cli.open_fraction, [("0.9", 0.9)], ["1", "1.5"]),
])
def test_flag_types(kind, good, bad):
    for text, value in good:
        assert kind(text) == value
    for text in bad:
        with pytest.raises(Exception, match=repr(text).replace(".", r"\.")):
            kind(text)


def test_atomic_file_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic.atomic_file(str(target), "w") as f:
            f.write("partial")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []
    atomic.write_text(str(target), "whole")
    assert target.read_text() == "whole" and os.listdir(tmp_path) == ["out.json"]


def test_atomic_directory_replaces_only_when_complete(tmp_path):
    target = tmp_path / "model"
    with atomic.atomic_directory(str(target)) as tmp:
        open(os.path.join(tmp, "a"), "w").close()
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic.atomic_directory(str(target)):
            pass
    with pytest.raises(RuntimeError):
        with atomic.atomic_directory(str(target), overwrite=True) as tmp:
            open(os.path.join(tmp, "b"), "w").close()
            raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["model"] and os.listdir(target) == ["a"]
    with atomic.atomic_directory(str(target), overwrite=True) as tmp:
        open(os.path.join(tmp, "b"), "w").close()
    assert sorted(os.listdir(tmp_path)) == ["model"] and os.listdir(target) == ["b"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        with atomic.atomic_directory(str(tmp_path / "file"), overwrite=True):
            pass


def test_check_output_parent(tmp_path):
    atomic.check_output_parent(str(tmp_path / "x.json"))
    with pytest.raises(OSError, match="does not exist"):
        atomic.check_output_parent(str(tmp_path / "missing" / "x.json"))
    (tmp_path / "f").write_text("")
    with pytest.raises(OSError, match="is a file"):
        atomic.check_output_parent(str(tmp_path / "f" / "x.json"))
    with pytest.raises(OSError, match="is a folder"):
        atomic.check_output_parent(str(tmp_path))


def test_stale_temporaries_are_removed(tmp_path):
    old_dir = tmp_path / ".tmp-epoch-0003-abc"
    old_dir.mkdir()
    (old_dir / "weights").write_bytes(b"x" * 100)
    fresh = tmp_path / ".tmp-fresh"
    fresh.write_text("")
    keep = tmp_path / "model.params"
    keep.write_text("")
    past = time.time() - 2 * atomic.STALE_AFTER_SECONDS
    os.utime(old_dir, (past, past))
    removed = atomic.remove_stale_temporaries(str(tmp_path))
    assert removed == [str(old_dir)]
    assert sorted(os.listdir(tmp_path)) == [".tmp-fresh", "model.params"]


def test_check_output_folder(tmp_path):
    atomic.check_output_folder(str(tmp_path))
    atomic.check_output_folder(str(tmp_path / "new" / "deeper"))
    assert os.listdir(tmp_path) == []  # checking creates nothing
    (tmp_path / "f").write_text("")
    with pytest.raises(OSError, match="it is a file"):
        atomic.check_output_folder(str(tmp_path / "f"))
    with pytest.raises(OSError, match="f is a file, not a folder"):
        atomic.check_output_folder(str(tmp_path / "f" / "run"))
    with pytest.raises(OSError, match="a file of that name exists"):
        atomic.check_output_parent(str(tmp_path / "f"), folder=True)
    atomic.check_output_parent(str(tmp_path), folder=True)


def test_atomic_outputs_are_ordinary_files_and_folders(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic.write_bytes(str(tmp_path / "a.bin"), b"x")
        with atomic.atomic_directory(str(tmp_path / "d")):
            pass
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "a.bin").st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "d").st_mode & 0o777 == 0o755


def test_range_list_and_shape_types():
    bits = cli.int_in_range(1, 32)
    assert bits("1") == 1 and bits("32") == 32
    for text in ("0", "33", "x"):
        with pytest.raises(Exception, match=repr(text)):
            bits(text)
    seeds = cli.comma_list(cli.non_negative_int)
    assert seeds("0,1, 2") == [0, 1, 2]
    for text in ("", "1,,2", "1,-2"):
        with pytest.raises(Exception, match="comma-separated|'-2'"):
            seeds(text)
    assert cli.shape("1,3,224,224") == (1, 3, 224, 224) and cli.shape("1x3x8x8") == (1, 3, 8, 8)
    for text in ("1", "0,3", "a,b", "4096,3,224,224"):
        with pytest.raises(Exception, match=repr(text)):
            cli.shape(text)


def test_mxnet_quiet_silences_a_failed_shape_inference(capfd):
    """MXNet prints "infer_shape error. Arguments: ..." before raising; inside ``mxnet_quiet`` nothing reaches
    file descriptor 1 or 2, the error still arrives, and printing works again afterwards."""
    import mxnet as mx

    symbol = mx.sym.Convolution(mx.sym.var("data"), kernel=(3, 3), num_filter=4)
    with pytest.raises(mx.base.MXNetError):
        symbol.infer_shape(data=(1, 3, 8))
    assert "infer_shape error" in capfd.readouterr().out  # what the helper is for
    with pytest.raises(mx.base.MXNetError, match="4D"):
        with cli.mxnet_quiet():
            symbol.infer_shape(data=(1, 3, 8))
    print("after")
    captured = capfd.readouterr()
    assert captured.out == "after\n" and captured.err == ""
