"""Exact tiled inference: tiled output == untiled output, for photos of any size.

Why naive tiles are wrong
-------------------------
Every convolution of the network is local (3x3, stride 1, zero padding;
SPEC 1), but every RSCA's channel attention (SPEC 4, Eq. 8-9) pools x_h over
the *whole* feature map: ``m = sigmoid(W2 PReLU(W1 mean(x_h)))``. So each
output pixel depends on every input pixel, and a tile run on its own sees the
wrong means. With T rounds in each of the 3 subnets of each of the B blocks
there are 3 B T such global averages (72 for the release model, 24 for the
sample model).

How it is made exact
--------------------
The network is executed *stage by stage*, every stage over all tiles before
the next one starts. A stage ends where a global mean is needed (a sync
point); between two sync points there are only local operations:

=========================  ======================================  ===========
stage                      operations (per tile)                   3x3 convs
=========================  ======================================  ===========
encode                     E (VGG: 2 convs; Haar: 2x2 blocks)      2 / 0
subnet, round 1            x_fi = PReLU(conv(x)) (Eq. 10); u = x_fi;  3
                           x_h = conv(PReLU(conv(u))) (Eq. 7)
subnet, round t = 2..T     apply round t-1's attention, then       2
                           u_t = x_fo + u_(t-1) (Eq. 5-6); x_h
finish                     x_fo = x_h m + u; conv (Eq. 11), then   1
                           the coupling of Eq. 3-4 (pointwise)
decode                     D (VGG: 2 transposed convs)             2 / 0
=========================  ======================================  ===========

(u_(t+1) = h^(t+1) + x_fi = x_fo^t + u_t follows from h^(t+1) = h^t + x_fo^t.)
Each stage reads its inputs from full-size maps kept between stages (the
block's features x and, inside a subnet, u and x_h), tile by tile with a
*halo*, and writes only each tile's interior back. A 3x3 convolution needs 1
pixel of context, so a chain of k of them needs a halo of k pixels: the halo
is the largest number of 3x3 convolutions in any stage (3 for the RRAM,
:func:`stage_halo`), NOT the receptive field of the whole network
(:func:`receptive_field`: 132 pixels for the release model), which is what
naive overlap-tiling would need and still not be exact. While a stage runs
over its tiles, the per-channel sums of x_h over each tile's interior (the
tiles' interiors partition the map) are added up in float64; after the
stage, their total divided by H x W is exactly the global mean that the
untiled network computes, and the attention of that round uses it in the next
stage. Cropping the halo is the whole blending: every interior pixel is
computed from exactly the values the untiled network sees, so there is no seam
to hide.

Image borders: the untiled network zero-pads the input of every convolution.
All tiles have one fixed shape (so Jittor compiles each kernel once); where a
tile reaches past the image, it is zero-filled and every convolution's input
is multiplied by a 0/1 mask of the image, which reproduces that zero padding
exactly. The Haar codec pads the image to an even size by replication (as
:class:`~jsymnet.models.dsn.DeepSymmetricNet` does) and its tiles are aligned
to its 2x2 blocks.

The results agree with the untiled network to float32 rounding (sums in
another order; about 1e-6, tested < 1e-3 in ``tests/test_enhance_tiling.py``).

Memory: only one tile's activations live in Jittor at a time. Between stages
the block features (C channels) and, for the subnet being run, two pairs of
u / x_h maps (mid channels; read and written in alternation, because a tile's
halo must not see values its neighbour already replaced) are kept as float32
arrays at the feature resolution. For the sample model (Haar codec: 12 channels
at half resolution, mid 24) a 12-megapixel photo needs about 1.4 GB of them
(measured: 4000 x 3000 in 38 s on two CPU cores, peak RSS 2.1 GB).
When the maps would exceed ``ram_budget_gb`` they are put in memory-mapped
files in a temporary folder instead (the VGG release model: 64 channels at full
resolution, about 17 GB at 12 MP), which is slower but exact and bounded.
"""
import math
import tempfile

import jittor as jt
import numpy as np
from jittor import nn

from .errors import JsymnetError
from .models.codec import HaarCodec, VGGCodec
from .models.rram import RRAM, DenseSubnet, ResBlockSubnet

DEFAULT_RAM_BUDGET_GB = 3.0


class TilingError(JsymnetError, ValueError):
    """The model has a part that the exact tiled execution does not know."""


def _subnet_kind(sub):
    if isinstance(sub, RRAM):
        return "rram"
    if isinstance(sub, ResBlockSubnet):
        return "resblock"
    if isinstance(sub, DenseSubnet):
        return "dense"
    raise TilingError(f"exact tiling does not know the subnet {type(sub).__name__}; "
                      f"run this model untiled (tile=None and a larger max_megapixels)")


def _codec_convs(codec):
    if isinstance(codec, VGGCodec):
        return 2
    if isinstance(codec, HaarCodec):
        return 0
    raise TilingError(f"exact tiling does not know the codec {type(codec).__name__}")


def _subnet_stage_convs(sub):
    """3x3 convolutions in each stage of one subnet (see the module docstring)."""
    kind = _subnet_kind(sub)
    if kind == "dense":
        return [len(sub.convs) + 1]           # one local stage, no global pooling
    rounds = sub.rounds if kind == "rram" else len(sub.blocks)
    return [3] + [2] * (rounds - 1) + [1]


def stage_halo(model):
    """Halo (feature pixels) each tile needs: the most 3x3 convs in one stage.

    3 for the RRAM (entry conv + the two convs of the first RSCA branch).
    """
    block = model.ift.blocks[0]
    return max([_codec_convs(model.codec)] + _subnet_stage_convs(block.F))


def receptive_field(model):
    """Radius (feature pixels) of the local part of the whole network.

    The number of 3x3 convolutions on the longest path: 2 + 2 for the VGG codec,
    and per block the subnets on x1 (G and H, side by side) then F. This is
    what an overlap would need for tiles run independently, if the attention
    were local; it is not, which is why the tiling here runs stage by stage.
    """
    per_block = 2 * sum(_subnet_stage_convs(model.ift.blocks[0].F))
    return 2 * _codec_convs(model.codec) + per_block * len(model.ift.blocks)


class _Grid:
    """Tiles of one fixed shape over an h x w feature map, interiors partitioning it."""

    def __init__(self, h, w, tile, halo):
        ny, nx = math.ceil(h / tile), math.ceil(w / tile)
        self.th, self.tw = math.ceil(h / ny), math.ceil(w / nx)
        self.h, self.w, self.halo = h, w, halo
        self.origins = [(y, x) for y in range(0, h, self.th) for x in range(0, w, self.tw)]
        self.shape = (self.th + 2 * halo, self.tw + 2 * halo)
        self._staging = {}

    def read(self, arr, y0, x0, scale=1):
        """Tile with halo of a C x H x W array (H, W = scale x the grid's), zero outside."""
        g = self.halo
        c = arr.shape[0]
        th, tw = self.shape
        key = (c, scale)
        if key not in self._staging:    # reused: fresh large arrays cost page faults
            self._staging[key] = np.zeros((1, c, th * scale, tw * scale), np.float32)
        out = self._staging[key]
        ya, yb = max(0, (y0 - g) * scale), min(arr.shape[1], (y0 - g + th) * scale)
        xa, xb = max(0, (x0 - g) * scale), min(arr.shape[2], (x0 - g + tw) * scale)
        oy, ox = ya - (y0 - g) * scale, xa - (x0 - g) * scale
        if (yb - ya, xb - xa) != out.shape[2:]:
            out.fill(0)
        out[0, :, oy:oy + yb - ya, ox:ox + xb - xa] = arr[:, ya:yb, xa:xb]
        return jt.array(out)

    def mask(self, y0, x0):
        """1 inside the map, 0 outside: 1 x 1 x th x tw."""
        g = self.halo
        m = np.zeros((1, 1) + self.shape, np.float32)
        ya, yb = max(0, y0 - g), min(self.h, y0 - g + self.shape[0])
        xa, xb = max(0, x0 - g), min(self.w, x0 - g + self.shape[1])
        m[0, 0, ya - (y0 - g):yb - (y0 - g), xa - (x0 - g):xb - (x0 - g)] = 1
        return jt.array(m)

    def interior(self, tile, y0, x0, scale=1):
        """(numpy interior of a 1 x C x th x tw tile, destination slices)."""
        g = self.halo
        y1, x1 = min(y0 + self.th, self.h), min(x0 + self.tw, self.w)
        data = tile[0, :, g * scale:(g + y1 - y0) * scale, g * scale:(g + x1 - x0) * scale]
        return data, (slice(y0 * scale, y1 * scale), slice(x0 * scale, x1 * scale))


class _Maps:
    """Allocates the full-size float32 maps kept between stages: RAM, or memmaps."""

    def __init__(self, nbytes_needed, ram_budget_gb):
        self.on_disk = nbytes_needed > ram_budget_gb * 1e9
        self._dir = tempfile.TemporaryDirectory(prefix="jsymnet-tiles-") if self.on_disk else None
        self._count = 0

    def new(self, shape):
        if not self.on_disk:
            return np.zeros(shape, np.float32)
        self._count += 1
        return np.lib.format.open_memmap(f"{self._dir.name}/map{self._count}.npy", mode="w+",
                                         dtype=np.float32, shape=shape)

    def close(self):
        if self._dir is not None:
            self._dir.cleanup()


class TiledRunner:
    """Runs a :class:`DeepSymmetricNet` on an image tile by tile, exactly.

    ``tile`` is the interior tile side in image pixels; the halo is
    :func:`stage_halo` (feature pixels), widened to ``overlap`` image pixels
    when that is larger (more context changes nothing in the result).
    """

    def __init__(self, model, tile=512, overlap=0, ram_budget_gb=DEFAULT_RAM_BUDGET_GB,
                 progress=None):
        self.model = model
        self.codec = model.codec
        self.d = int(self.codec.size_divisor)
        self.tile_f = max(8, int(tile) // self.d)
        self.halo = max(stage_halo(model), math.ceil(int(overlap or 0) / self.d))
        self.ram_budget_gb = ram_budget_gb
        self.progress = progress  # callable(done_passes, total_passes) or None
        for block in model.ift.blocks:
            for sub in (block.F, block.G, block.H):
                _subnet_kind(sub)

    # -- bookkeeping ------------------------------------------------------------
    def _passes(self):
        per_block = sum(len(_subnet_stage_convs(s)) for s in
                        (self.model.ift.blocks[0].F, self.model.ift.blocks[0].G,
                         self.model.ift.blocks[0].H))
        return 2 + per_block * len(self.model.ift.blocks)

    def _tick(self):
        self._done += 1
        if self.progress is not None:
            self.progress(self._done, self._total)

    def _bytes_needed(self, hf, wf):
        b0 = self.model.ift.blocks[0]
        c = self.codec.out_channels
        mids = [b0.F.conv1.weight.shape[0]] if not isinstance(b0.F, DenseSubnet) else [0]
        return 4 * hf * wf * (c + c + 4 * max(mids))

    def _run_pass(self, fn, inputs, outputs, sum_index=None, in_scale=1, out_scale=1):
        """One stage over every tile. Returns float64 per-channel interior sums or None."""
        g = self.grid
        total = None
        for y0, x0 in g.origins:
            mask = g.mask(y0, x0)
            tiles = [g.read(a, y0, x0, in_scale if i == 0 else 1) for i, a in enumerate(inputs)]
            outs = fn(mask, *tiles)
            jt.sync(list(outs))
            for k, (o, dst) in enumerate(zip(outs, outputs)):
                data, (sy, sx) = g.interior(o.numpy(), y0, x0, out_scale)
                if dst is not None:
                    dst[:, sy, sx] = data
                if k == sum_index:
                    s = data.sum(axis=(1, 2), dtype=np.float64)
                    total = s if total is None else total + s
            del outs, tiles, mask
        self._tick()
        return total

    # -- the network, stage by stage -----------------------------------------------
    def _attention(self, module, sums, count):
        """The channel-attention multiplier of one round, from its global sums (Eq. 8-9)."""
        if hasattr(module, "so"):      # RSCA (Eq. 8-9); so is None without attention
            att = module.so.conv_du if module.so is not None else None
        else:                          # residual block of the Table 2 ablations
            att = module.se
        if att is None or sums is None:
            return None
        mean = jt.array((sums / count).astype(np.float32).reshape(1, -1, 1, 1))
        return jt.sigmoid(att(mean)).stop_grad()

    @staticmethod
    def _branch(mod, u, mask):
        """x_h = conv(PReLU(conv(u))), Eq. 7, with the inputs of the convs masked."""
        return mod.conv2(mod.prelu(mod.conv1(u * mask)) * mask)

    def _run_subnet(self, sub, src, finish, finish_inputs, dst):
        """sub(src), fed tile by tile to ``finish(out, *finish_tiles)`` and written to dst."""
        kind = _subnet_kind(sub)
        count = float(self.grid.h * self.grid.w)
        if kind == "dense":
            def dense(mask, x, *extra):
                feats = [x * mask]
                for conv in sub.convs:
                    feats.append(nn.leaky_relu(conv(jt.concat(feats, dim=1)), 0.2) * mask)
                return [finish(sub.conv5(jt.concat(feats, dim=1)), *extra)]
            self._run_pass(dense, [src] + finish_inputs, [dst])
            return
        if kind == "rram":
            mods = [sub.rsca(t) for t in range(1, sub.rounds + 1)]
            recurrent = True
        else:
            mods = list(sub.blocks)
            recurrent = False

        def residual(u, xh, m):
            r = xh if m is None else xh * m
            return r + u          # RSCA: x_h m + x;  residual block: x + r m

        bufs = self._buffers(sub.conv1.weight.shape[0], 2 if len(mods) > 1 else 1)

        def first(mask, x):
            u = sub.prelu(sub.conv1(x * mask))                      # x_fi, Eq. 10
            return [u, self._branch(mods[0], u, mask)]
        sums = self._run_pass(first, [src], list(bufs[0]), sum_index=1)
        m = self._attention(mods[0], sums, count)
        for t in range(1, len(mods)):
            def middle(mask, u, xh, m=m, mod=mods[t]):
                x_fo = residual(u, xh, m)
                u_next = x_fo + u if recurrent else x_fo            # h^t + x_fi, Eq. 5-6
                return [u_next, self._branch(mod, u_next, mask)]
            src_pair, dst_pair = bufs[(t - 1) % 2], bufs[t % 2]
            sums = self._run_pass(middle, list(src_pair), list(dst_pair), sum_index=1)
            m = self._attention(mods[t], sums, count)
        last = bufs[(len(mods) - 1) % 2]

        def end(mask, u, xh, *extra):
            return [finish(sub.conv2(residual(u, xh, m) * mask), *extra)]   # Eq. 11
        self._run_pass(end, list(last) + finish_inputs, [dst])

    def _buffers(self, channels, pairs):
        """u / x_h map pairs, allocated once per run and shared by every subnet.

        Every stage writes every pixel of its output maps (the tile interiors
        partition them), so nothing stale is ever read.
        """
        shape = (channels, self.grid.h, self.grid.w)
        pool = self._pool.setdefault(shape, [])
        while len(pool) < pairs:
            pool.append((self.maps.new(shape), self.maps.new(shape)))
        return pool[:pairs]

    def _block(self, block, x, reverse):
        """One invertible block (Eq. 3-4, SPEC 3) in place on the C x H x W map x."""
        s = block.split
        x1, x2 = x[:s], x[s:]
        g_shape = (x.shape[0] - s,) + x.shape[1:]
        if self._g_out is None or self._g_out.shape != g_shape:
            self._g_out = self.maps.new(g_shape)
        g_out = self._g_out
        keep = lambda out: out  # noqa: E731
        if not reverse:   # enhance: y2 = (x2 - G(x1)) exp(-s(H(x1)));  y1 = x1 - F(y2)
            self._run_subnet(block.G, x1, keep, [], g_out)
            self._run_subnet(block.H, x1,
                             lambda h, x2t, gt: (x2t - gt) * jt.exp(-self._scale(block, h)),
                             [x2, g_out], x2)
            self._run_subnet(block.F, x2, lambda f, x1t: x1t - f, [x1], x1)
        else:             # degrade: y1 = x1 + F(x2);  y2 = x2 exp(s(H(y1))) + G(y1)
            self._run_subnet(block.F, x2, lambda f, x1t: x1t + f, [x1], x1)
            self._run_subnet(block.G, x1, keep, [], g_out)
            self._run_subnet(block.H, x1,
                             lambda h, x2t, gt: x2t * jt.exp(self._scale(block, h)) + gt,
                             [x2, g_out], x2)

    @staticmethod
    def _scale(block, h):
        return block.clamp * (jt.sigmoid(h) * 2 - 1)

    def _encode(self, mask, img):
        if isinstance(self.codec, VGGCodec):
            return [nn.conv2d(nn.conv2d(img, self.codec.weight1, padding=1) * mask,
                              self.codec.weight2, padding=1)]
        return [self.codec.encode(img)]

    def _decode(self, mask, f):
        if isinstance(self.codec, VGGCodec):
            y = nn.conv_transpose2d(f * mask, self.codec.weight2, padding=1) * mask
            return [nn.conv_transpose2d(y, self.codec.weight1, padding=1)]
        return [self.codec.decode(f)]

    def run(self, image, reverse=False):
        """image: float32 H x W x 3 in [0, 1] -> float32 H x W x 3 (not clipped).

        ``reverse=False`` enhances, ``True`` degrades (SPEC 1).
        """
        h, w = image.shape[:2]
        d = self.d
        hp, wp = h + (-h) % d, w + (-w) % d
        chw = np.ascontiguousarray(np.transpose(image.astype(np.float32, copy=False), (2, 0, 1)))
        if (hp, wp) != (h, w):   # the network's replicate padding (DeepSymmetricNet._run)
            chw = np.pad(chw, ((0, 0), (0, hp - h), (0, wp - w)), mode="edge")
        hf, wf = hp // d, wp // d
        self.grid = _Grid(hf, wf, self.tile_f, self.halo)
        self.maps = _Maps(self._bytes_needed(hf, wf), self.ram_budget_gb)
        self._done, self._total = 0, self._passes()
        self._pool, self._g_out = {}, None
        try:
            with jt.no_grad():
                x = self.maps.new((self.codec.out_channels, hf, wf))
                self._run_pass(self._encode, [chw], [x], in_scale=d)
                del chw
                blocks = list(self.model.ift.blocks)
                for block in (blocks if reverse else reversed(blocks)):
                    self._block(block, x, reverse)
                out = np.zeros((3, hp, wp), np.float32)
                self._run_pass(self._decode, [x], [out], out_scale=d)
                del x
        finally:
            self._pool, self._g_out = {}, None
            self.maps.close()
        return np.ascontiguousarray(np.transpose(out[:, :h, :w], (1, 2, 0)))
