"""Invertible feature transformer (SPEC section 3, paper Eq. 3-4)."""
import jittor as jt
from jittor import nn

from . import layout
from .registry import SUBNETS, lookup
from .stages import DIRECT


class InvertibleBlock(nn.Module):
    """Affine coupling with shifts F, G and exponential-sigmoid scale H.

    Degrade direction (the release's forward), on x = [x1, x2]:
        y1 = x1 + F(x2);  s = c (2 sigmoid(H(y1)) - 1);  y2 = x2 exp(s) + G(y1)
    Enhance direction (its exact inverse, the release's reverse):
        s = c (2 sigmoid(H(x1)) - 1);  y2 = (x2 - G(x1)) exp(-s);  y1 = x1 - F(y2)

    With ``swap``, degrade ends by exchanging the halves, ``[y2, y1]``, and enhance
    starts by exchanging them back (P, the exchange, is its own inverse for equal
    halves). x1 is only ever shifted (``y1 = x1 + F(x2)``), never scaled; exchanged,
    each channel is scaled in every other block, so a gain can reach the detail it
    carries instead of being rebuilt by F from the other half.

    The ordinary forward, training and the exact tiled runner go through
    :meth:`enhance` / :meth:`degrade`, written once against an executor ``ex``
    (:mod:`.stages`); the reversible backward calls the half-steps and :meth:`exchange`.
    """

    def __init__(self, channels=64, split=32, clamp=1.0, subnet="rram", subnet_cfg=None,
                 swap=False):
        super().__init__()
        if not 0 < split < channels:
            raise ValueError(f"split {split} must lie strictly between 0 and channels {channels}")
        if swap and 2 * split != channels:
            raise ValueError(f"swap exchanges equal halves: split {split} must be half of "
                             f"{channels} channels")
        self.split = split
        self.swap = bool(swap)
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
        """s of H's input ``a``."""
        return self.log_scale(self.H(a))

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

    def exchange(self, t):
        """P: ``[a, b] -> [b, a]`` along channels with ``swap`` (its own inverse), else ``t``.
        For whole tensors (the reversible backward); the directions use the executor."""
        if not self.swap:
            return t
        lay = layout.active()
        x1, x2 = lay.split(t, self.split)
        return lay.concat([x2, x1])

    def enhance(self, x, ex=DIRECT):
        x1, x2 = ex.split(x, self.split)
        if self.swap:
            x1, x2 = x2, x1
        y2 = ex.pointwise(self.y2_enhance, x2, ex.subnet(self.G, x1), ex.subnet(self.H, x1))
        y1 = ex.pointwise(self.y1_enhance, x1, ex.subnet(self.F, y2))
        return ex.concat(y1, y2)

    def degrade(self, x, ex=DIRECT):
        x1, x2 = ex.split(x, self.split)
        y1 = ex.pointwise(self.y1_degrade, x1, ex.subnet(self.F, x2))
        y2 = ex.pointwise(self.y2_degrade, x2, ex.subnet(self.G, y1), ex.subnet(self.H, y1))
        return ex.concat(y2, y1) if self.swap else ex.concat(y1, y2)

    def execute(self, x, reverse=False, ex=DIRECT):
        return self.degrade(x, ex) if reverse else self.enhance(x, ex)


class IFT(nn.Module):
    """A stack of invertible blocks: f_L -> f_H (enhance) and its exact inverse.

    Block i here is the release's ``operations.{i+1}``. Enhance runs the
    blocks last to first, each in its enhance direction; ``reverse=True``
    (degrade) runs them first to last (:meth:`order`).
    """

    def __init__(self, channels=64, num_blocks=8, split=None, clamp=1.0, subnet="rram",
                 subnet_cfg=None, swap=False):
        super().__init__()
        split = channels // 2 if split is None else split
        self.blocks = nn.ModuleList([InvertibleBlock(channels, split, clamp, subnet, subnet_cfg,
                                                     swap)
                                     for _ in range(num_blocks)])

    def order(self, reverse=False):
        """The blocks in the order a direction applies them."""
        blocks = list(self.blocks)
        return blocks if reverse else blocks[::-1]

    def execute(self, f, reverse=False, ex=DIRECT):
        for block in self.order(reverse):
            f = ex.block_done(block(f, reverse, ex))
        return f
