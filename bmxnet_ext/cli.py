"""What every command-line tool of the project shares: one error line, exit codes, validated flag values.

Every tool (``bmxnet-train``, ``bmxnet-convert``, ``python -m model_zoo.model_store``, ``tools.summary``,
``tools.experiments``, ``tools.benchmark``, ...) runs its ``main`` through :func:`run`, so a bad input ends in
exactly one line on stderr::

    PROG: error: WHAT was wrong, naming the value, and what to do

with exit code 2 for usage errors (a bad flag or flag value, :class:`UsageError`) and 1 for everything else
(:class:`ToolError`, a missing or corrupt file, an unexpected exception). ``--debug`` on the command line or
``BMX_DEBUG=1`` in the environment shows the Python traceback instead. Ctrl-C ends with exit code 130.

Flag values are checked where they enter, by the argparse ``type=`` functions below (:func:`positive_int`,
:func:`finite_float`, ...), whose messages argparse turns into ``PROG: error: argument --flag: ...``.
"""
import argparse
import contextlib
import io
import math
import os
import sys

__all__ = ["ToolError", "UsageError", "ArgumentParser", "run", "debug_enabled", "format_error", "mxnet_reason", "mxnet_quiet",
           "positive_int", "non_negative_int", "finite_float", "positive_float", "non_negative_float",
           "fraction", "open_fraction", "int_in_range", "thread_count", "MAX_THREADS", "comma_list", "shape",
           "check_shape_size", "MAX_SHAPE_ELEMENTS", "nonempty_path", "existing_folder"]

USAGE_EXIT = 2
FAILURE_EXIT = 1
INTERRUPT_EXIT = 130


class ToolError(Exception):
    """A failure the user can act on (missing file, corrupt checkpoint, ...): exit code 1, one line."""

    exit_code = FAILURE_EXIT


class UsageError(ToolError):
    """A bad flag combination or value found after parsing: exit code 2, one line."""

    exit_code = USAGE_EXIT


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line, ``PROG: error: ...``, without the usage block.

    Also adds ``--debug`` (show tracebacks), read by :func:`run`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    def error(self, message):
        self.exit(USAGE_EXIT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def debug_enabled(argv=None):
    """True when tracebacks are wanted: ``--debug`` among ``argv`` or ``BMX_DEBUG`` set to a true value."""
    argv = sys.argv[1:] if argv is None else argv
    return "--debug" in argv or os.environ.get("BMX_DEBUG", "").lower() not in ("", "0", "false", "no")


def _one_line(text):
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    if not lines:
        return ""
    # MXNet's errors start with a stack trace header; the reason is on the last lines.
    if lines[0].startswith("Traceback") or lines[0].startswith("Stack trace"):
        lines = lines[-1:]
    return " ".join(lines)


def mxnet_reason(err):
    """The reason in an MXNet error, one line: the line stating the failure (MXNet's messages may start with a
    Python or C++ stack trace header and end with the operator's argument list), for quoting inside a message
    of a tool's own."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    stated = [line for line in lines if line.startswith("MXNetError:") or "Check failed" in line]
    return (stated or lines or [type(err).__name__])[0 if stated else -1]


@contextlib.contextmanager
def mxnet_quiet():
    """Silence what MXNet prints while the block runs: its C++ log lines on file descriptor 2 (e.g. "subgraph
    backend is not in use" when binding) and, from its Python layer, the "infer_shape error. Arguments: ..."
    lines it prints on stdout before raising a failed shape inference. Its errors still arrive as exceptions.

    Every shape inference on a shape the user gave runs inside it, so that a refused shape ends in the tool's
    one error line only."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def format_error(prog, err):
    """The one-line message for ``err`` (unexpected exception types are named, so they can be reported)."""
    if isinstance(err, ToolError):
        return f"{prog}: error: {_one_line(err)}"
    if isinstance(err, (OSError, ValueError)) and str(err):
        return f"{prog}: error: {_one_line(err)}"
    return (f"{prog}: error: unexpected {type(err).__name__}: {_one_line(err) or 'no message'} "
            f"(rerun with --debug for the traceback)")


def exit_code(err):
    return getattr(err, "exit_code", FAILURE_EXIT)


def run(prog, main, argv=None):
    """Call ``main(argv)`` and turn every exception into one error line and an exit code.

    Returns the exit code (``main``'s return value, 0 when it returns None). ``SystemExit`` (argparse,
    ``--help``) passes through unchanged. With :func:`debug_enabled`, exceptions propagate with their traceback.
    """
    debug = debug_enabled(argv)
    try:
        code = main(argv)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPT_EXIT
    except BaseException as err:  # noqa: BLE001 - the point is that nothing escapes as a traceback
        if debug:
            raise
        print(format_error(prog, err), file=sys.stderr)
        return exit_code(err)
    return 0 if code is None else code


def _number(text, kind, name):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}")
    return value


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = _number(text, int, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text):
    """argparse type: an integer >= 0."""
    value = _number(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def finite_float(text):
    """argparse type: any finite number (NaN and infinities are refused)."""
    return _number(text, float, "a finite number")


def positive_float(text):
    """argparse type: a finite number > 0."""
    value = _number(text, float, "a finite number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def non_negative_float(text):
    """argparse type: a finite number >= 0."""
    value = _number(text, float, "a finite number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def fraction(text):
    """argparse type: a number in [0, 1]."""
    value = _number(text, float, "a number from 0 to 1")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def open_fraction(text):
    """argparse type: a number in [0, 1)."""
    value = _number(text, float, "a number from 0 up to (not including) 1")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 up to (not including) 1, got {text!r}")
    return value


def int_in_range(low, high):
    """argparse type factory: an integer from ``low`` to ``high`` (both included)."""
    def parse(text):
        value = _number(text, int, f"an integer from {low} to {high}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer from {low} to {high}, got {text!r}")
        return value
    parse.__name__ = f"integer {low}..{high}"
    return parse


MAX_THREADS = 256
"""Most threads a tool's ``--threads`` accepts, as ``bmx-run --threads`` (``native/runtime/cli/main.cc``): more is
a typo, and would have OpenMP or the kernels' pool try to start that many threads."""

thread_count = int_in_range(1, MAX_THREADS)
"""argparse type: a thread count from 1 to :data:`MAX_THREADS`."""


def comma_list(item):
    """argparse type factory: one or more comma-separated values, each parsed by the argparse type ``item``."""
    def parse(text):
        parts = [part.strip() for part in text.split(",")]
        if not text.strip() or not all(parts):
            raise argparse.ArgumentTypeError(f"expected comma-separated values like 1,2,3, got {text!r}")
        return [item(part) for part in parts]
    parse.__name__ = f"list of {getattr(item, '__name__', 'values')}"
    return parse


def nonempty_path(text):
    """argparse type: a file or folder path, not the empty string (which a tool would otherwise take for
    "not given" and silently skip the output or fall back to the default folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a file or folder path, got {text!r}")
    return text


def existing_folder(text):
    """argparse type: the path of a folder that exists."""
    if not os.path.isdir(text):
        problem = "is not a folder" if os.path.exists(text) else "does not exist"
        raise argparse.ArgumentTypeError(f"{text!r} {problem}; expected an existing folder")
    return text


MAX_SHAPE_ELEMENTS = 1 << 26
"""Largest element count :func:`shape` accepts (256 MiB of float32): a bigger batch is a typo or needs a
dedicated tool, and refusing it here keeps a tool from trying to allocate it."""


def shape(text):
    """argparse type: a tensor shape such as ``1,3,224,224`` (or ``1x3x224x224``): at least two positive
    integers with at most :data:`MAX_SHAPE_ELEMENTS` elements in total."""
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        dims = ()
    if len(dims) < 2 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected a shape of positive integers like 1,3,224,224, got {text!r}")
    try:
        return check_shape_size(dims, f"shape {text!r}")
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def check_shape_size(dims, what):
    """Return ``dims`` if the tensor shape has at most :data:`MAX_SHAPE_ELEMENTS` elements, else raise
    :class:`UsageError` naming ``what`` (e.g. ``"--batch 64 with --size 4096"``): for a shape that several
    flags make together, checked before anything is allocated."""
    elements = math.prod(dims)
    if elements > MAX_SHAPE_ELEMENTS:
        raise UsageError(f"{what} makes a tensor of {elements:,} elements, more than the {MAX_SHAPE_ELEMENTS:,} "
                         "allowed: use a smaller batch (1 is enough) or size")
    return tuple(dims)
