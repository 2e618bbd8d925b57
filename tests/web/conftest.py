"""Fixtures of the WebAssembly tests: the WASM runtime's two builds, each built once per session when a test
needs it (skips without the tools), and the native runtime they are compared with."""
import pytest
from runtime.conftest import runtime  # noqa: F401  the native runtime library (skips when not built)

from .wasm import build_wasm


@pytest.fixture(scope="session")
def wasm_dir():
    return build_wasm()


@pytest.fixture(scope="session")
def wasm_portable_dir():
    """The folder of ``bmx_web_portable`` (compiled without SIMD128: the build for engines without SIMD)."""
    return build_wasm("bmx_web_portable")
