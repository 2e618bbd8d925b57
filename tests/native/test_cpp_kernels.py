"""The C++ kernel test driver (native/core/tests/kernel_test.cc) built with plain g++ for this machine and
with aarch64-linux-gnu-g++ for ARM, the latter run under qemu-aarch64 (NEON and portable kernels).
Each test skips cleanly when its compiler or emulator is missing."""
import glob
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORE = os.path.join(REPO, "native", "core")
FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-pthread", "-I" + os.path.join(CORE, "include")]


def sources():
    return sorted(glob.glob(os.path.join(CORE, "src", "**", "*.cc"), recursive=True)) + [
        os.path.join(CORE, "tests", "kernel_test.cc")]


def build(compiler, output, extra=()):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} not installed")
    subprocess.run([compiler, *FLAGS, *extra, *sources(), "-o", output], check=True, capture_output=True, text=True)
    return output


def check_run(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ALL PASSED" in result.stdout


def test_kernels_on_this_machine(tmp_path):
    check_run([build("g++", str(tmp_path / "kernel_test"))])


def test_neon_kernels_under_qemu(tmp_path):
    qemu = shutil.which("qemu-aarch64")
    if qemu is None:
        pytest.skip("qemu-aarch64 not installed (Debian package qemu-user)")
    binary = build("aarch64-linux-gnu-g++", str(tmp_path / "kernel_test_aarch64"), ["-static"])
    check_run([qemu, binary], env=dict(os.environ, BMX_ISA="neon"))  # the driver also forces each ISA itself
