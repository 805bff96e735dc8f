"""Encoder / decoder pairs (SPEC section 2).

Both directions of the network share one codec: ``encode`` maps an image to
features, ``decode`` maps features back. The codec is frozen (``stop_grad``);
its weights are saved with the model but never trained.
"""
import math
import warnings
from pathlib import Path

import jittor as jt
import numpy as np
from jittor import nn

from .registry import register_codec

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class CodecWeightsError(ValueError):
    """A codec weights file is missing or does not hold VGG-16 conv1_1 / conv1_2."""


def resolve_path(path):
    """A path as given (absolute or from the working folder), else from the project root."""
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return PACKAGE_ROOT / path


def load_vgg_codec_weights(path, channels=64):
    """(W1, W2) as float32 arrays from a codec weights file made by ``jt.save``.

    The file holds a dict with ``conv1_1`` (C x 3 x 3 x 3) and ``conv1_2``
    (C x C x 3 x 3); ``tools/convert_weights.py`` makes one from VGG-16.
    """
    resolved = resolve_path(path)
    if not resolved.is_file():
        raise CodecWeightsError(
            f"VGG codec weights not found: {path}. Convert ImageNet VGG-16 with "
            f"tools/convert_weights.py (see weights/README.md), or set "
            f"model.codec.weights: null to run with random (not ImageNet) weights.")
    try:
        data = jt.load(str(resolved))
    except Exception as exc:  # jt.load raises many kinds on a bad file
        raise CodecWeightsError(f"{resolved}: not a readable codec weights file ({exc})") from None
    if isinstance(data, dict) and "codec" in data and isinstance(data["codec"], dict):
        data = data["codec"]
    expected = {"conv1_1": (channels, 3, 3, 3), "conv1_2": (channels, channels, 3, 3)}
    if not isinstance(data, dict) or not set(expected) <= set(data):
        keys = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise CodecWeightsError(f"{resolved}: expected keys conv1_1 and conv1_2, found {keys}")
    out = []
    for key, shape in expected.items():
        arr = np.asarray(data[key].numpy() if isinstance(data[key], jt.Var) else data[key],
                         dtype=np.float32)
        if arr.shape != shape:
            raise CodecWeightsError(f"{resolved}: {key} has shape {arr.shape}, expected {shape}")
        out.append(arr)
    return tuple(out)


@register_codec("vgg")
class VGGCodec(nn.Module):
    """E(x) = conv(conv(x, W1), W2); D(f) = conv_T(conv_T(f, W2), W1).

    W1, W2 are VGG-16 conv1_1 / conv1_2 weights, no bias, no ReLU, no input
    normalisation; D uses the transposed convolutions of the same weights
    (SPEC 2). D is not the inverse of E.
    """

    size_divisor = 1

    def __init__(self, weights=None, channels=64, warn=True):
        super().__init__()
        self.out_channels = channels
        if weights is None:
            if warn:
                warnings.warn("jsymnet: the VGG codec has no weights file "
                              "(model.codec.weights: null) and runs with RANDOM weights, not "
                              "ImageNet VGG-16; see weights/README.md to convert them.",
                              RuntimeWarning, stacklevel=3)
            w1 = jt.randn(channels, 3, 3, 3) * math.sqrt(2.0 / 27)
            w2 = jt.randn(channels, channels, 3, 3) * math.sqrt(2.0 / (9 * channels))
            w1, w2 = w1.numpy(), w2.numpy()
            self.pretrained = False
        else:
            w1, w2 = load_vgg_codec_weights(weights, channels)
            self.pretrained = True
        self.weight1 = jt.array(w1.astype(np.float32)).stop_grad()
        self.weight2 = jt.array(w2.astype(np.float32)).stop_grad()

    def encode(self, x):
        return nn.conv2d(nn.conv2d(x, self.weight1, padding=1), self.weight2, padding=1)

    def decode(self, f):
        return nn.conv_transpose2d(nn.conv_transpose2d(f, self.weight2, padding=1),
                                   self.weight1, padding=1)


def haar_filters(in_channels):
    """The four 2x2 Haar filters (LL, and the three details) per input channel."""
    w = np.ones((4, 1, 2, 2), np.float32)
    w[1, 0, 0, 1] = w[1, 0, 1, 1] = -1
    w[2, 0, 1, 0] = w[2, 0, 1, 1] = -1
    w[3, 0, 1, 0] = w[3, 0, 0, 1] = -1
    return np.concatenate([w] * in_channels, 0)


@register_codec("haar")
class HaarCodec(nn.Module):
    """Haar-wavelet codec of the Table 2 ablation (the INN downsampling of IRN).

    Each level maps C channels at H x W to 4C at H/2 x W/2; ``decode`` is the
    exact inverse of ``encode``. The network pads inputs to a multiple of
    ``size_divisor`` and crops the result.
    """

    def __init__(self, levels=1):
        super().__init__()
        self.levels = levels
        self.size_divisor = 2 ** levels
        self.out_channels = 3 * 4 ** levels
        self._filters = [jt.array(haar_filters(3 * 4 ** i)).stop_grad() for i in range(levels)]

    def encode(self, x):
        for w in self._filters:
            n, c, h, width = x.shape
            x = nn.conv2d(x, w, stride=2, groups=c) / 4.0
            x = x.reshape(n, c, 4, h // 2, width // 2).transpose(0, 2, 1, 3, 4)
            x = x.reshape(n, 4 * c, h // 2, width // 2)
        return x

    def decode(self, f):
        for w in reversed(self._filters):
            n, c4, h, width = f.shape
            c = c4 // 4
            f = f.reshape(n, 4, c, h, width).transpose(0, 2, 1, 3, 4).reshape(n, c4, h, width)
            f = nn.conv_transpose2d(f, w, stride=2, groups=c)
        return f
