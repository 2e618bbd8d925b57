"""Build the runtime with CMake (host or aarch64 cross) for the CLI tests, reusing the build folder."""
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = os.path.join(REPO, "native", "runtime")
TOOLCHAIN = os.path.join(SOURCE, "cmake", "aarch64-linux-gnu.cmake")


def require_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found")


def build_cli(name, *cmake_args, timeout=600):
    """Configure and build ``bmx-run`` in ``build/<name>`` (incremental); returns the executable's path."""
    require_tools("cmake")
    build = os.path.join(REPO, "build", name)
    # An existing build folder keeps the generator it was configured with (e.g. by tools.benchmark runtime).
    configured = os.path.exists(os.path.join(build, "CMakeCache.txt"))
    generator = ["-G", "Ninja"] if shutil.which("ninja") and not configured else []
    subprocess.run(["cmake", "-S", SOURCE, "-B", build, "-DCMAKE_BUILD_TYPE=Release", *generator, *cmake_args],
                   check=True, capture_output=True, timeout=timeout)
    proc = subprocess.run(["cmake", "--build", build, "--target", "bmx-run", "-j", "2"], capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"CMake build {name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return os.path.join(build, "bmx-run")
