"""Exact tiled inference: tiled output == untiled output, for photos of any size.

Why naive tiles are wrong
-------------------------
Every convolution of the network is local (3x3, stride 1, zero padding;
docs/design.md#data-flow), but every RSCA's channel attention
(docs/design.md#rram, Eq. 8-9) pools x_h over the *whole* feature map:
``m = sigmoid(W2 PReLU(W1 mean(x_h)))``. So each output pixel depends on every
input pixel, and a tile run on its own sees the wrong means. With T rounds in each
of the 3 subnets of each of the B blocks there are 3 B T such global averages.

How it is made exact
--------------------
The runner executes the network's own code (nothing of it is re-written
here), driven through the hooks of :mod:`jsymnet.models.stages`:

* the codec's ``encode`` and ``decode`` run tile by tile (``codec.halo``
  pixels of context, ``codec.size_divisor`` image pixels per feature pixel);
* each invertible block runs its ``enhance`` / ``degrade`` with the executor
  of this module, whose values are full-size float32 maps (one image's
  NumPy array in the active layout, :mod:`jsymnet.models.layout`: C x H x W,
  or H x W x C channels-last);
* each coupling subnet is run stage by stage (``net.stages()``), every stage
  over all tiles before the next one starts. A stage reads its input maps
  tile by tile with a *halo* and writes only each tile's interior back. A
  chain of k 3x3 convolutions needs k pixels of context, so the halo is the
  largest ``depth`` of any stage (:func:`stage_halo`: 3 for the RRAM), not
  the receptive field of the whole network (:func:`receptive_field`), which
  naive overlap-tiling would need and still not be exact. While a stage runs,
  the per-channel sums of its ``pool`` map over the tiles' interiors (which
  partition the map) are added up in float64; their total divided by H x W is
  exactly the global mean the untiled network computes, and the next stage
  gets it as ``pooled``.
* the coupling's pointwise half-steps are fused into the last stage of the
  subnet they consume, so they cost no pass of their own.

Image borders: all tiles have one fixed shape (so Jittor compiles each kernel
once); where a tile reaches past the image, it is zero-filled and every
convolution's input is multiplied by a 0/1 mask of the image
(``stages.padding_masks``), which reproduces the zero padding exactly. The
Haar codec's replicate padding to a multiple of its size is done once on the
whole image (``DeepSymmetricNet.padding``), and tiles are aligned to it.

The results agree with the untiled network to float32 rounding (sums in
another order; tested < 1e-3 in ``tests/test_enhance_tiling.py``).

Memory: only one tile's activations live in Jittor at a time. Between stages
the maps a stage reads and writes are kept as float32 arrays at the feature
resolution; when their estimated peak exceeds ``ram_budget_gb``, they are
memory-mapped temporary files instead (freed as soon as they are no longer
used): slower, but exact and bounded.
"""
import math
import tempfile
from dataclasses import dataclass

import jittor as jt
import numpy as np

from .errors import JsymnetError
from .models import layout
from .models.stages import check_tileable, padding_masks

DEFAULT_RAM_BUDGET_GB = 3.0
DEFAULT_TILE = 1024            # interior tile side, image pixels: every caller's default
MIN_TILE_FEATURES = 8          # a tile is at least this many feature pixels a side


def auto_max_megapixels(model, base=2.0):
    """Largest photo run in one piece when no limit is given: ``base`` MP for the small models.

    Scaled by the widest feature map per image pixel (the sample model: 32
    channels at a quarter of the pixels, 8 per pixel; the default model: 64 at
    a sixteenth, 4 per pixel, capped at ``base``; the release VGG model:
    128 per pixel, so 16 times less, but at least 0.25 MP: a 600 x 400 LOL
    photo runs in one piece).
    """
    widest = max(model.widest_channels(), int(model.codec.out_channels))
    per_pixel = widest / float(model.codec.size_divisor) ** 2
    return max(0.25, min(base, base * 8.0 / per_pixel))


def tile_in_use(model, tile):
    """The interior tile side (image pixels) a request for ``tile`` runs with: a whole
    number of the codec's feature pixels (``size_divisor`` image pixels each), at least
    :data:`MIN_TILE_FEATURES` of them."""
    d = int(model.codec.size_divisor)
    return max(MIN_TILE_FEATURES, int(tile) // d) * d


@dataclass(frozen=True)
class TileOptions:
    """How photos are tiled; the result never depends on them (the tiling is exact).

    ``tile``: interior tile side in image pixels, every photo tiled; None tiles only
    photos above ``max_megapixels``, with :data:`DEFAULT_TILE`. ``overlap``: extra
    context per tile in image pixels (the exact halo comes from the architecture;
    this can only widen it). ``max_megapixels``: None takes
    :func:`auto_max_megapixels` of the model. ``ram_budget_gb``: above it, the
    full-size maps between stages are memory-mapped temporary files.
    """
    tile: int = None
    overlap: int = 0
    max_megapixels: float = None
    ram_budget_gb: float = DEFAULT_RAM_BUDGET_GB

    def tile_for(self, model, h, w):
        """The tile side an ``h`` x ``w`` photo runs with (:func:`tile_in_use`), or None
        when it runs in one piece."""
        tile = self.tile
        if tile is None:
            limit = self.max_megapixels
            if limit is None:
                limit = auto_max_megapixels(model)
            if h * w <= limit * 1e6:
                return None
            tile = DEFAULT_TILE
        return tile_in_use(model, tile)

    def runner(self, model, tile, progress=None):
        """The :class:`TiledRunner` of these options for ``tile`` (from :meth:`tile_for`)."""
        return TiledRunner(model, tile=tile, overlap=self.overlap,
                           ram_budget_gb=self.ram_budget_gb, progress=progress)


class TilingError(JsymnetError, ValueError):
    """The model has a part that the exact tiled execution cannot run."""


def _stages(net):
    if not callable(getattr(net, "stages", None)):
        raise TilingError(f"exact tiling needs each subnet to describe its stages (a stages() "
                          f"method, see jsymnet/models/stages.py); {type(net).__name__} does "
                          f"not: run this model untiled (tile=None and a larger max_megapixels)")
    return net.stages()


def _codec_halo(codec):
    halo = getattr(codec, "halo", None)
    if halo is None:
        raise TilingError(f"exact tiling needs the codec {type(codec).__name__} to declare its "
                          f"context (a 'halo' attribute, see jsymnet/models/codec.py)")
    return int(halo)


def _subnets(model):
    return [sub for block in model.ift.blocks for sub in (block.F, block.G, block.H)]


def stage_halo(model):
    """Halo (feature pixels) each tile needs: the most 3x3 convs in one stage.

    3 for the RRAM (entry conv + the two convs of the first RSCA branch).
    """
    return max([_codec_halo(model.codec)]
               + [stage.depth for sub in _subnets(model) for stage in _stages(sub)])


def receptive_field(model):
    """Radius (feature pixels) of the local part of the whole network.

    The number of 3x3 convolutions on the longest path: the codec's both ways,
    and per block the subnets on x1 (G and H, side by side) then F. This is
    what an overlap would need for tiles run independently, if the attention
    were local; it is not, which is why the tiling here runs stage by stage.
    """
    per_block = 2 * sum(stage.depth for stage in _stages(model.ift.blocks[0].F))
    return 2 * _codec_halo(model.codec) + per_block * len(model.ift.blocks)


class _Grid:
    """Tiles of one fixed shape over an h x w feature map, interiors partitioning it.

    Maps at ``scale`` times the grid's resolution (the image, for the codec)
    are read and written at that scale, found from their size.
    """

    def __init__(self, h, w, tile, halo):
        ny, nx = math.ceil(h / tile), math.ceil(w / tile)
        self.th, self.tw = math.ceil(h / ny), math.ceil(w / nx)
        self.h, self.w, self.halo = h, w, halo
        self.origins = [(y, x) for y in range(0, h, self.th) for x in range(0, w, self.tw)]
        self.shape = (self.th + 2 * halo, self.tw + 2 * halo)
        self._staging = {}

    def read(self, arr, y0, x0):
        """Tile with halo of one image's map, zero outside: a batch-of-one Jittor var."""
        lay = layout.active()
        (h, w), c = lay.np_size(arr), lay.np_channels(arr)
        g, scale = self.halo, h // self.h
        th, tw = self.shape
        key = (c, scale)
        if key not in self._staging:    # reused: fresh large arrays cost page faults
            self._staging[key] = np.zeros(lay.np_shape(c, th * scale, tw * scale), np.float32)
        out = self._staging[key]
        ya, yb = max(0, (y0 - g) * scale), min(h, (y0 - g + th) * scale)
        xa, xb = max(0, (x0 - g) * scale), min(w, (x0 - g + tw) * scale)
        oy, ox = ya - (y0 - g) * scale, xa - (x0 - g) * scale
        if (yb - ya, xb - xa) != lay.np_size(out):
            out.fill(0)
        out[lay.np_at(slice(oy, oy + yb - ya), slice(ox, ox + xb - xa))] = \
            arr[lay.np_at(slice(ya, yb), slice(xa, xb))]
        return jt.array(out[None])

    def masks(self, y0, x0, scales):
        """1 inside the map, 0 outside: a mask per scale (``Layout.mask``)."""
        g = self.halo
        m = np.zeros(self.shape, np.float32)
        ya, yb = max(0, y0 - g), min(self.h, y0 - g + self.shape[0])
        xa, xb = max(0, x0 - g), min(self.w, x0 - g + self.shape[1])
        m[ya - (y0 - g):yb - (y0 - g), xa - (x0 - g):xb - (x0 - g)] = 1
        lay = layout.active()
        return [lay.mask(m if s == 1 else np.kron(m, np.ones((s, s), np.float32)))
                for s in scales]

    def interior(self, tile, y0, x0):
        """(numpy interior of one image's tile map, its index in the full map)."""
        lay = layout.active()
        g, scale = self.halo, lay.np_size(tile)[0] // self.shape[0]
        y1, x1 = min(y0 + self.th, self.h), min(x0 + self.tw, self.w)
        data = tile[lay.np_at(slice(g * scale, (g + y1 - y0) * scale),
                              slice(g * scale, (g + x1 - x0) * scale))]
        return data, lay.np_at(slice(y0 * scale, y1 * scale), slice(x0 * scale, x1 * scale))


class _Maps:
    """Allocates the full-size float32 maps: RAM, or memory-mapped temporary files."""

    def __init__(self, nbytes_needed, ram_budget_gb):
        self.on_disk = nbytes_needed > ram_budget_gb * 1e9
        self._dir = tempfile.TemporaryDirectory(prefix="jsymnet-tiles-") if self.on_disk else None

    def new(self, shape):
        if not self.on_disk:
            return np.empty(shape, np.float32)
        # an unlinked file: its disk space goes back as soon as the map is dropped
        return np.memmap(tempfile.TemporaryFile(dir=self._dir.name), np.float32, "w+",
                         shape=shape)

    def close(self):
        if self._dir is not None:
            self._dir.cleanup()


class _Pending:
    """A subnet's output not computed yet, so that the pointwise step consuming it can be
    fused into the subnet's last stage."""

    def __init__(self, net, x):
        self.net, self.x = net, x


class _TiledExecutor:
    """The executor of :mod:`jsymnet.models.stages` over full-size maps, for one run."""

    def __init__(self, runner):
        self.runner = runner

    def value(self, a):
        return self.runner.subnet(a.net, a.x) if isinstance(a, _Pending) else a

    def split(self, x, c):
        x, lay = self.value(x), layout.active()
        return x[lay.np_channel_slice(None, c)], x[lay.np_channel_slice(c, None)]

    def concat(self, a, b):
        (a, b), lay = (self.value(a), self.value(b)), layout.active()
        ca = lay.np_channels(a)
        out = self.runner.maps.new(lay.np_shape(ca + lay.np_channels(b), *lay.np_size(a)))
        out[lay.np_channel_slice(None, ca)] = a
        out[lay.np_channel_slice(ca, None)] = b
        return out

    def subnet(self, net, x):
        return _Pending(net, self.value(x))

    def pointwise(self, fn, *xs):
        xs = list(xs)
        pending = [i for i, a in enumerate(xs) if isinstance(a, _Pending)]
        for i in pending[:-1]:
            xs[i] = self.value(xs[i])
        if not pending:
            return self.runner.run_pass(lambda tiles, _: ((fn(*tiles),), None), xs)[0][0]
        i = pending[-1]
        p, others = xs[i], xs[:i] + xs[i + 1:]
        return self.runner.subnet(p.net, p.x, lambda out, *t: fn(*t[:i], out, *t[i:]), others)

    def block_done(self, f):
        return self.value(f)


class TiledRunner:
    """Runs a :class:`DeepSymmetricNet` on an image tile by tile, exactly.

    ``tile`` is the interior tile side in image pixels (:func:`tile_in_use` says what
    it becomes: :attr:`tile`); the halo is
    :func:`stage_halo` (feature pixels), widened to ``overlap`` image pixels
    when that is larger (more context changes nothing in the result).
    """

    def __init__(self, model, tile=DEFAULT_TILE, overlap=0,
                 ram_budget_gb=DEFAULT_RAM_BUDGET_GB, progress=None):
        self.model = model
        self.codec = model.codec
        self.d = int(self.codec.size_divisor)
        self.tile = tile_in_use(model, tile)           # what it runs with, in image pixels
        self.tile_f = self.tile // self.d
        self.halo = max(stage_halo(model), math.ceil(int(overlap or 0) / self.d))
        self.ram_budget_gb = ram_budget_gb
        self.progress = progress  # callable(done_passes, total_passes) or None
        loose = check_tileable(model)
        if loose:
            raise TilingError(f"exact tiling needs every padded convolution to be a "
                              f"jsymnet.models.stages.Conv (models.init.conv3x3); these are "
                              f"not: {loose[:5]}")

    # -- bookkeeping ------------------------------------------------------------
    def planned_passes(self):
        """Passes over the tiles a run takes: encode, one per subnet stage (each pointwise
        step fused into the stage that feeds it), decode."""
        return 2 + sum(len(_stages(sub)) for sub in _subnets(self.model))

    def _tick(self):
        self._done += 1
        self._total = max(self._total, self._done)
        if self.progress is not None:
            self.progress(self._done, self._total)

    def _bytes_needed(self, hf, wf):
        """A bound on the maps alive at once: a few of the block's features and of the
        widest feature map any subnet carries between stages."""
        return 4 * hf * wf * (4 * self.codec.out_channels + 6 * self.model.widest_channels())

    # -- passes -----------------------------------------------------------------
    def run_pass(self, fn, inputs, pooled=None):
        """``fn(tiles, pooled) -> (out tiles, pool)`` over every tile of the ``inputs`` maps.

        Returns (output maps, float64 per-channel sums of ``pool`` over the
        interiors, or None). An output that is one of the input tiles passes its map
        through uncopied.
        """
        g, lay = self.grid, layout.active()
        pooled = None if pooled is None else lay.vector(pooled)
        outputs = through = None
        total = None
        for y0, x0 in g.origins:
            tiles = tuple(g.read(a, y0, x0) for a in inputs)
            with padding_masks(*g.masks(y0, x0, sorted({1, self.d}))):
                outs, pool = fn(tiles, pooled)
            jt.sync(list(outs) + ([pool] if pool is not None else []))
            if outputs is None:
                through = [next((j for j, t in enumerate(tiles) if o is t), None) for o in outs]
                outputs = [inputs[j] if j is not None else
                           self.maps.new(lay.np_shape(lay.channels(o),
                                                      g.h * (lay.size(o)[0] // g.shape[0]),
                                                      g.w * (lay.size(o)[1] // g.shape[1])))
                           for o, j in zip(outs, through)]
            for o, dst, j in zip(outs, outputs, through):
                if j is None:
                    data, where = g.interior(o.numpy()[0], y0, x0)
                    dst[where] = data
            if pool is not None:
                data, _ = g.interior(pool.numpy()[0], y0, x0)
                s = lay.np_channel_sums(data)
                total = s if total is None else total + s
            del outs, pool, tiles
        self._tick()
        return tuple(outputs), total

    def subnet(self, net, src, finish=None, extra=()):
        """``net(src)`` stage by stage; with ``finish``, ``finish(out, *extra tiles)`` is
        fused into the last stage. Returns the output map."""
        maps, pooled = (src,), None
        count = float(self.grid.h * self.grid.w)
        stages = _stages(net)
        for k, stage in enumerate(stages):
            fn, inputs = stage.fn, maps
            if finish is not None and k == len(stages) - 1:
                n = len(maps)

                def fn(tiles, pooled, fn=stage.fn, n=n):
                    out, pool = fn(tiles[:n], pooled)
                    return (finish(out[0], *tiles[n:]),), pool
                inputs = maps + tuple(extra)
            maps, sums = self.run_pass(fn, inputs, pooled)
            pooled = None if sums is None else sums / count
        return maps[0]

    def run(self, image, reverse=False):
        """image: float32 H x W x 3 in [0, 1] -> float32 H x W x 3 (not clipped).

        ``reverse=False`` enhances, ``True`` degrades (docs/design.md#data-flow).
        """
        h, w = image.shape[:2]
        ph, pw = self.model.padding(h, w)
        lay = layout.active()
        image = image.astype(np.float32, copy=False)
        if ph or pw:   # the network's replicate padding
            image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge")
        pixels = lay.np_from_image(image)
        hf, wf = (h + ph) // self.d, (w + pw) // self.d
        self.grid = _Grid(hf, wf, self.tile_f, self.halo)
        self.maps = _Maps(self._bytes_needed(hf, wf), self.ram_budget_gb)
        self._done, self._total = 0, self.planned_passes()
        codec = self.codec
        try:
            with jt.no_grad():
                (f,), _ = self.run_pass(lambda t, _: ((codec.run_encode(t[0]),), None), [pixels])
                del pixels, image
                f = self.model.ift.run(f, reverse, _TiledExecutor(self))
                (out,), _ = self.run_pass(lambda t, _: ((codec.run_decode(t[0]),), None), [f])
                del f
                return lay.np_to_image(out[lay.np_at(slice(None, h), slice(None, w))])
        finally:
            self.maps.close()
