"""How a module is run: one definition for the whole-image forward and the exact tiled one.

Every convolution of the network is local, but the channel attention of each
RSCA (docs/design.md#rram, Eq. 8-9) pools over the *whole* feature map. So that one piece
of code serves both the ordinary forward and :mod:`jsymnet.tiling` (which
runs a photo tile by tile and must give the same numbers), modules describe
their work in the following terms, and both runners call those descriptions.

**Stages.** A coupling subnet is a list of :class:`Stage`: local steps cut at
its global poolings. ``stage.fn(maps, pooled)`` maps a tuple of feature maps
(batched, in the active :mod:`.layout`) to ``(new maps, pool)``: ``pool`` is a tensor whose per-channel mean
over the whole map the *next* stage receives as ``pooled`` (None: no
pooling). ``stage.depth`` is the number of 3x3 convolutions on its longest
path, i.e. the pixels of context it needs. :func:`run_stages` is the ordinary
forward; the tiled runner runs each stage over all tiles before the next and
sums the pooled map over the tiles' interiors. A stage may return one of its
input tensors unchanged (the runner then keeps that map without copying it).

**Zero padding.** Convolutions are :class:`Conv` (made by ``init.conv3x3``)
and the codec's functional convolutions call :func:`zero_outside` on their
input. On a whole image that does nothing. On a tile that reaches past the
image, the tiled runner activates a 0/1 mask of the image
(:func:`padding_masks`), which makes each convolution see zeros there, as
its zero padding does on the whole image.

**Executors.** An invertible block (Eq. 3-4) is written once against an
executor: ``ex.subnet(net, x)``, ``ex.pointwise(fn, *xs)``, ``ex.split(x, c)``,
``ex.concat(a, b)``, ``ex.block_done(f)``. :data:`DIRECT` evaluates them on
whole tensors as they come (Jittor's lazy graph; what training uses);
:data:`EAGER` also executes each block before the next one is built, so only
one block's buffers are alive (inference without a graph); the tiled runner
has its own executor over full-size maps.
"""
import contextlib
from typing import Callable, NamedTuple

from jittor import nn

from . import layout


class Stage(NamedTuple):
    """One local step of a subnet: ``fn(maps, pooled) -> (maps, pool)``; ``depth`` 3x3 convs."""
    fn: Callable
    depth: int


def run_stages(stages, x):
    """The ordinary forward of a staged module: each ``pool`` becomes the next ``pooled``."""
    maps, pooled = (x,), None
    for stage in stages:
        maps, pool = stage.fn(maps, pooled)
        pooled = None if pool is None else layout.active().spatial_mean(pool)
    return maps[0]


class Staged(nn.Module):
    """A module whose forward is its :meth:`stages` (a coupling subnet): :meth:`run`
    runs them on a map in the active layout (what the network calls), and calling the
    module takes and returns N x C x H x W (:func:`.layout.public`). A subclass sets
    ``in_channels`` and gives ``stages()``."""

    in_channels = None

    def stages(self):
        """The computation as a list of :class:`Stage`."""
        raise NotImplementedError

    def run(self, x):
        return run_stages(self.stages(), x)

    def execute(self, x):
        return layout.public(self.run, x, self.in_channels, type(self).__name__)


def around(stages, entry=None, entry_depth=0, final=None, final_depth=0):
    """``stages`` with a local tensor -> tensor ``entry`` fused into the first stage (on its
    first map) and ``final`` into the last (on its result), so neither costs a pass."""
    stages = list(stages)
    if entry is not None:
        first = stages[0]
        stages[0] = Stage(lambda maps, pooled: first.fn((entry(maps[0]),) + tuple(maps[1:]),
                                                        pooled), first.depth + entry_depth)
    if final is not None:
        last = stages[-1]

        def finish(maps, pooled):
            out, pool = last.fn(maps, pooled)
            return (final(out[0]),), pool
        stages[-1] = Stage(finish, last.depth + final_depth)
    return stages


# -- zero padding on tiles ----------------------------------------------------------------
_MASKS = {}


@contextlib.contextmanager
def padding_masks(*masks):
    """While active, :func:`zero_outside` multiplies maps by the mask of their size
    (each mask made by ``Layout.mask``: 1 inside the image, 0 outside)."""
    old = dict(_MASKS)
    lay = layout.active()
    _MASKS.update({lay.size(m): m for m in masks})
    try:
        yield
    finally:
        _MASKS.clear()
        _MASKS.update(old)


def zero_outside(x):
    """``x`` with everything outside the image set to zero (a no-op on whole images)."""
    mask = _MASKS.get(layout.active().size(x)) if _MASKS else None
    return x if mask is None else x * mask


class Conv(nn.Conv):
    """``nn.Conv`` (stride 1, one group) in the active layout, whose zero padding also
    holds at the image border inside a tile."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        if (self.stride != (1, 1) or self.dilation != (1, 1) or self.groups != 1
                or self.padding[0] != self.padding[1]):
            raise ValueError("stages.Conv: stride 1, dilation 1, one group and equal padding "
                             "only (all the network uses)")

    def execute(self, x):
        return layout.active().conv(zero_outside(x) if any(self.padding) else x,
                                    self.weight, self.bias, self.padding[0])


def check_tileable(module):
    """Names of convolutions in ``module`` that pad but are not :class:`Conv` (they
    would see the neighbouring tile's pixels where the image has zeros)."""
    return [name for name, m in module.named_modules()
            if isinstance(m, nn.Conv) and not isinstance(m, Conv) and any(m.padding)]


# -- executors ----------------------------------------------------------------------------
class Direct:
    """Evaluates a block's pieces on whole tensors, as they come."""

    def split(self, x, c):
        return layout.active().split(x, c)

    def concat(self, a, b):
        return layout.active().concat([a, b])

    def subnet(self, net, x):
        return net.run(x)

    def pointwise(self, fn, *xs):
        return fn(*xs)

    def block_done(self, f):
        return f


class Eager(Direct):
    """:class:`Direct`, and each block executed before the next is built (no graph needed)."""

    def block_done(self, f):
        f.sync()
        return f


DIRECT = Direct()
EAGER = Eager()
