"""bmxnet-ext: binary neural networks for MXNet Gluon.

- :mod:`bmxnet_ext.quantizers`: registered quantizers with pseudo-gradients (``quantizers.get(name)``).
- :mod:`bmxnet_ext.layers`: ``QActivation``, ``QConv1D/2D/3D``, ``QDense``, ``QDepthwiseConv2D``,
  ``QSeparableConv2D``, ReActNet's ``RSign`` / ``RPReLU``, XNOR-Net++'s ``TrainableScale``.
- :mod:`bmxnet_ext.constraints`: ``weight_clip``, applied to latent weights after each update.
- :mod:`bmxnet_ext.optimizers`: ``Bop`` and ``CaseOptimizer`` (registered with ``mx.optimizer`` as ``"bop"`` and
  ``"caseoptimizer"``), and a ``Trainer`` that applies constraints.
- :mod:`bmxnet_ext.flip_ratio`: ``FlipRatio``, the share of binary weights whose sign changed in a step.
- :mod:`bmxnet_ext.config`: global layer defaults (``binary_layer_config``).
- :mod:`bmxnet_ext.datasets`: offline datasets (the MNIST idx files, scikit-learn's digits).
- :mod:`bmxnet_ext.summary`: ``summary(net, input_shape)``, parameters / MACs / sizes by precision.
- :mod:`bmxnet_ext.ops`: the MXNet operators of converted binary models (``BmxPack``, ``BmxBinaryConv2D``,
  ``BmxBinaryDense``), registered at import when the native extension is built.
- :mod:`bmxnet_ext.bmxnet_v1`: reader of BMXNet v1's released binarized models.
- :mod:`bmxnet_ext.manifest`: SHA-256 manifests of converted models; ``import_converted`` checks one and loads
  the model.
- :mod:`bmxnet_ext.cli`, :mod:`bmxnet_ext.atomic`: one-line errors of the command-line tools, atomic output.
- :func:`set_num_threads`: thread count of every native kernel (also ``BMX_NUM_THREADS``).

The binary conventions shared with the converter and the native kernels are in ``docs/conventions.md``.
"""
from . import config, constraints, flip_ratio, ops, optimizers, quantizers
from .config import binary_layer_config
from .layers import (SCALING_MODES, BinaryConvolution, BinaryDense, QActivation, QConv1D, QConv2D, QConv3D,
                     QDense, QDepthwiseConv2D, QSeparableConv2D, RPReLU, RSign, TrainableScale)
from .summary import summary
from .threads import set_num_threads

__version__ = "0.1.0"

__all__ = ["config", "constraints", "flip_ratio", "optimizers", "quantizers", "binary_layer_config",
           "QActivation", "QConv1D", "QConv2D", "QConv3D", "QDense", "QDepthwiseConv2D", "QSeparableConv2D", "RSign", "RPReLU", "TrainableScale",
           "BinaryConvolution", "BinaryDense", "SCALING_MODES", "summary", "set_num_threads", "__version__"]
