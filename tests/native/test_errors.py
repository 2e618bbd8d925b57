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
    with pytest.raises(TypeError, match=r"binary_conv2d: expected `data` of dtype uint64 or int64, got int32"):
        native.binary_conv2d(data.astype(np.int32), weight, in_channels=70)
    with pytest.raises(TypeError, match="numpy.ndarray"):
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
    with pytest.raises(ValueError, match=r"expected packed data \(N, H, W, 1\) for in_channels=64.*\(1, 5, 5, 2\)"):
        native.binary_conv2d(data, weight, in_channels=64)
    with pytest.raises(ValueError, match=r"O divisible by groups=3"):
        native.binary_conv2d(np.zeros((1, 5, 5, 3), np.uint64), np.zeros((8, 3, 3, 1), np.uint64), in_channels=3,
                             groups=3)
    with pytest.raises(ValueError, match=r"smaller than the dilated kernel"):
        native.binary_conv2d(data, weight, in_channels=70, dilate=3)
    with pytest.raises(ValueError, match=r"`scale` and `bias` of shape \(8,\)"):
        native.binary_conv2d(data, weight, in_channels=70, out_format="float")
    with pytest.raises(ValueError, match="out_format"):
        native.binary_conv2d(data, weight, in_channels=70, out_format="half")
    with pytest.raises(ValueError, match=r"expected a \(M, 2\) and b \(N, 2\) for k=70"):
        native.binary_gemm(np.zeros((2, 1), np.uint64), np.zeros((2, 2), np.uint64), 70)
    with pytest.raises(ValueError, match="groups >= 1 dividing C=3"):
        native.pack_activations(np.ones((1, 3, 2, 2), np.float32), groups=2)


def test_the_binding_checks_again_without_the_python_layer():
    data, weight = packed_case()
    with pytest.raises(ValueError, match="binary_conv2d: expected packed weight"):
        _native.binary_conv2d(data, weight[:, :, :, :1].copy(), 70, (1, 1), (0, 0), (1, 1), 1, "int32")
    with pytest.raises(ValueError, match="stride_h >= 1"):
        _native.binary_conv2d(data, weight, 70, (0, 1), (0, 0), (1, 1), 1, "int32")
    with pytest.raises(ValueError, match="padded height"):
        _native.binary_conv2d(data, weight, 70, (1, 1), (0, 0), (9, 1), 1, "int32")
    with pytest.raises(TypeError, match="float32"):
        _native.pack_activations(np.ones((2, 3), np.float16))
    with pytest.raises(ValueError, match="set_num_threads: expected a thread count >= 1, got 0"):
        _native.set_num_threads(0)


def test_unknown_or_unsupported_instruction_set():
    with pytest.raises(ValueError, match="Expected an instruction set"):
        with native.use_isa("sse9"):
            pass
    with pytest.raises(ValueError, match="name portable, avx2, avx512, neon or wasm_simd, got 'sse9'"):
        _native.force_isa("sse9")
    unsupported = [i for i in ("avx2", "avx512", "neon", "wasm_simd") if i not in native.available_isas()]
    for name in unsupported:
        with pytest.raises(ValueError, match="not supported by this CPU or build"):
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
