"""A few bad inputs through real processes: the installed console scripts and ``python -m`` give one line and
the exit code; ``--debug`` brings the traceback back (``BMX_DEBUG=1`` is checked in-process, in
``tests/test_cli_helpers.py``). Few, because every process imports MXNet."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.dirname(sys.executable)


def run(argv, tmp_path):
    return run_process(argv, tmp_path)[:2]


def run_process(argv, tmp_path):
    """``(exit code, stderr, stdout)`` of ``argv`` run in ``tmp_path`` with this worktree on the path."""
    environment = {key: value for key, value in os.environ.items() if key != "BMX_DEBUG"}
    environment["PYTHONPATH"] = REPO
    proc = subprocess.run(argv, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stderr, proc.stdout


ENTRY_POINTS = {"bmxnet-train": "tools.train.__main__", "bmxnet-convert": "tools.model_converter.__main__"}


def _script(name):
    """The installed console script, or (not installed) the same call of the entry point it wraps."""
    path = os.path.join(SCRIPTS, name)
    if os.path.exists(path):
        return [path]
    return [sys.executable, "-c", f"import sys; from {ENTRY_POINTS[name]} import main; sys.exit(main())"]


@pytest.mark.parametrize("argv, code, message", [
    (["bmxnet-train", "--model", "no_such_model", "--epochs", "1"], 2,
     "bmxnet-train: error: argument --model: unknown model 'no_such_model'"),
    ([sys.executable, "-m", "tools.train", "--model", "lenet", "--batch-size", "0", "--epochs", "1"], 2,
     "bmxnet-train: error: argument --batch-size: expected a positive integer, got '0'"),
    (["bmxnet-convert", "/no/such-symbol.json", "/no/such-0000.params", "-o", "out"], 1,
     "bmxnet-convert: error: Symbol file '/no/such-symbol.json' not found."),
])
def test_processes_print_one_line(tmp_path, argv, code, message):
    if argv[0] in ENTRY_POINTS:
        argv = _script(argv[0]) + argv[1:]
    status, stderr = run(argv, tmp_path)
    assert status == code and stderr.strip().splitlines()[-1].startswith(message), stderr
    assert "Traceback" not in stderr and os.listdir(tmp_path) == []


def test_debug_shows_the_traceback(tmp_path):
    argv = [sys.executable, "-m", "tools.model_converter", "/no/such-symbol.json", "/no/such-0000.params", "-o",
            "out", "--debug"]
    status, stderr = run(argv, tmp_path)
    assert status == 1 and "Traceback (most recent call last)" in stderr and "ConversionError" in stderr


@pytest.mark.parametrize("shape, reason", [("1,3,224", "Input data should be 4D"), ("1,3,28,28", "Shape inconsistent")])
def test_a_shape_the_model_refuses_prints_one_line_only(tmp_path, shape, reason):
    """MXNet's Python layer prints "infer_shape error. Arguments: ..." on stdout before raising, and the summary
    printed its header first: a process's whole output must be the one error line (checked at the file
    descriptors, where anything MXNet's C++ side writes would show too)."""
    status, stderr, stdout = run_process([sys.executable, "-m", "tools.summary", "lenet", "--input-shape", shape],
                                         tmp_path)
    lines = stderr.strip().splitlines()
    assert status == 1 and stdout == "" and len(lines) == 1, (status, stdout, stderr)
    assert lines[0].startswith(f"python -m tools.summary: error: --input-shape {shape}: "), lines[0]
    assert reason in lines[0] and "1,1,28,28" in lines[0], lines[0]
