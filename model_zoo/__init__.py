"""Binary architectures of the paper and of BMXNet-v2, by name.

    >>> from model_zoo import get_model, list_models
    >>> net = get_model("resnet18")              # binary, uninitialized
    >>> twin = get_model("resnet18", bits=32)    # its full-precision twin

Families (one module each): :mod:`.lenet`, :mod:`.resnet` (BMXNet v1's pre-activation ResNets),
:mod:`.densenet` (the paper's DenseNets), :mod:`.alexnet`, :mod:`.inception` (Inception-BN),
:mod:`.resnet_e` (ResNet-E), :mod:`.binary_densenet` (BinaryDenseNet), :mod:`.meliusnet` (MeliusNet);
Larq Zoo's literature and SOTA models: :mod:`.birealnet` (Bi-Real Net), :mod:`.binary_alexnet`,
:mod:`.xnornet`, :mod:`.dorefanet`, :mod:`.quicknet` (QuickNet, -Large, -XL), :mod:`.real_to_binary`;
and :mod:`.reactnet` (ReActNet-A).
Generic constructors (``resnet(units, filters)``, ``densenet(k, units)``, ...) build any variant.
"""
from . import alexnet as _alexnet, binary_densenet as _binary_densenet, densenet as _densenet  # noqa: F401
from . import inception as _inception, lenet as _lenet, meliusnet as _meliusnet  # noqa: F401
from . import resnet as _resnet, resnet_e as _resnet_e  # noqa: F401
from . import binary_alexnet as _binary_alexnet, birealnet as _birealnet, dorefanet as _dorefanet  # noqa: F401
from . import quicknet as _quicknet, reactnet as _reactnet, real_to_binary as _real_to_binary  # noqa: F401
from . import xnornet as _xnornet  # noqa: F401
from .binary_densenet import BinaryDenseNet, binary_densenet
from .densenet import DenseNet, densenet
from .meliusnet import MeliusNet, meliusnet
from .registry import default_input_shape, get_model, list_models, model_name, register_model
from .resnet import ResNetV2, resnet
from .resnet_e import ResNetE, resnet_e

__all__ = ["get_model", "list_models", "model_name", "register_model", "default_input_shape", "ResNetV2", "resnet", "DenseNet", "densenet",
           "ResNetE", "resnet_e", "BinaryDenseNet", "binary_densenet", "MeliusNet", "meliusnet"]
