#!/usr/bin/env bash
# One entry point that does all set-up on a fresh machine (Python 3.11 + gcc/g++ + package registries):
#   ./run.sh main   train a small binary model offline, convert it, run it natively, print accuracy/size/speed
#   ./run.sh test   run the test suite
# The virtual environment lives in $BMX_VENV (default .venv) and is reused when it exists.
set -euo pipefail
cd "$(dirname "$0")"

venv="${BMX_VENV:-.venv}"
python="${PYTHON:-python3}"

setup() {
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --upgrade pip wheel setuptools
    # editable install: builds the native extensions into the source tree, so tests run against this checkout
    "$venv/bin/python" -m pip install --quiet -e ".[test,train]"
}

case "${1:-}" in
    main)
        setup
        shift
        exec "$venv/bin/python" -m tools.main_job "$@"
        ;;
    test)
        setup
        shift
        exec "$venv/bin/python" -m pytest "$@"
        ;;
    *)
        echo "usage: ./run.sh main|test [extra arguments]" >&2
        exit 2
        ;;
esac
