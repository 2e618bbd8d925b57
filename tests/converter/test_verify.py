"""The folded-sign check: differences are accepted only at the rounding boundary."""
import numpy as np
import pytest

from tools.model_converter.rewrite import SignCheck
from tools.model_converter.verify import VerificationError, _check_sign


def sign_check(scale, bias, negated=False):
    return SignCheck(name="s", source="x", reference="ref", scale=np.float32([scale]), bias=np.float32([bias]),
                     negated=negated)


def test_a_flip_where_the_original_value_is_a_rounding_error_from_zero_is_counted_not_failed():
    # ours: 1 * 1 - 1.0000001 = -1.2e-7 (bit set, -1); the original's own float order gave +6e-8 (+1)
    check = sign_check(1.0, np.float32(-1.0000001))
    flips = _check_sign(check, {"x": np.float32([[[1.0, 3.0]]]), "ref": np.float32([[[6e-8, 2.0]]])})
    assert flips == 1


def test_a_flip_away_from_zero_fails():
    check = sign_check(1.0, 0.0)
    with pytest.raises(VerificationError, match="away from zero"):
        _check_sign(check, {"x": np.float32([[[1.0]]]), "ref": np.float32([[[-1.0]]])})


def test_negated_bits_stand_for_plus_one():
    check = sign_check(-1.0, 0.0, negated=True)      # bit set iff x > 0, i.e. the +1 of det_sign
    assert _check_sign(check, {"x": np.float32([[[2.0, -3.0]]]), "ref": np.float32([[[2.0, -3.0]]])}) == 0


def test_a_folded_batchnorm_must_match_mxnets_within_float_tolerance():
    from tools.model_converter.rewrite import ArithmeticCheck, FoldCheck
    from tools.model_converter.verify import _check_fold

    check = ArithmeticCheck(name="conv", op="BmxBinaryConv2D", attrs={}, weight="w", input="x", output="raw")
    y = np.array([[[[3]], [[-5]]]], dtype=np.int32)                      # (1, 2, 1, 1)
    bn = np.float32([[[[0.5 * 3 + 0.25]], [[2.0 * -5 - 1.0]]]])
    fold = FoldCheck(reference="bn", scale=np.float32([0.5, 2.0]), bias=np.float32([0.25, -1.0]))
    assert _check_fold(check, fold, y, {"bn": bn}) == 0.0
    off = FoldCheck(reference="bn", scale=np.float32([0.5, 2.0]), bias=np.float32([0.25, -1.01]))
    with pytest.raises(VerificationError, match="BatchNorm 'bn' folded into 'conv' differs"):
        _check_fold(check, off, y, {"bn": bn})
