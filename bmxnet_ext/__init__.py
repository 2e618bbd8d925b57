"""bmxnet-ext: binary neural networks for MXNet Gluon.

- :mod:`bmxnet_ext.quantization`: sign / k-bit quantizers with straight-through gradients.
- :mod:`bmxnet_ext.layers`: ``QActivation``, ``QConv1D``, ``QConv2D``, ``QDense`` and binary conveniences.
- :mod:`bmxnet_ext.config`: global layer defaults (``binary_layer_config``).
- :mod:`bmxnet_ext.datasets`: offline datasets (the MNIST idx files, scikit-learn's digits).
- :mod:`bmxnet_ext.summary`: ``summary(net, input_shape)``, parameters / MACs / sizes by precision.
- :mod:`bmxnet_ext.ops`: the MXNet operators of converted binary models (``BmxPack``, ``BmxBinaryConv2D``,
  ``BmxBinaryDense``), registered at import when the native extension is built.
- :mod:`bmxnet_ext.bmxnet_v1`: reader of BMXNet v1's released binarized models.

The binary conventions shared with the converter and the native kernels are in ``docs/conventions.md``.
"""
from . import config, ops, quantization
from .config import binary_layer_config
from .layers import (SCALING_MODES, BinaryConvolution, BinaryDense, QActivation, QConv1D, QConv2D,
                     QDense)
from .summary import summary

__version__ = "0.1.0"

__all__ = ["config", "quantization", "binary_layer_config", "QActivation", "QConv1D", "QConv2D", "QDense",
           "BinaryConvolution", "BinaryDense", "SCALING_MODES", "summary", "__version__"]
