"""Encoder / decoder pairs (docs/design.md#codec).

Both directions of the network share one codec: ``encode`` maps an image to
features, ``decode`` maps features back. The codec is frozen (``stop_grad``);
its weights are saved with the model but never trained.
"""
import math
import warnings
import jittor as jt
import numpy as np
from jittor import nn

from ..errors import JsymnetError
from ..torch_pickle import ConvertError, read_pickle
from ..resources import resolve_file
from ..config import Field
from ..registry import register_codec
from . import layout
from .stages import zero_outside


class CodecWeightsError(JsymnetError, ValueError):
    """A codec weights file is missing or does not hold VGG-16 conv1_1 / conv1_2."""


def load_vgg_codec_weights(path, channels=64):
    """(W1, W2) as float32 arrays from a codec weights file made by ``jt.save``.

    Read with the converter's restricted unpickler (plain data and arrays only).

    The file holds a dict with ``conv1_1`` (C x 3 x 3 x 3) and ``conv1_2``
    (C x C x 3 x 3); ``tools/convert_weights.py`` makes one from VGG-16.
    """
    resolved = resolve_file(path)
    if not resolved.is_file():
        raise CodecWeightsError(
            f"VGG codec weights not found: {path}. Convert ImageNet VGG-16 with "
            f"tools/convert_weights.py (see docs/converting.md), or set "
            f"model.codec.weights: null to run with random (not ImageNet) weights.")
    try:  # the restricted reader: nothing stored in the file is ever run
        data = read_pickle(resolved)
    except (ConvertError, OSError) as exc:
        raise CodecWeightsError(f"{resolved}: not a readable codec weights file ({exc})") from None
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


VGG_OPTIONS = {
    "weights": Field(None, types=(str,), optional=True,
                     doc="codec weights file (jt.save of conv1_1/conv1_2); null = random"),
    "channels": Field(64, low=1, high=4096, doc="VGG codec feature channels (conv1_2 outputs)"),
}
HAAR_OPTIONS = {
    "haar_levels": Field(1, low=1, high=8, doc="haar codec: number of 2x2 wavelet levels"),
    "haar_mix": Field(False, doc="haar codec: follow the bands by a fixed orthogonal channel "
                                 "rotation, so both halves of the IFT's split carry "
                                 "brightness and colour (as VGG features do)"),
}


class Codec(nn.Module):
    """What every codec is: ``encode`` (N x 3 x H x W image -> N x ``out_channels`` x H' x
    W' features) and ``decode`` (back), both N x C x H x W on every device and layout.
    A codec gives them as :meth:`run_encode` / :meth:`run_decode` on maps in the active
    layout (what the network and the tiled runner call), and its ``size_divisor`` (H and
    W must be multiples of it) and ``halo`` (context pixels a tile needs)."""

    out_channels = None
    size_divisor = 1
    halo = 0

    def run_encode(self, x):
        raise NotImplementedError

    def run_decode(self, f):
        raise NotImplementedError

    def encode(self, x):
        return layout.public(self.run_encode, x, 3, f"{type(self).__name__}.encode")

    def decode(self, f):
        return layout.public(self.run_decode, f, self.out_channels,
                             f"{type(self).__name__}.decode")

    def execute(self, x):
        return self.encode(x)


@register_codec("vgg", options=VGG_OPTIONS)
class VGGCodec(Codec):
    """E(x) = conv(conv(x, W1), W2); D(f) = conv_T(conv_T(f, W2), W1).

    W1, W2 are VGG-16 conv1_1 / conv1_2 weights, no bias, no ReLU, no input
    normalisation; D uses the transposed convolutions of the same weights
    (docs/design.md#codec). D is not the inverse of E.
    """

    size_divisor = 1
    halo = 2          # 3x3 convolutions in each direction: context pixels a tile needs

    @classmethod
    def from_config(cls, cfg, load_weights=True):
        """From the config's ``model.codec``; ``load_weights=False`` leaves random weights
        for the caller to fill in (from a checkpoint), without the warning."""
        if not load_weights:
            return cls(None, cfg["channels"], warn=False)
        return cls(cfg["weights"], cfg["channels"])

    def __init__(self, weights=None, channels=64, warn=True):
        super().__init__()
        self.out_channels = channels
        if weights is None:
            if warn:
                warnings.warn("jsymnet: the VGG codec has no weights file "
                              "(model.codec.weights: null) and runs with RANDOM weights, not "
                              "ImageNet VGG-16; see docs/converting.md to convert them.",
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

    def run_encode(self, x):
        lay = layout.active()
        x = lay.conv(zero_outside(x), self.weight1, padding=1)
        return lay.conv(zero_outside(x), self.weight2, padding=1)

    def run_decode(self, f):
        lay = layout.active()
        f = lay.conv_transpose(zero_outside(f), self.weight2, padding=1)
        return lay.conv_transpose(zero_outside(f), self.weight1, padding=1)


def haar_split(x):
    """One Haar level: C channels at H x W -> 4C at H/2 x W/2 (H, W even; any layout).

    Of each 2x2 block [[a, b], [c, d]] it keeps the mean and three details,
    band by band (channel k*C + i is band k of input channel i)::

        LL = (a + b + c + d) / 4     LH = (a - b + c - d) / 4
        HL = (a + b - c - d) / 4     HH = (a - b - c + d) / 4

    Plain sums and differences (no grouped convolution), so the result does
    not depend on the convolution backend.
    """
    lay = layout.active()
    a, b, c_, d = lay.phases(x)
    s_ab, d_ab, s_cd, d_cd = a + b, a - b, c_ + d, c_ - d
    bands = [s_ab + s_cd, d_ab + d_cd, s_ab - s_cd, d_ab - d_cd]
    return lay.concat([band * 0.25 for band in bands])


def haar_merge(f):
    """The exact inverse of :func:`haar_split`: 4C channels at H x W -> C at 2H x 2W.

    a = LL + LH + HL + HH, b = LL - LH + HL - HH, c = LL + LH - HL - HH,
    d = LL - LH - HL + HH (the 4x4 Hadamard matrix is its own inverse up to 4).
    """
    lay = layout.active()
    c = lay.channels(f) // 4
    ll, lh, hl, hh = (lay.channel_slice(f, k * c, (k + 1) * c) for k in range(4))
    s_l, d_l, s_h, d_h = ll + hl, ll - hl, lh + hh, lh - hh
    return lay.from_phases(s_l + s_h, s_l - s_h, d_l + d_h, d_l - d_h)


@register_codec("haar", options=HAAR_OPTIONS)
class HaarCodec(Codec):
    """Haar-wavelet codec of the Table 2 ablation (the INN downsampling of IRN).

    Each level maps C channels at H x W to 4C at H/2 x W/2 (:func:`haar_split`);
    ``decode`` is its exact inverse (:func:`haar_merge`). The network pads
    inputs to a multiple of ``size_divisor`` and crops the result.

    With ``mix``, the bands are then rotated by a fixed orthogonal C x C matrix
    (:func:`band_rotation`; ``decode`` applies its transpose first). The IFT
    splits channels into fixed halves and changes the first half only by
    addition (docs/design.md#ift), so unmixed, the band means (brightness and colour) sit
    in that half and every gain must be built from the other half; rotated,
    each channel carries a share of every band, as VGG features do.
    """

    halo = 0          # 2x2 blocks, tiles aligned to them: no context needed

    @classmethod
    def from_config(cls, cfg, load_weights=True):
        return cls(cfg["haar_levels"], mix=cfg["haar_mix"])

    def __init__(self, levels=1, mix=False):
        super().__init__()
        self.levels = levels
        self.size_divisor = 2 ** levels
        self.out_channels = 3 * 4 ** levels
        # A NumPy array, not a jt.Var: a function of the channel count alone, so it is
        # not a weight and checkpoints do not carry it.
        self._rotation = band_rotation(self.out_channels) if mix else None

    def _rotate(self, f, transpose):
        q = self._rotation.T if transpose else self._rotation
        return layout.active().conv(f, jt.array(q[:, :, None, None]))

    def run_encode(self, x):
        for _ in range(self.levels):
            x = haar_split(x)
        return x if self._rotation is None else self._rotate(x, False)

    def run_decode(self, f):
        if self._rotation is not None:
            f = self._rotate(f, True)
        for _ in range(self.levels):
            f = haar_merge(f)
        return f


def band_rotation(channels, seed=0):
    """A fixed orthogonal ``channels x channels`` matrix (QR of a seeded Gaussian draw,
    signs fixed so it is unique): the same on every machine and in every run."""
    a = np.random.default_rng(seed).standard_normal((channels, channels))
    q, r = np.linalg.qr(a)
    return (q * np.sign(np.diag(r))).astype(np.float32)
