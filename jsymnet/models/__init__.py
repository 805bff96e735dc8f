"""Network parts, one module per part of the paper: codec, IFT, RRAM, and the whole."""
from .codec import HaarCodec, VGGCodec
from .dsn import DeepSymmetricNet, build_model
from .ift import IFT, InvertibleBlock
from .registry import CODECS, SUBNETS
from .rram import RRAM, RSCA, DenseSubnet, ResBlockSubnet, SEResBlockSubnet

__all__ = ["HaarCodec", "VGGCodec", "DeepSymmetricNet", "build_model", "IFT",
           "InvertibleBlock", "CODECS", "SUBNETS", "RRAM", "RSCA", "DenseSubnet",
           "ResBlockSubnet", "SEResBlockSubnet"]
