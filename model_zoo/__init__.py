"""Binary architectures of the paper and of BMXNet-v2, by name.

    >>> from model_zoo import get_model, list_models
    >>> net = get_model("resnet18")              # binary, uninitialized
    >>> twin = get_model("resnet18", bits=32)    # its full-precision twin

Families: :mod:`.lenet`, :mod:`.resnet` (BMXNet v1 ResNet v2), :mod:`.densenet` (the paper's DenseNets).
Generic constructors ``resnet(units, filters)`` and ``densenet(k, units)`` build any variant.
"""
from . import densenet as _densenet_family, lenet as _lenet_family, resnet as _resnet_family
from .densenet import DenseNet, densenet
from .lenet import LeNet
from .registry import get_model, list_models, register_model
from .resnet import ResNetV2, resnet

__all__ = ["get_model", "list_models", "register_model", "LeNet", "ResNetV2", "resnet", "DenseNet", "densenet"]
