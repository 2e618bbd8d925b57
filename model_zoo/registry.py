"""A flat name -> constructor registry: ``register_model``, ``get_model``, ``list_models``.

Each architecture module decorates its named variants with :func:`register_model`; importing
:mod:`model_zoo` imports every family, so the registry is complete once the package is imported.
"""
import argparse
import difflib
import fnmatch
import json

from bmxnet_ext.atomic import write_text

__all__ = ["register_model", "get_model", "list_models", "default_input_shape", "model_name"]

IMAGENET_INPUT = (3, 224, 224)

_MODELS = {}
_INPUT_SHAPES = {}
_ACTIVATION_BITS = {}


def register_model(constructor=None, *, input_shape=IMAGENET_INPUT, activation_bits=None):
    """Register a model constructor under its function name (lower case); returns it unchanged.

    Use as ``@register_model`` or ``@register_model(input_shape=(C, H, W))`` (default ImageNet's
    ``(3, 224, 224)``): the input the model is built for. ``activation_bits`` is the activation width of a
    model whose quantized activations are not as wide as its weights by design (DoReFa-Net's 2 bits):
    :func:`get_model` then uses it for ``bits_a`` unless the model is built full precision. The constructor
    takes keyword arguments ``classes``, ``bits``, ``bits_a``, ``in_channels`` (default the ``C`` of
    ``input_shape``) and family-specific ones, and returns an uninitialized ``HybridBlock``. Which input sizes
    it takes besides its own: :mod:`model_zoo.input_size`.
    """
    def register(function):
        name = function.__name__.lower()
        if name in _MODELS:
            raise ValueError(f"Model name {name!r} is registered twice ({_MODELS[name].__module__} and "
                             f"{function.__module__}).")
        _MODELS[name] = function
        _INPUT_SHAPES[name] = tuple(input_shape)
        if activation_bits is not None:
            _ACTIVATION_BITS[name] = activation_bits
        return function
    return register if constructor is None else register(constructor)


def default_input_shape(name, batch=1):
    """The input batch shape ``(batch, C, H, W)`` model ``name`` is built for (e.g. for :func:`summary`)."""
    return (batch,) + _INPUT_SHAPES[_checked_name(name)]


def _checked_name(name):
    key = name.lower() if isinstance(name, str) else name
    if key not in _MODELS:
        raise ValueError(f"Expected `name` to be one of {list_models()}, got {name!r}.")
    return key


def model_name(text):
    """argparse type of every tool's ``--model``: a registered name (any case) -> its lower-case key.

    An unknown name is refused with the closest registered ones, or the whole list when none is close, so a
    tool stops at parsing time, before it builds or loads anything.
    """
    try:
        return _checked_name(text)
    except ValueError:
        close = difflib.get_close_matches(text.lower(), list_models(), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"expected one of {', '.join(list_models())}"
        raise argparse.ArgumentTypeError(f"unknown model {text!r}; {hint}") from None


def list_models(pattern="*"):
    """Sorted names of the registered models matching the shell-style ``pattern`` (e.g. ``"densenet*"``)."""
    return sorted(name for name in _MODELS if fnmatch.fnmatchcase(name, pattern))


def get_model(name, pretrained=False, root=None, classes=None, bits=1, bits_a=None, **kwargs):
    """Build the model ``name``, optionally with pretrained weights.

    Parameters
    ----------
    name : str
        A name from :func:`list_models` (case-insensitive).
    pretrained : bool or str, default False
        ``True`` loads the released weights of ``name`` (``lenet``, ``resnet18``, ``resnet18_cifar``: BMXNet
        v1's models) from the model store, verifying their SHA-256; a string selects the file by a prefix of
        its hash. The model is then initialized. See :mod:`model_zoo.model_store` for getting the files.
    root : str, optional
        Model store folder; default ``$BMXNET_HOME/models`` or ``~/.bmxnet/models``.
    classes : int, optional
        Number of output classes; default the model's own (1000 for ImageNet models, 10 for MNIST/CIFAR-10).
    bits : int, default 1
        Weight bits of the quantized layers (1 = binary, 2..31 = DoReFa k-bit, 32 = full precision).
        First and last layers are always full precision.
    bits_a : int, optional
        Activation bits; default ``bits``, so ``bits=32`` alone builds the full-precision twin (a model
        registered with ``activation_bits``, DoReFa-Net, defaults to those unless ``bits=32``).
    **kwargs
        Passed to the architecture (e.g. ``pad_value`` of the residual networks).

    Returns
    -------
    mxnet.gluon.HybridBlock
        Uninitialized unless ``pretrained``. Its ``export`` records the input shape (batch 1) as the data
        variable's ``__shape__``, so the converter needs no input shape.
    """
    key = _checked_name(name)
    if classes is not None:
        kwargs["classes"] = classes
    if bits_a is None:
        bits_a = bits if bits == 32 else _ACTIVATION_BITS.get(key, bits)
    if pretrained:
        from . import pretrained as released  # imports the store and the v1 reader only when needed
        kwargs = released.pretrained_kwargs(key, bits, bits_a, kwargs)
    net = _MODELS[key](bits=bits, bits_a=bits_a, **kwargs)
    if pretrained:
        released.load_pretrained(net, key, pretrained, root=root)
    _record_input_shape_on_export(net, default_input_shape(key))
    return net


def _record_input_shape_on_export(net, shape):
    """Make ``net.export`` write ``shape`` as the ``__shape__`` attribute of the symbol's data variable."""
    export = net.export

    def export_recording_shape(path, epoch=0, **kwargs):
        result = export(path, epoch, **kwargs)
        symbol_file = f"{path}-symbol.json"
        with open(symbol_file, encoding="utf-8") as f:
            graph = json.load(f)
        for node in graph["nodes"]:
            if node["op"] == "null" and node["name"] == "data":
                node.setdefault("attrs", {})["__shape__"] = str(tuple(shape))
        write_text(symbol_file, json.dumps(graph, indent=2))
        return result

    export_recording_shape.__doc__ = export.__doc__
    net.export = export_recording_shape
