"""The C++ kernel test driver (native/core/tests/kernel_test.cc: every kernel against reference.h, 1 and 2
threads) compiled to WebAssembly with SIMD128 and run under Node.js: the wasm_simd and portable kernels."""
import os
import subprocess

import pytest
from native.test_cpp_kernels import sources

from .wasm import REPO, require_tools

OUTPUT = os.path.join(REPO, "build", "web-kernel-test", "kernel_test.js")
# Threads as Web Workers (pthreads); exceptions in JavaScript (the driver checks that a task's exception
# reaches the caller across threads, which this Emscripten's Wasm exception handling does not carry).
FLAGS = ["-std=c++17", "-O1", "-Wall", "-Wextra", "-msimd128", "-pthread", "-sPTHREAD_POOL_SIZE=6", "-fexceptions",
         "-sSINGLE_FILE=1", "-sEXIT_RUNTIME=1"]


def _build():
    """Compile the driver unless OUTPUT is newer than every source and header of the core."""
    from tools.web.build import _environment
    core = os.path.join(REPO, "native", "core")
    inputs = sources() + [os.path.join(root, f) for root, _, files in os.walk(os.path.join(core, "include"))
                          for f in files]
    if os.path.exists(OUTPUT) and os.path.getmtime(OUTPUT) > max(os.path.getmtime(p) for p in inputs):
        return OUTPUT
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    proc = subprocess.run(["em++", *FLAGS, "-I" + os.path.join(core, "include"), *sources(), "-o", OUTPUT],
                          capture_output=True, text=True, env=_environment(), timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return OUTPUT


@pytest.mark.slow
def test_kernels_in_webassembly():
    require_tools("em++", "node")
    result = subprocess.run(["node", _build()], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ALL PASSED" in result.stdout
