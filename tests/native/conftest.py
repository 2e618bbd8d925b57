"""Fixtures of the native-kernel tests: every instruction set, skipped where this CPU or build lacks it."""
import pytest

native = pytest.importorskip("bmxnet_ext.native", reason="bmxnet_ext._native is not built")

ALL_ISAS = ("portable", "avx2", "avx512", "neon")


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    """Run the test with the kernels of one instruction set forced (skipped where unsupported)."""
    if request.param not in native.available_isas():
        pytest.skip(f"instruction set {request.param} not supported here ({native.available_isas()})")
    with native.use_isa(request.param):
        yield request.param


@pytest.fixture
def threads():
    """Restore the thread count after a test that changes it."""
    saved = native.get_num_threads()
    yield
    native.set_num_threads(saved)
