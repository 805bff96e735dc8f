"""Invertible feature transformer (docs/design.md#ift, paper Eq. 3-4)."""
import jittor as jt
from jittor import nn

from . import layout
from ..registry import SUBNETS, lookup
from .stages import DIRECT


class InvertibleBlock(nn.Module):
    """Affine coupling with shifts F, G and exponential-sigmoid scale H.

    Degrade direction (the release's forward), on x = [x1, x2]:
        y1 = x1 + F(x2);  s = c (2 sigmoid(H(y1)) - 1);  y2 = x2 exp(s) + G(y1)
    Enhance direction (its exact inverse, the release's reverse):
        s = c (2 sigmoid(H(x1)) - 1);  y2 = (x2 - G(x1)) exp(-s);  y1 = x1 - F(y2)

    Calling the block (``block(x, reverse=False)``) takes and returns N x C x H x W.
    Inside the network the ordinary forward, training and the exact tiled runner go
    through :meth:`run` (:meth:`enhance` / :meth:`degrade`, in the active layout),
    written once against an executor ``ex`` (:mod:`.stages`); the reversible backward
    calls the half-steps.
    """

    def __init__(self, channels=64, split=32, clamp=1.0, subnet="rram", subnet_cfg=None):
        super().__init__()
        if not 0 < split < channels:
            raise ValueError(f"split {split} must lie strictly between 0 and channels {channels}")
        self.channels = channels
        self.split = split
        self.clamp = clamp
        other = channels - split
        make = lookup(SUBNETS, subnet, "subnet")
        self.F = make(other, split, subnet_cfg)
        self.G = make(split, other, subnet_cfg)
        self.H = make(split, other, subnet_cfg)

    def log_scale(self, h):
        """s = c (2 sigmoid(h) - 1), h the output of H."""
        return self.clamp * (jt.sigmoid(h) * 2 - 1)

    def scale(self, a):
        """s of H's input ``a`` (active layout)."""
        return self.log_scale(self.H.run(a))

    # the four half-steps of the coupling (pointwise; g, h, f the outputs of G, H, F)
    def y2_enhance(self, x2, g, h):
        return (x2 - g) * jt.exp(-self.log_scale(h))

    def y2_degrade(self, x2, g, h):
        return x2 * jt.exp(self.log_scale(h)) + g

    @staticmethod
    def y1_enhance(x1, f):
        return x1 - f

    @staticmethod
    def y1_degrade(x1, f):
        return x1 + f

    def enhance(self, x, ex=DIRECT):
        x1, x2 = ex.split(x, self.split)
        y2 = ex.pointwise(self.y2_enhance, x2, ex.subnet(self.G, x1), ex.subnet(self.H, x1))
        y1 = ex.pointwise(self.y1_enhance, x1, ex.subnet(self.F, y2))
        return ex.concat(y1, y2)

    def degrade(self, x, ex=DIRECT):
        x1, x2 = ex.split(x, self.split)
        y1 = ex.pointwise(self.y1_degrade, x1, ex.subnet(self.F, x2))
        y2 = ex.pointwise(self.y2_degrade, x2, ex.subnet(self.G, y1), ex.subnet(self.H, y1))
        return ex.concat(y1, y2)

    def run(self, x, reverse=False, ex=DIRECT):
        """The block on features in the active layout (the network's own calls)."""
        return self.degrade(x, ex) if reverse else self.enhance(x, ex)

    def execute(self, x, reverse=False, ex=DIRECT):
        return layout.public(lambda t: self.run(t, reverse, ex), x, self.channels,
                             "an invertible block")


class IFT(nn.Module):
    """A stack of invertible blocks: f_L -> f_H (enhance) and its exact inverse.

    Block i here is the release's ``operations.{i+1}``. Enhance runs the
    blocks last to first, each in its enhance direction; ``reverse=True``
    (degrade) runs them first to last (:meth:`order`). ``ift(f, reverse)`` takes and
    returns N x C x H x W; :meth:`run` is the same in the active layout.
    """

    def __init__(self, channels=64, num_blocks=8, split=None, clamp=1.0, subnet="rram",
                 subnet_cfg=None):
        super().__init__()
        split = channels // 2 if split is None else split
        self.channels = channels
        self.blocks = nn.ModuleList([InvertibleBlock(channels, split, clamp, subnet, subnet_cfg)
                                     for _ in range(num_blocks)])

    def order(self, reverse=False):
        """The blocks in the order a direction applies them."""
        blocks = list(self.blocks)
        return blocks if reverse else blocks[::-1]

    def run(self, f, reverse=False, ex=DIRECT):
        """The IFT on features in the active layout (the network's own calls)."""
        for block in self.order(reverse):
            f = ex.block_done(block.run(f, reverse, ex))
        return f

    def execute(self, f, reverse=False, ex=DIRECT):
        return layout.public(lambda t: self.run(t, reverse, ex), f, self.channels, "the IFT")
