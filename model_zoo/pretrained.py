"""Released weights in zoo models: BMXNet v1's binarized LeNet and ResNet-18s, loaded into our layers.

The files come from :mod:`model_zoo.model_store` (hash-verified); :mod:`bmxnet_ext.bmxnet_v1` reads them
and unpacks the binary weights to +/-1. Two differences between BMXNet v1 and our layers are folded into the
weights, so the Gluon model computes *exactly* the function v1 computes at inference:

- **Output scale**: a v1 binary layer outputs ``(dot + K) / 2``, ours ``dot``. Every value that is a sum of
  binary-layer outputs (a residual sum too) is therefore ``(ours + C) / 2`` in v1, with ``C`` the sum of the
  terms' ``K``; max pooling and flattening keep that form. The BatchNorm reading such a value gets
  ``running_mean' = 2 mean - C`` and ``running_var' = 4 (var + eps_v1) - eps``, which gives the same output.
  (Other BatchNorms only absorb the epsilon difference: ``running_var' = var + eps_v1 - eps``.)
- **Padding**: v1 pads a binary convolution's input with 0, which its kernels binarize to +1, so padded v1
  models are built with ``pad_value=+1`` (ours defaults to -1).

BatchNorms that v1 ran with ``fix_gamma`` (MXNet's default) get ``gamma = 1``, the value v1 used.
"""
import mxnet as mx
import numpy as np

from bmxnet_ext import bmxnet_v1

from . import model_store
from .common import BN_EPSILON

__all__ = ["RELEASES", "pretrained_kwargs", "load_pretrained", "v1_to_zoo_parameters"]

RELEASES = {
    "lenet": dict(classes=10, build={}),
    "resnet18": dict(classes=1000, build={"pad_value": 1.0}),
    "resnet18_cifar": dict(classes=10, build={"pad_value": 1.0}),
}
"""Per released model: its number of classes and the constructor arguments it needs."""

MXNET_BN_EPSILON = 1e-3
"""Epsilon of MXNet's ``BatchNorm`` when a symbol does not set ``eps``."""


def pretrained_kwargs(name, bits, bits_a, kwargs):
    """Constructor arguments for the released model ``name``; rejects settings the weights cannot serve.

    Raises ``ModelStoreError`` for a model without released weights and ``ValueError`` for ``bits`` /
    ``bits_a`` other than 1, another number of classes, or a conflicting constructor argument.
    """
    model_store.registered_files(name)
    release = RELEASES[name]
    if bits != 1 or bits_a != 1:
        raise ValueError(f"The released {name!r} weights are binary: expected bits=1 and bits_a=1 with "
                         f"pretrained=True, got bits={bits}, bits_a={bits_a}.")
    classes = kwargs.get("classes", release["classes"])
    if classes != release["classes"]:
        raise ValueError(f"The released {name!r} weights have {release['classes']} classes, got classes={classes}.")
    for key, value in release["build"].items():
        if key in kwargs and kwargs[key] != value:
            raise ValueError(f"The released {name!r} weights need {key}={value!r}, got {kwargs[key]!r}.")
    return {**kwargs, **release["build"]}


def load_pretrained(net, name, tag=True, root=None, url=None):
    """Fetch (see :func:`model_store.get_model_files`), verify and load the released weights of ``name``.

    ``net`` must be the zoo model ``name`` built with :func:`pretrained_kwargs`; it ends up initialized on
    the CPU. Raises ``ValueError`` when the network's parameters do not match the release's.
    """
    files = model_store.get_model_files(name, tag, root=root, url=url)
    values = v1_to_zoo_parameters(bmxnet_v1.read_v1_model(files["symbol"], files["params"]))
    params = {param_name[len(net.prefix):]: param for param_name, param in net.collect_params().items()}
    missing, unused = sorted(set(params) - set(values)), sorted(set(values) - set(params))
    if missing or unused:
        raise ValueError(f"{files['params']} does not fit {type(net).__name__}: missing {missing[:5]}, "
                         f"unused {unused[:5]}.")
    for key, param in params.items():
        if tuple(param.shape) != values[key].shape:
            raise ValueError(f"{files['params']}: {key} has shape {values[key].shape}, the network expects "
                             f"{tuple(param.shape)}.")
    net.collect_params().initialize(mx.init.Zero(), force_reinit=True)
    for key, param in params.items():
        param.set_data(mx.nd.array(values[key], dtype=param.dtype))
    return net


def v1_to_zoo_parameters(model):
    """Our parameter values (by name, without the network prefix) for a :class:`bmxnet_v1.V1Model`."""
    values = dict(model.args)
    values.update({name.replace("moving_", "running_"): value for name, value in model.aux.items()})
    offsets = _binary_offsets(model)
    for index, node in enumerate(model.nodes):
        if node["op"] != "BatchNorm":
            continue
        attrs = model.node_attrs(node)
        name = node["name"]
        eps = float(attrs.get("eps", MXNET_BN_EPSILON))
        data = node["inputs"][0][0]
        scale, offset = (2.0, offsets[data]) if data in offsets else (1.0, 0.0)
        mean, var = model.aux[f"{name}_moving_mean"], model.aux[f"{name}_moving_var"]
        values[f"{name}_running_mean"] = (scale * mean - offset).astype(np.float32)
        values[f"{name}_running_var"] = (scale ** 2 * (var + eps) - BN_EPSILON).astype(np.float32)
        if attrs.get("fix_gamma", "True") == "True":
            values[f"{name}_gamma"] = np.ones_like(model.args[f"{name}_gamma"])
    return values


def _binary_offsets(model):
    """Node index -> ``C`` for every v1 node whose value is ``(ours + C) / 2`` (see the module docstring)."""
    k_of = {layer.name: layer.inputs_per_output for layer in model.binary_layers}
    offsets = {}
    for index, node in enumerate(model.nodes):
        inputs = [entry[0] for entry in node["inputs"]]
        op, attrs = node["op"], model.node_attrs(node)
        scaled = [i for i in inputs if i in offsets]
        if op in bmxnet_v1.BINARY_OPS:
            offsets[index] = k_of[node["name"]]
        elif not scaled or op == "BatchNorm":
            continue
        elif op in ("elemwise_add", "_Plus", "_plus") and len(scaled) == len(inputs):
            offsets[index] = sum(offsets[i] for i in inputs)
        elif op == "Flatten" or (op == "Pooling" and (attrs.get("pool_type") == "max" or
                                                      not any(bmxnet_v1._parse_tuple(attrs.get("pad"))))):
            offsets[index] = offsets[inputs[0]]
        else:
            raise ValueError(f"{node['name']}: cannot carry v1's (dot + K) / 2 binary output through {op}; only "
                             "BatchNorm, sums of binary outputs, pooling and flattening are supported.")
    return offsets
