"""Which input sizes a zoo network takes, found by MXNet's symbolic shape inference (nothing is allocated).

A network built with its ``in_channels`` takes an input ``(C, H, W)`` when every layer's output shape can be
inferred and has no zero-sized axis. Networks with global pooling take every size from a smallest one up
(unless their downsampling paths must agree, as ResNet-E's average-pooled shortcuts: then only multiples of
32), networks with a fixed-size fully connected layer only a few (``lenet`` 28 x 28, ``alexnet`` about 224).
The checks run on the uninitialised network, so they cost a symbolic pass, not a forward pass.
"""
import mxnet as mx

from bmxnet_ext.cli import mxnet_quiet

__all__ = ["takes_input", "smallest_input_size"]


def _symbol(net):
    """All internal outputs of ``net`` applied to a symbolic input named ``data``."""
    return net(mx.sym.var("data")).get_internals()


def _takes(internals, shape):
    try:
        with mxnet_quiet():
            _, outputs, _ = internals.infer_shape(data=shape)
    except mx.base.MXNetError:
        return False
    return all(dim > 0 for output in outputs for dim in output)


def takes_input(net, input_shape):
    """Whether ``net`` (a Gluon block, initialised or not) accepts a batch of samples ``(C, H, W)``."""
    return _takes(_symbol(net), (1,) + tuple(input_shape))


def smallest_input_size(net, channels, *, largest=512):
    """The smallest ``s`` such that ``net`` takes ``(channels, s, s)``, or None when no ``s <= largest`` does."""
    internals = _symbol(net)
    for size in range(1, largest + 1):
        if _takes(internals, (1, channels, size, size)):
            return size
    return None
