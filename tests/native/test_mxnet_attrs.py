"""Attribute strings of the MXNet operators: every spelling MXNet and users write parses alike, bad ones fail
with a message naming the operator and the attribute (native/mxnet_op/attrs.cc parses them on every call)."""
import mxnet as mx
import numpy as np
import pytest

from bmxnet_ext import native, ops
from . import reference

pytestmark = pytest.mark.skipif(not ops.available(), reason="bmxnet_ext._mxnet_op not built")


def conv(**attrs):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 5, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 5, 3, 3)).astype(np.float32)
    out = mx.nd.BmxBinaryConv2D(mx.nd.BmxPack(mx.nd.array(x)), mx.nd.array(native.pack_conv_weights(w).view(np.int64),
                                                                              dtype=np.int64),
                                mx.nd.ones(3), mx.nd.zeros(3), num_filter=3, in_channels=5, out_format="int32",
                                **attrs)
    return out.asnumpy(), (x, w)


@pytest.mark.parametrize("kernel,pad", [((3, 3), (1, 1)), ("(3, 3)", "(1,1)"), ("[3,3]", "1"), ("3", "(1,)"),
                                        (" ( 3 , 3 ) ", "+1")])
def test_pair_spellings_parse_alike(kernel, pad):
    got, (x, w) = conv(kernel=kernel, pad=pad)
    np.testing.assert_array_equal(got, reference.conv2d(x, w, pad=(1, 1)))


@pytest.mark.parametrize("attrs,message", [
    (dict(kernel="(3, x)", pad=1), "attribute `kernel` to be a pair (a, b) of integers >= 1, got '(3, x)'"),
    (dict(kernel="(3, 3, 3)", pad=1), "attribute `kernel` to be a pair (a, b) of integers >= 1, got '(3, 3, 3)'"),
    (dict(kernel="()", pad=1), "attribute `kernel` to be a pair"),
    (dict(kernel=3, pad="(-1, 1)"), "attribute `pad` to be a pair (a, b) of integers >= 0, got '(-1, 1)'"),
    (dict(kernel=3, num_group="1.5"), "attribute `num_group` to be an integer >= 1, got '1.5'"),
    (dict(kernel=3, num_group="2x"), "attribute `num_group` to be an integer >= 1, got '2x'"),
])
def test_bad_attribute_strings_name_the_operator_and_attribute(attrs, message):
    with pytest.raises(mx.MXNetError) as err:
        conv(**attrs)
    assert "BmxBinaryConv2D: expected " + message in str(err.value)
