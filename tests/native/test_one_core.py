"""One native core per process: the switches set from Python reach the MXNet operators and the runtime.

The Python binding, the MXNet extension library and the runtime's C API link the one shared library
``bmxnet_ext/libbmxcore.so``, so forcing an instruction set (or a thread count) through
``bmxnet_ext.native`` must change what the other two report and run: their kernel calls show up in the
core's per-ISA call counts, and their results stay bit-exact.
"""
import mxnet as mx
import numpy as np
import pytest

import bmxnet_ext
from bmxnet_ext import bmx_format, native, ops
from . import reference
from .conftest import SUPPORTED_ISAS

pytestmark = pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")

SHAPE, FILTERS = (1, 70, 9, 9), 16
ATTRS = dict(kernel=(3, 3), pad=(1, 1), num_filter=FILTERS, in_channels=SHAPE[1], out_format="float")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Input, packed weight, affine, the reference output and a .bmx file of pack + conv."""
    rng = np.random.default_rng(18)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    weight = rng.standard_normal((FILTERS, SHAPE[1], 3, 3)).astype(np.float32)
    scale = rng.uniform(0.5, 2, FILTERS).astype(np.float32)
    bias = rng.standard_normal(FILTERS).astype(np.float32)
    y = reference.conv2d(x, weight, pad=(1, 1)).astype(np.float32)
    expected = reference.affine_f32(scale[None, :, None, None], y, bias[None, :, None, None])
    packed_weight = native.pack_conv_weights(weight).view(np.int64)
    data = mx.sym.var("data")
    sym = mx.sym.BmxBinaryConv2D(mx.sym.BmxPack(data, name="pack"), mx.sym.var("weight"), mx.sym.var("scale"),
                                 mx.sym.var("bias"), name="conv", **ATTRS)
    path = tmp_path_factory.mktemp("one_core") / "conv.bmx"
    bmx_format.write_bmx(str(path), sym, {"weight": packed_weight, "scale": scale, "bias": bias}, {"data": SHAPE})
    return dict(x=x, weight=packed_weight, scale=scale, bias=bias, expected=expected, path=str(path))


def run_operator(case):
    out = mx.nd.BmxBinaryConv2D(mx.nd.BmxPack(mx.nd.array(case["x"])), mx.nd.array(case["weight"], dtype=np.int64),
                                mx.nd.array(case["scale"]), mx.nd.array(case["bias"]), **ATTRS)
    return out.asnumpy()


def calls_during(isa, fn):
    """fn()'s result and the kernel calls it ran on ``isa``."""
    before = native.kernel_calls(isa)
    result = fn()
    return result, native.kernel_calls(isa) - before


@pytest.mark.parametrize("isa", SUPPORTED_ISAS)
def test_forcing_an_isa_from_python_reaches_the_operators_and_the_runtime(case, isa):
    from bmxnet_ext import runtime

    others = [name for name in SUPPORTED_ISAS if name != isa]
    with runtime.Model(case["path"], threads=2) as model:
        with native.use_isa(isa):
            assert ops.isa() == isa
            assert runtime.load_library().bmx_isa().decode() == isa
            counts_before = {name: native.kernel_calls(name) for name in others}
            got, calls = calls_during(isa, lambda: run_operator(case))
            assert calls >= 2  # BmxPack and BmxBinaryConv2D ran on the forced ISA
            np.testing.assert_array_equal(got, case["expected"])
            got, calls = calls_during(isa, lambda: model.run(case["x"]))
            assert calls >= 2
            np.testing.assert_array_equal(got, case["expected"])
            assert {name: native.kernel_calls(name) for name in others} == counts_before
        assert ops.isa() == native.current_isa() == runtime.load_library().bmx_isa().decode()


def test_one_thread_count_for_every_front_end(case, threads):
    from bmxnet_ext import runtime

    for n in (1, 3):
        bmxnet_ext.set_num_threads(n)
        assert native.get_num_threads() == ops.get_num_threads() == n
        np.testing.assert_array_equal(run_operator(case), case["expected"])
    # a runtime model runs with its own count and gives the process's count back afterwards
    with runtime.Model(case["path"], threads=2) as model:
        np.testing.assert_array_equal(model.run(case["x"]), case["expected"])
    assert native.get_num_threads() == ops.get_num_threads() == 3
