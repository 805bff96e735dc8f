"""Exact tiling (jsymnet/tiling.py): tiled == untiled, although the attention is global.

One image size (37 x 53, odd) and one tile size keep Jittor's kernel compilations few.
"""
import jittor as jt
import numpy as np
import pytest

import jsymnet
from jsymnet.tiling import TiledRunner, receptive_field, stage_halo

from conftest import max_diff, randomize, tiny_config

H, W, TILE = 37, 53, 16


def haar_config(**subnet):
    sub = {"rounds": 2, "mid_channels": 16, "hidden_channels": 16, "reduction": 4}
    sub.update(subnet)
    return {"model": {"codec": {"type": "haar"}, "ift": {"num_blocks": 2, "split": 6},
                      "subnet": sub}}


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


@pytest.mark.parametrize("cfg", [tiny_config(), haar_config()], ids=["vgg", "haar"])
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
    model = make(haar_config(**subnet))
    assert max_diff(TiledRunner(model, tile=TILE).run(image), untiled(model, image)) < 1e-3


def test_memory_mapped_maps_give_the_same_result(image):
    model = make(haar_config())
    runner = TiledRunner(model, tile=TILE, ram_budget_gb=0)   # everything on disk
    out = runner.run(image)
    assert runner.maps.on_disk
    assert max_diff(out, untiled(model, image)) < 1e-3


def test_halo_and_receptive_field_follow_the_architecture():
    model = make(tiny_config())          # VGG codec, 2 blocks, RRAM T=3
    assert stage_halo(model) == 3        # entry conv + the 2 convs of the first RSCA
    # codec 2 + 2; per block (G/H side by side, then F) 2 x (3 + 2 + 2 + 1)
    assert receptive_field(model) == 4 + 2 * 16
    assert stage_halo(make(haar_config(type="dense", growth=8))) == 5


def test_overlap_option_only_widens_the_halo(image):
    model = make(haar_config())
    assert TiledRunner(model, tile=TILE, overlap=2).halo == 3
    wide = TiledRunner(model, tile=TILE, overlap=10)
    assert wide.halo == 5                # 10 image pixels = 5 Haar feature pixels
    assert max_diff(wide.run(image), untiled(model, image)) < 1e-3
