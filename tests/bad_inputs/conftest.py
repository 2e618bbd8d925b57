"""The bad-input suite's one check: a tool given a bad input exits with the right code, prints exactly one
error line ``PROG: error: ...`` that names the problem, prints no traceback, and writes nothing.

Cases call the tools' ``main(argv)`` in-process (fast); ``test_bad_processes.py`` runs a few as processes.
"""
import os

import pytest


def snapshot(folder):
    """Every path under ``folder`` (hidden ones included) with its size and modification time."""
    state = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            state[os.path.relpath(path, folder)] = (info.st_size if name in files else None, info.st_mtime_ns)
    return state


@pytest.fixture
def bad(capsys, tmp_path, monkeypatch):
    """``bad(main, argv, code, *fragments, prog=...)`` runs one bad input and checks the outcome.

    The working folder is ``tmp_path``, whose whole content (inputs the test made included) must be unchanged
    afterwards. ``fragments`` must all appear in the error line (case-insensitive). Returns the line.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BMX_DEBUG", raising=False)

    def check(main, argv, code, *fragments, prog):
        capsys.readouterr()
        before = snapshot(tmp_path)
        try:
            result = main([str(a) for a in argv])
        except SystemExit as stop:
            result = stop.code
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert "Traceback" not in captured.err + captured.out, captured.err
        assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), captured.err
        assert result == code, (result, lines[0])
        for fragment in fragments:
            assert fragment.lower() in lines[0].lower(), (fragment, lines[0])
        assert snapshot(tmp_path) == before, "the failed command wrote or changed files"
        return lines[0]
    return check
