"""Fixtures of the WebAssembly tests: the WASM runtime built once per session (skips without the tools) and
the native runtime it is compared with."""
import pytest
from runtime.conftest import runtime  # noqa: F401  the native runtime library (skips when not built)

from .wasm import build_wasm


@pytest.fixture(scope="session")
def wasm_dir():
    return build_wasm()
