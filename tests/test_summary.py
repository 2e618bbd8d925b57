"""summary() on degenerate networks and with precisions taken from the quantizers."""
from mxnet import gluon

from bmxnet_ext import QActivation, QConv2D, QDense, RSign, summary


def test_network_without_weights_gets_a_table_of_zeros():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Activation("relu"), gluon.nn.Flatten())
    for shape in ((1, 3, 4, 4), None):
        s = summary(net, shape, print_fn=None)
        assert (s.total_params, s.packed_bytes, s.compression_ratio) == (0, 0, 1.0)
        assert "Total params            0\n" in s.table()
    assert summary(net, (1, 3, 4, 4), print_fn=None).binary_mac_share == 0.0


def test_network_without_convolutions_gets_zero_binary_macs():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(3, in_units=4))
    s = summary(net, (2, 4), print_fn=None)
    assert s.macs_by_bits == {32: 12} and s.binary_mac_share == 0.0 and "Binary share of MACs    0.0000" in str(s)


def test_precision_comes_from_the_quantizers():
    net = gluon.nn.HybridSequential()
    net.add(RSign(3),
            QConv2D(4, 3, in_channels=3),                                                       # 1/1 via RSign
            QConv2D(4, 3, in_channels=4, input_quantizer="ste_sign", kernel_quantizer="ste_tern"),  # 2/1
            QActivation(quantizer={"name": "dorefa", "k_bit": 4}),
            QConv2D(4, 1, in_channels=4, kernel_quantizer="ste_heaviside", kernel_constraint="weight_clip"),
            gluon.nn.Flatten(),
            QDense(2, in_units=64, input_quantizer="ste_sign", kernel_quantizer="magnitude_aware_sign",
                   kernel_constraint="weight_clip"))
    s = summary(net, (2, 3, 8, 8), print_fn=None)
    bits = [(layer.weight_bits, layer.activation_bits) for layer in s.layers]
    assert bits == [(None, 1), (1, 1), (2, 1), (None, 4), (1, 4), (None, None), (1, 1)]
    assert s.params_by_bits == {1: 108 + 16 + 128, 2: 144, 32: 3}
    assert s.macs_by_bits == {1: 144 * 27 + 128, 2: 64 * 36, 4: 64 * 4}


def test_a_layer_with_its_own_activation_counts_its_parameters():
    """Dense(activation=...) holds its weight and an Activation child: one layer, every parameter counted."""
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(10, activation="relu", in_units=5), gluon.nn.Dense(2, in_units=10))
    s = summary(net, (3, 5), print_fn=None)
    assert [layer.type for layer in s.layers] == ["Dense", "Dense"]
    assert s.total_params == 5 * 10 + 10 + 10 * 2 + 2
    assert s.macs_by_bits == {32: 5 * 10 + 10 * 2}  # per sample
