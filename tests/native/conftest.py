"""Fixtures of the native-kernel tests: every instruction set this CPU and build support."""
import pytest

native = pytest.importorskip("bmxnet_ext.native", reason="bmxnet_ext._native is not built")

ALL_ISAS = ("portable", "avx2", "avx512", "neon", "wasm_simd")
SUPPORTED_ISAS = [name for name in ALL_ISAS if name in native.available_isas()]


@pytest.fixture(params=SUPPORTED_ISAS)
def isa(request):
    """Run the test with the kernels of one supported instruction set forced (unsupported ones are listed as
    skipped by test_isa_coverage.py)."""
    with native.use_isa(request.param):
        assert native._native.kernels_isa() == request.param  # the kernels really switched
        yield request.param


@pytest.fixture
def threads():
    """Restore the thread count after a test that changes it."""
    saved = native.get_num_threads()
    yield
    native.set_num_threads(saved)
