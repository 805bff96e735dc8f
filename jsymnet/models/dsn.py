"""The Deep Symmetric Network (docs/design.md#data-flow): E -> IFT -> D, both directions."""
from jittor import nn

from ..config import ConfigError, load_config
from . import layout
from .exposure import build_exposure
from .ift import IFT
from ..registry import CODECS
from .stages import DIRECT


class DeepSymmetricNet(nn.Module):
    """enhance: x_LQ -E-> f_L -IFT-> f_H -D-> x_HQ; degrade: x_HQ -E-> f_H -IFT^-1-> f_L -D-> x_LQ.

    One frozen codec serves both directions; the IFT is exactly invertible.
    Inputs are N x 3 x H x W in [0, 1], any H and W. Images and features (what
    ``encoder`` returns, ``ift`` maps and ``decoder`` takes) are N x C x H x W on every
    device and layout; inside, the network runs in the active :mod:`.layout`
    (``run_encoder``, ``ift.run``, ``run_decoder``), reordering nothing between the
    codec's first convolution and its last.
    """

    def __init__(self, codec, ift, config=None, exposure=None):
        super().__init__()
        self.codec = codec
        self.ift = ift
        self.config = config
        self.exposure = exposure   # the global exposure stage (.exposure), or None

    def encoder(self, x):
        """N x 3 x H x W image -> N x C x H' x W' features (E)."""
        return self.codec.encode(x)

    def decoder(self, f):
        """N x C x H' x W' features -> N x 3 x H x W image (D)."""
        return self.codec.decode(f)

    def run_encoder(self, x):
        """E of an N x 3 x H x W image, the features left in the active layout."""
        return self.codec.run_encode(layout.active().to_internal(x))

    def run_decoder(self, f):
        """D of features in the active layout, as an N x 3 x H x W image."""
        return layout.active().to_public(self.codec.run_decode(f))

    def padding(self, h, w):
        """(bottom, right) replicate padding that makes an h x w image fit the codec."""
        d = self.codec.size_divisor
        return (-h) % d, (-w) % d

    def _run(self, x, reverse, ex):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an N x 3 x H x W image batch, got shape {tuple(x.shape)}")
        h, w = x.shape[2], x.shape[3]
        ph, pw = self.padding(h, w)
        if ph or pw:
            x = nn.pad(x, (0, pw, 0, ph), mode="replicate")
        y = self.run_decoder(self.ift.run(self.run_encoder(x), reverse, ex))
        return y[:, :, :h, :w] if ph or pw else y

    def enhance(self, x, ex=DIRECT):
        """LQ -> HQ. ``ex``: how the IFT's blocks run (:mod:`.stages`; EAGER for inference)."""
        return self._run(x, False, ex)

    def degrade(self, y, ex=DIRECT):
        """HQ -> LQ."""
        return self._run(y, True, ex)

    def execute(self, x):
        return self.enhance(x)

    def widest_channels(self):
        """The most output channels of any convolution in the IFT: the widest feature map
        it computes (what inference memory scales with, beside the codec's channels)."""
        return max(int(p.shape[0]) for _, p in self.ift.named_parameters() if p.ndim == 4)

    def named_trainable_parameters(self):
        """(name, parameter) of every parameter but the frozen codec's and the fitted exposure
        stage's: what training updates.

        Decided by structure, not by ``is_stop_grad()``: Jittor's ``eval()``
        stops the gradient of every parameter until ``train()``.
        """
        return [(n, p) for n, p in self.named_parameters()
                if not n.startswith(("codec.", "exposure."))]

    def trainable_parameters(self):
        return [p for _, p in self.named_trainable_parameters()]


def build_codec(cfg, load_weights=True):
    """The codec of ``model.codec`` (registered by its ``type``)."""
    return CODECS.get(cfg["type"]).from_config(cfg, load_weights)


def build_model(cfg=None, load_codec_weights=True, **overrides):
    """A :class:`DeepSymmetricNet` from a YAML path, a config dict, or None (defaults).

    Keyword overrides are merged into the ``model`` section, e.g.
    ``build_model("configs/lol.yaml", codec={"weights": None})``.
    ``load_codec_weights=False`` skips reading the codec's weights file, for
    callers that load a whole checkpoint next.
    """
    cfg = load_config(cfg, {"model": overrides} if overrides else None)
    m = cfg["model"]
    codec = build_codec(m["codec"], load_codec_weights)
    channels = codec.out_channels
    split = m["ift"]["split"] if m["ift"]["split"] is not None else channels // 2
    if not 0 < split < channels:
        raise ConfigError(f"key 'model.ift.split' ({split}) must lie between 1 and "
                          f"{channels - 1}: the codec gives {channels} channels")
    ift = IFT(channels, m["ift"]["num_blocks"], split, m["ift"]["clamp"],
              m["subnet"]["type"], m["subnet"])
    return DeepSymmetricNet(codec, ift, cfg, build_exposure(m["exposure"]))
