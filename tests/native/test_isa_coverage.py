"""Which instruction sets the kernel tests ran on here: the others are reported as skipped, one line each."""
import pytest

from bmxnet_ext import native
from .conftest import ALL_ISAS, SUPPORTED_ISAS


@pytest.mark.parametrize("name", ALL_ISAS)
def test_isa_is_tested_where_supported(name):
    if name not in SUPPORTED_ISAS:
        where = {"neon": " (NEON runs under qemu-aarch64 in test_cpp_kernels.py)",
                 "wasm_simd": " (WASM SIMD128 runs under Node.js in tests/web)"}.get(name, "")
        pytest.skip(f"instruction set {name} not supported by this CPU or build; not run in-process{where}")
    assert name in native.available_isas()
    assert native.available_isas()[0] == "portable"
