"""The runtime's vectorised tanh and sigmoid (native/core/src/common/vector_math.h) on every instruction set:
within 1.5 and 2.5 ulp of the float64 functions on a dense grid (signed zeros, tiny, large and non-finite
values, lengths off every vector width), NaN stays NaN, and every instruction set gives the same bits: the
host's under ``BMX_ISA``, the aarch64 build's NEON and portable kernels under qemu when present."""
import os
import subprocess

import numpy as np
import pytest

from bmx_graphs import Graph
from bmxnet_ext import bmx_format
from cmake_builds import TOOLCHAIN, build_cli, require_tools

pytestmark = pytest.mark.slow

# 2 * 3 * 5 * 16673 values: not a multiple of 4, 8 or 16 lanes, so the zero-padded tail runs too.
SHAPE = (2, 3, 5, 16673)


def _grid():
    ramp = np.linspace(-20, 20, 300001, dtype=np.float32)
    tiny = np.float32(10.0) ** np.linspace(-40, 2, 100000, dtype=np.float32)
    special = np.array([0.0, -0.0, 0.55, -0.55, np.nextafter(np.float32(0.55), 0), 9.0, -9.0, 87.0, -87.0,
                        88.0, -88.0, 100.0, -100.0, 1e30, -1e30, np.inf, -np.inf, np.nan], np.float32)
    x = np.concatenate([special, ramp, tiny, -tiny])
    x = np.resize(x, int(np.prod(SHAPE)))
    x[len(special) + len(ramp) + 2 * len(tiny):] = np.random.default_rng(5).standard_normal(
        x.size - len(special) - len(ramp) - 2 * len(tiny)).astype(np.float32) * 4
    return x.reshape(SHAPE)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vector_math")
    g = Graph()
    data = g.input("data", SHAPE)
    g.output(g.op("Activation", "tanh", [data], act_type="tanh"), g.op("Activation", "sigmoid", [data],
                                                                        act_type="sigmoid"))
    bmx_format.write_bmx(str(folder / "model.bmx"), g.symbol_text(), g.params, g.input_shapes)
    np.save(folder / "input.npy", _grid())
    return folder


def _run(cli, folder, isa, prefix=()):
    out = folder / f"out-{isa}-{len(prefix)}"
    out.mkdir(exist_ok=True)
    proc = subprocess.run([*prefix, cli, str(folder / "model.bmx"), "--input", str(folder / "input.npy"),
                           "--save-outputs", str(out), "--repeat", "1", "--warmup", "0", "--json"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "BMX_ISA": isa})
    assert proc.returncode == 0, proc.stderr
    return [np.load(out / f"output_{i}.npy") for i in range(2)]


def _ulp_error(got, exact):
    """|got - exact| in units of the last place of exact rounded to float32 (the smallest denormal's below
    float32's normal range)."""
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / ulp


def _check_accuracy(tanh, sigmoid, x):
    x64 = x.astype(np.float64)
    finite = np.isfinite(x)
    assert np.isnan(tanh[np.isnan(x)]).all() and np.isnan(sigmoid[np.isnan(x)]).all()
    np.testing.assert_array_equal(tanh[np.isinf(x)], np.sign(x[np.isinf(x)]))
    assert _ulp_error(tanh[finite], np.tanh(x64[finite])).max() <= 1.5
    np.testing.assert_array_equal(np.signbit(tanh[finite]), np.signbit(x[finite]))  # tanh(-0) = -0
    # sigmoid: within 2.5 ulp down to x = -87 (below, the input is clamped: sigmoid(-88) ~ 6e-39)
    inside = finite & (x >= -87)
    with np.errstate(over="ignore"):
        exact = 1 / (1 + np.exp(-x64))
    assert _ulp_error(sigmoid[inside], exact[inside]).max() <= 2.5
    assert (sigmoid[finite & (x < -87)] < 1e-37).all() and (sigmoid[np.isinf(x) & (x > 0)] == 1).all()


@pytest.mark.parametrize("isa", ["portable", "avx2", "avx512"])
def test_host_instruction_sets_exact_to_ulps_and_identical(model, isa):
    from bmxnet_ext import native
    if isa not in native.available_isas():
        pytest.skip(f"{isa} not supported by this CPU")
    cli = build_cli("runtime-host")
    tanh, sigmoid = _run(cli, model, isa)
    _check_accuracy(tanh, sigmoid, _grid())
    if isa != "portable":
        portable = _run(cli, model, "portable")
        for got, ref in zip((tanh, sigmoid), portable):
            np.testing.assert_array_equal(got, ref)


def test_aarch64_neon_and_portable_identical_to_host(model):
    require_tools("aarch64-linux-gnu-g++", "qemu-aarch64")
    cli = build_cli("runtime-aarch64", f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN}", "-DBMX_STATIC_CLI=ON")
    host = _run(build_cli("runtime-host"), model, "portable")
    for isa in ("neon", "portable"):
        for got, ref in zip(_run(cli, model, isa, prefix=["qemu-aarch64"]), host):
            np.testing.assert_array_equal(got, ref)
