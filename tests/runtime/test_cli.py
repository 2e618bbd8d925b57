"""bmx-run built with CMake: top-5 and latency output, saved outputs equal the Python binding's, bad input
files give clear errors; the aarch64 cross build run under qemu gives the host's outputs."""
import json
import os
import subprocess

import numpy as np
import pytest

from bmx_graphs import small_resnet
from bmxnet_ext import bmx_format
from cmake_builds import TOOLCHAIN, build_cli, require_tools

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host_cli():
    return build_cli("runtime-host")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small converted-style ResNet, an input .npy, and the Python binding's outputs for it."""
    from bmxnet_ext import runtime
    try:
        runtime.load_library()
    except ImportError as err:
        pytest.skip(str(err))
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(11)
    g = small_resnet(rng, channels=96, size=32)
    path, x = folder / "model.bmx", rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    bmx_format.write_bmx(str(path), g.symbol_text(), g.params, g.input_shapes)
    np.save(folder / "input.npy", x)
    with runtime.Model(str(path)) as m:
        outputs = m.run(x)
    return folder, outputs


def _run(cli, folder, *args, prefix=(), env=None):
    out = folder / "out"
    out.mkdir(exist_ok=True)
    proc = subprocess.run([*prefix, cli, str(folder / "model.bmx"), "--input", str(folder / "input.npy"),
                           "--save-outputs", str(out), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, [np.load(out / f"output_{i}.npy") for i in range(3)]


def test_cli_reports_top5_and_latency(host_cli, model):
    folder, expected = model
    stdout, outputs = _run(host_cli, folder, "--threads", "2", "--repeat", "3", "--json")
    report = json.loads(stdout)
    assert report["threads"] == 2 and report["repeat"] == 3
    assert report["min_ms"] <= report["median_ms"] <= report["max_ms"]
    assert [t["class"] for t in report["top"]] == list(np.argsort(-expected[0][0])[:5])
    for out, ref in zip(outputs, expected):
        assert out.dtype == ref.dtype
        np.testing.assert_array_equal(out, ref)  # same machine, same kernels: identical


def test_cli_text_output(host_cli, model):
    folder, _ = model
    stdout, _ = _run(host_cli, folder, "--repeat", "2")
    assert "top-5:" in stdout and "median" in stdout and "peak RSS" in stdout


@pytest.mark.parametrize("content,message", [
    (b"not numpy", "not a .npy file"),
    (None, "needs (1, 3, 32, 32)"),
])
def test_cli_rejects_bad_inputs(host_cli, model, tmp_path, content, message):
    folder, _ = model
    bad = tmp_path / "bad.npy"
    if content is None:
        np.save(bad, np.zeros((1, 3, 16, 16), np.float32))
    else:
        bad.write_bytes(content)
    proc = subprocess.run([host_cli, str(folder / "model.bmx"), "--input", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and message in proc.stderr


def test_cli_reads_ppm_images(host_cli, model, tmp_path):
    folder, _ = model
    rng = np.random.default_rng(3)
    image = tmp_path / "image.ppm"
    image.write_bytes(b"P6\n50 40\n255\n" + rng.integers(0, 256, 50 * 40 * 3, dtype=np.uint8).tobytes())
    proc = subprocess.run([host_cli, str(folder / "model.bmx"), "--input", str(image), "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["top"]) == 5


@pytest.mark.parametrize("isa", ["portable", "avx2", "avx512"])
def test_every_host_instruction_set_matches(host_cli, model, isa):
    """BMX_ISA forces the binary kernels and the float GEMM of one instruction set: identical packed binary
    activations, float outputs equal to float tolerance (the GEMMs sum in different orders)."""
    from bmxnet_ext import native
    if isa not in native.available_isas():
        pytest.skip(f"{isa} not supported by this CPU")
    folder, expected = model
    _, (probs, packed, logits) = _run(host_cli, folder, "--repeat", "1", "--warmup", "0", env={"BMX_ISA": isa})
    np.testing.assert_array_equal(packed, expected[1])
    np.testing.assert_allclose(logits, expected[2], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probs, expected[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("isa", ["neon", "portable"])
def test_aarch64_build_under_qemu_matches_host(model, isa):
    """The cross-compiled runtime (NEON and portable kernels) gives the host's outputs under qemu-aarch64:
    identical packed binary activations, float outputs equal to float tolerance."""
    require_tools("aarch64-linux-gnu-g++", "qemu-aarch64")
    cli = build_cli("runtime-aarch64", f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}", "-DBMX_STATIC_CLI=ON")
    folder, expected = model
    _, (probs, packed, logits) = _run(cli, folder, "--repeat", "1", "--warmup", "0", prefix=["qemu-aarch64"],
                                      env={"BMX_ISA": isa})
    np.testing.assert_array_equal(packed, expected[1])
    np.testing.assert_allclose(logits, expected[2], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probs, expected[0], rtol=1e-4, atol=1e-6)
