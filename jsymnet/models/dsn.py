"""The Deep Symmetric Network (SPEC section 1): E -> IFT -> D, both directions."""
import jittor as jt
from jittor import nn

from ..config import ConfigError, load_config
from ..utils import malloc_tuning
from .codec import HaarCodec, VGGCodec  # noqa: F401  (registers the codecs)
from .ift import IFT
from . import rram  # noqa: F401  (registers the subnets)


class DeepSymmetricNet(nn.Module):
    """enhance: x_LQ -E-> f_L -IFT-> f_H -D-> x_HQ; degrade: x_HQ -E-> f_H -IFT^-1-> f_L -D-> x_LQ.

    One frozen codec serves both directions; the IFT is exactly invertible.
    Inputs are N x 3 x H x W in [0, 1], any H and W.
    """

    def __init__(self, codec, ift, config=None):
        super().__init__()
        self.codec = codec
        self.ift = ift
        self.config = config

    def encoder(self, x):
        return self.codec.encode(x)

    def decoder(self, f):
        return self.codec.decode(f)

    def _run(self, x, reverse):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an N x 3 x H x W image batch, got shape {tuple(x.shape)}")
        d = self.codec.size_divisor
        h, w = x.shape[2], x.shape[3]
        ph, pw = (-h) % d, (-w) % d
        if ph or pw:
            x = nn.pad(x, (0, pw, 0, ph), mode="replicate")
        y = self.decoder(self.ift(self.encoder(x), reverse=reverse))
        y = y[:, :, :h, :w] if ph or pw else y
        if jt.flags.no_grad:  # inference: done now, and its free memory goes back
            y.sync()
            malloc_tuning.release_free_memory()
        return y

    def enhance(self, x):
        """LQ -> HQ."""
        return self._run(x, reverse=False)

    def degrade(self, y):
        """HQ -> LQ."""
        return self._run(y, reverse=True)

    def execute(self, x):
        return self.enhance(x)

    def trainable_parameters(self):
        """Every parameter but the frozen codec's.

        Decided by structure, not by ``is_stop_grad()``: Jittor's ``eval()``
        stops the gradient of every parameter until ``train()``.
        """
        return [p for n, p in self.named_parameters() if not n.startswith("codec.")]


def build_codec(cfg, load_weights=True):
    if cfg["type"] == "vgg":
        if not load_weights:  # the caller fills the weights in (from a checkpoint)
            return VGGCodec(None, cfg["channels"], warn=False)
        return VGGCodec(cfg["weights"], cfg["channels"])
    return HaarCodec(cfg["haar_levels"])


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
    return DeepSymmetricNet(codec, ift, cfg)
