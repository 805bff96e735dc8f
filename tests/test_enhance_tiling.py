"""Exact tiling (jsymnet/tiling.py): tiled == untiled, although the attention is global.

One image size (37 x 53, odd) and one tile size keep Jittor's kernel compilations few.
"""
import jittor as jt
import numpy as np
import pytest

import jsymnet
from jsymnet.models.stages import Staged
from jsymnet.tiling import TiledRunner, receptive_field, stage_halo

from conftest import max_diff, randomize, tiny_config, tiny_haar_config

H, W, TILE = 37, 53, 16


def make(cfg, scale=0.5):
    with pytest.warns(RuntimeWarning) if cfg["model"]["codec"]["type"] == "vgg" else _nothing():
        model = jsymnet.build_model(cfg)
    randomize(model, scale)
    model.eval()
    return model


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture(scope="module")
def image():
    return np.random.RandomState(3).rand(H, W, 3).astype(np.float32)


def untiled(model, img, reverse=False):
    with jt.no_grad():
        x = jt.array(img.transpose(2, 0, 1)[None])
        y = model.degrade(x) if reverse else model.enhance(x)
        return y.numpy()[0].transpose(1, 2, 0)


def _mixed(cfg):
    cfg["model"]["codec"]["haar_mix"] = True
    return cfg


@pytest.mark.parametrize("cfg", [tiny_config(), tiny_haar_config(), _mixed(tiny_haar_config())],
                         ids=["vgg", "haar", "haar_mix"])
@pytest.mark.parametrize("reverse", [False, True], ids=["enhance", "degrade"])
def test_tiled_equals_untiled(cfg, reverse, image):
    model = make(cfg)
    ref = untiled(model, image, reverse)
    runner = TiledRunner(model, tile=TILE)
    out = runner.run(image, reverse=reverse)
    assert len(runner.grid.origins) >= 6          # really tiled, in both directions
    assert out.shape == image.shape               # odd size kept exactly
    assert np.abs(ref - image).max() > 0.1        # the network does change the image
    assert max_diff(out, ref) < 1e-3              # everywhere, borders included


def test_naive_tiles_and_short_halo_are_not_exact(image):
    """Guards the test above: per-tile attention means or a too-small halo give other values."""
    model = make(tiny_config())
    ref = untiled(model, image)
    crop = untiled(model, np.ascontiguousarray(image[:24, :24]))
    assert max_diff(crop[4:20, 4:20], ref[4:20, 4:20]) > 1e-2   # a tile alone: wrong means
    runner = TiledRunner(model, tile=TILE)
    runner_halo = runner.halo
    assert runner_halo == stage_halo(model) == 3
    runner.halo = 1                                             # not enough context
    runner.tile_f = TILE
    assert max_diff(runner.run(image), ref) > 1e-2


@pytest.mark.parametrize("subnet", [{"type": "se_resblock", "rounds": 2},
                                    {"type": "dense", "growth": 8},
                                    {"attention": False, "share_weights": True}],
                         ids=["se_resblock", "dense", "rram_shared_no_attention"])
def test_ablation_subnets_tile_exactly(subnet, image):
    model = make(tiny_haar_config(**subnet))
    assert max_diff(TiledRunner(model, tile=TILE).run(image), untiled(model, image)) < 1e-3


def test_memory_mapped_maps_give_the_same_result(image):
    model = make(tiny_haar_config())
    runner = TiledRunner(model, tile=TILE, ram_budget_gb=0)   # everything on disk
    out = runner.run(image)
    assert runner.maps.on_disk
    assert max_diff(out, untiled(model, image)) < 1e-3


def test_halo_and_receptive_field_follow_the_architecture():
    model = make(tiny_config())          # VGG codec, 2 blocks, RRAM T=3
    assert stage_halo(model) == 3        # entry conv + the 2 convs of the first RSCA
    # codec 2 + 2; per block (G/H side by side, then F) 2 x (3 + 2 + 2 + 1)
    assert receptive_field(model) == 4 + 2 * 16
    assert stage_halo(make(tiny_haar_config(type="dense", growth=8))) == 5


def test_overlap_option_only_widens_the_halo(image):
    model = make(tiny_haar_config())
    assert TiledRunner(model, tile=TILE, overlap=2).halo == 3
    wide = TiledRunner(model, tile=TILE, overlap=10)
    assert wide.halo == 5                # 10 image pixels = 5 Haar feature pixels
    assert max_diff(wide.run(image), untiled(model, image)) < 1e-3


class ToyAttention(Staged):
    """A subnet type the tiling has never heard of: conv, a global channel attention, conv.

    y = conv_b(u * sigmoid(W mean(u))), u = ReLU(conv_a(x)). Written once, as two stages
    cut at its pooling (jsymnet.models.stages); nothing in jsymnet/tiling.py names it.
    """

    def __init__(self, cin, cout, cfg):
        super().__init__()
        from jsymnet.models.init import conv1x1, conv3x3
        self.in_channels = cin
        self.conv_a, self.att, self.conv_b = conv3x3(cin, 8), conv1x1(8, 8), conv3x3(8, cout)

    def stages(self):
        from jsymnet.models.stages import Stage

        def before(maps, _):
            u = jt.nn.relu(self.conv_a(maps[0]))
            return (u,), u                                   # u is pooled

        def after(maps, mean):
            return (self.conv_b(maps[0] * jt.sigmoid(self.att(mean))),), None
        return [Stage(before, 1), Stage(after, 1)]


def test_a_new_subnet_type_tiles_exactly_with_no_edit_in_the_tiling(image):
    from jsymnet.registry import SUBNETS
    if "toy_attention" not in SUBNETS:
        SUBNETS.register("toy_attention", ToyAttention)
    model = make(tiny_haar_config(type="toy_attention"), scale=2.0)
    ref = untiled(model, image)
    crop = untiled(model, np.ascontiguousarray(image[:24, :24]))
    assert max_diff(crop[4:20, 4:20], ref[4:20, 4:20]) > 1e-3   # its attention is global
    runner = TiledRunner(model, tile=TILE)
    assert runner.halo == 1                 # its deepest stage has one 3x3 conv
    out = runner.run(image)
    assert len(runner.grid.origins) >= 6
    assert max_diff(out, ref) < 1e-5


def test_parts_the_tiling_cannot_run_exactly_are_refused():
    from jsymnet.tiling import TilingError
    model = make(tiny_haar_config())
    block = model.ift.blocks[0]
    block.F.conv1 = jt.nn.Conv2d(6, 16, 3, padding=1)            # would see the next tile
    with pytest.raises(TilingError, match="F.conv1"):
        TiledRunner(model, tile=TILE)
    model = make(tiny_haar_config(type="dense", growth=8))
    model.ift.blocks[0].G.stages = None                           # no stages to run
    with pytest.raises(TilingError, match="stages"):
        TiledRunner(model, tile=TILE)


def test_tiling_follows_any_half_step_order_in_the_planned_passes(image, monkeypatch):
    """The tiled executor is lazy (a subnet's output is computed where it is consumed, the
    last pending one fused into its consumer), so it needs no rule on the order of a
    block's half-steps: with the order changed it is still exact, in the passes planned.
    (The reversible backward does depend on the order: test_reversible.py.)"""
    from test_reversible import _other_half_step_order
    from jsymnet.models.ift import InvertibleBlock
    model = make(tiny_haar_config())

    def passes(reverse):
        seen = []
        runner = TiledRunner(model, tile=TILE, progress=lambda done, total: seen.append(
            (done, total)))
        out = runner.run(image, reverse=reverse)
        return out, seen[-1], runner.planned_passes()

    out, (done, total), planned = passes(False)
    assert done == total == planned                  # one pass per stage, pointwise fused
    enhance, degrade = _other_half_step_order()
    monkeypatch.setattr(InvertibleBlock, "enhance", enhance)
    monkeypatch.setattr(InvertibleBlock, "degrade", degrade)
    for reverse in (False, True):
        ref = untiled(model, image, reverse)
        out, (done, total), planned = passes(reverse)
        assert max_diff(out, ref) < 1e-3 and done == total == planned


def test_one_default_tile_and_the_tile_a_request_runs_with():
    from jsymnet import inference, tiling
    from jsymnet.tiling import DEFAULT_TILE, TileOptions, tile_in_use
    model = make(tiny_haar_config())
    d = model.codec.size_divisor
    assert inference.DEFAULT_TILE == DEFAULT_TILE and TiledRunner(model).tile == DEFAULT_TILE
    assert tile_in_use(model, 100 * d + 1) == 100 * d                   # whole feature pixels
    assert tile_in_use(model, 3) == tiling.MIN_TILE_FEATURES * d        # at least 8 of them
    assert TiledRunner(model, tile=3).tile == tiling.MIN_TILE_FEATURES * d
    assert TileOptions().tile_for(model, H, W) is None                 # small: one piece
    assert TileOptions(max_megapixels=1e-3).tile_for(model, H, W) == DEFAULT_TILE
    assert TileOptions(tile=TILE + 1).tile_for(model, H, W) == TILE
