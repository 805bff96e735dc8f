"""Network parts, one module per part of the paper: codec, IFT, RRAM, and the whole.

Every module of this folder is imported here (:func:`jsymnet.registry.import_parts`),
so a codec or subnet in a new module registers itself with no other edit.
"""
from ..registry import import_parts

import_parts(__name__, __path__)

from .codec import HaarCodec, VGGCodec  # noqa: E402
from .dsn import DeepSymmetricNet, build_model  # noqa: E402
from .ift import IFT, InvertibleBlock  # noqa: E402
from ..registry import CODECS, SUBNETS  # noqa: E402
from .rram import RRAM, RSCA, DenseSubnet, ResBlockSubnet, SEResBlockSubnet  # noqa: E402

__all__ = ["HaarCodec", "VGGCodec", "DeepSymmetricNet", "build_model", "IFT",
           "InvertibleBlock", "CODECS", "SUBNETS", "RRAM", "RSCA", "DenseSubnet",
           "ResBlockSubnet", "SEResBlockSubnet"]
