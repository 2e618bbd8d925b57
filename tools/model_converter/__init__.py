"""``tools.model_converter``: trained binary model -> packed binary model that runs fast inside MXNet.

Input: a Gluon model built from ``bmxnet_ext`` layers (as a block, or exported symbol JSON + params), or a
BMXNet v1 released model. Output: a converted graph using ``BmxPack`` / ``BmxBinaryConv2D`` /
``BmxBinaryDense`` plus standard MXNet operators, verified against the original before it is written.
See ``docs/converter.md``. Command line: ``python -m tools.model_converter`` or ``bmxnet-convert``.
"""
from .convert import ConversionReport, convert_block, convert_bmxnet_v1, convert_files
from .graph import ConversionError
from .verify import VerificationError
from .writers import WRITERS, register_writer

__all__ = ["convert_block", "convert_files", "convert_bmxnet_v1", "ConversionReport", "ConversionError",
           "VerificationError", "WRITERS", "register_writer"]
