"""Bad input gives a clear Python error naming the operation and the shapes, never a crash."""
import os
import subprocess
import sys

import numpy as np
import pytest

from bmxnet_ext import _native, native


def packed_case():
    x = np.ones((1, 70, 5, 5), np.float32)
    w = np.ones((8, 70, 3, 3), np.float32)
    return native.pack_activations(x), native.pack_conv_weights(w)


def test_wrong_dtypes_raise_type_error():
    with pytest.raises(TypeError, match=r"pack_activations: expected `x` of dtype float32, got float64"):
        native.pack_activations(np.ones((1, 3, 4, 4)))
    data, weight = packed_case()
    with pytest.raises(TypeError, match=r"binary_conv2d: expected packed `data` of dtype uint64 or int64, got int32 "
                                        r"with shape \(1, 5, 5, 2\)"):
        native.binary_conv2d(data.astype(np.int32), weight, in_channels=70)
    with pytest.raises(TypeError, match=r"binary_gemm: expected `a` as a numpy.ndarray, got list"):
        native.binary_gemm([[1]], np.zeros((1, 1), np.uint64), 3)


def test_non_contiguous_input_raises_value_error():
    x = np.ones((1, 3, 8, 8), np.float32)[:, :, ::2, :]
    with pytest.raises(ValueError, match="C-contiguous `x`"):
        native.pack_activations(x)
    data, weight = packed_case()
    with pytest.raises(ValueError, match="C-contiguous `weight`"):
        native.binary_conv2d(data, np.asfortranarray(weight), in_channels=70)


def test_shape_mismatches_name_the_shapes():
    data, weight = packed_case()
    with pytest.raises(ValueError, match=r"binary_conv2d: expected packed data \(N, H, W, 1\) and weight "
                                         r"\(O, KH, KW, 1\) for in_channels=64 and groups=1, got data \(1, 5, 5, 2\) "
                                         r"and weight \(8, 3, 3, 2\)"):
        native.binary_conv2d(data, weight, in_channels=64)
    with pytest.raises(ValueError, match=r"expected out_channels divisible by groups=3, got 8 \(data \(1, 5, 5, 3\) "
                                         r"and weight \(8, 3, 3, 1\)\)"):
        native.binary_conv2d(np.zeros((1, 5, 5, 3), np.uint64), np.zeros((8, 3, 3, 1), np.uint64), in_channels=3,
                             groups=3)
    with pytest.raises(ValueError, match=r"expected padded height >= dilated kernel height 7, got 5 \(data"):
        native.binary_conv2d(data, weight, in_channels=70, dilate=3)
    with pytest.raises(ValueError, match=r"expected stride_h >= 1, got 0"):
        native.binary_conv2d(data, weight, in_channels=70, stride=(0, 1))
    with pytest.raises(ValueError, match=r"`scale` and `bias` of shape \(8,\)"):
        native.binary_conv2d(data, weight, in_channels=70, out_format="float")
    with pytest.raises(ValueError, match="out_format"):
        native.binary_conv2d(data, weight, in_channels=70, out_format="half")
    with pytest.raises(ValueError, match=r"binary_gemm: expected packed data \(N, 2\) and weight \(O, 2\) for 70 "
                                         r"input bits, got data \(2, 1\) and weight \(2, 2\)"):
        native.binary_gemm(np.zeros((2, 1), np.uint64), np.zeros((2, 2), np.uint64), 70)
    with pytest.raises(ValueError, match=r"groups >= 1 dividing C=3 of \(1, 3, 2, 2\), got 2"):
        native.pack_activations(np.ones((1, 3, 2, 2), np.float32), groups=2)


def test_the_core_checks_what_the_python_layer_forwards():
    # bmxnet_ext.native only forwards: the binding and the core give the same errors to a direct call
    data, weight = packed_case()
    with pytest.raises(ValueError, match="binary_conv2d: expected packed data"):
        _native.binary_conv2d(data, weight[:, :, :, :1].copy(), 70, (1, 1), (0, 0), (1, 1), 1, "int32")
    with pytest.raises(TypeError, match="float32"):
        _native.pack_activations(np.ones((2, 3), np.float16))
    with pytest.raises(ValueError, match="set_num_threads: expected a thread count >= 1, got 0"):
        native.set_num_threads(0)
    with pytest.raises(ValueError, match=r"pack_conv_weights: expected a non-empty \(N, C, H, W\), got \(0, 3, 3, 3\)"):
        native.pack_conv_weights(np.ones((0, 3, 3, 3), np.float32))


def test_unknown_or_unsupported_instruction_set():
    with pytest.raises(ValueError, match="Expected an instruction set"):
        with native.use_isa("sse9"):
            pass
    with pytest.raises(ValueError, match="name portable, avx2, avx512, neon or wasm_simd, got 'sse9'"):
        _native.force_isa("sse9")
    unsupported = [i for i in ("avx2", "avx512", "neon", "wasm_simd") if i not in native.available_isas()]
    for name in unsupported:
        with pytest.raises(ValueError, match=r"not supported by this CPU or build \(available: portable"):
            _native.force_isa(name)
    assert native.current_isa() == native.available_isas()[-1]


def test_use_isa_nests_and_restores():
    best = native.current_isa()
    with native.use_isa("portable"):
        assert native.current_isa() == "portable"
        with native.use_isa(best):
            assert native.current_isa() == best
        assert native.current_isa() == "portable"
    assert native.current_isa() == best


def test_bmx_isa_environment_variable_selects_and_rejects():
    code = "from bmxnet_ext import native; print(native.current_isa())"
    env = dict(os.environ, BMX_ISA="portable")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "portable"
    env["BMX_ISA"] = "sse9"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "sse9" in bad.stderr
