"""The global exposure stage (jsymnet/models/exposure.py) against NumPy: one linear-light
gain per photo, a dead zone that leaves photos alone, a fit that recovers a known
function, exactness under tiling, and a checkpoint that carries it."""
import jittor as jt
import numpy as np
import pytest

import jsymnet
from conftest import max_diff, randomize, tiny_haar_config
from jsymnet.data.image_io import linear_to_srgb, srgb_to_linear
from jsymnet.inference import run_rgb
from jsymnet.models import exposure as X
from jsymnet.tiling import TileOptions


def staged(bias, threshold=0.1):
    """A small Haar network with an exposure stage whose g is the constant ``bias``."""
    cfg = tiny_haar_config()
    cfg["model"]["exposure"] = {"type": "gain", "exposure_threshold": threshold}
    model = randomize(jsymnet.build_model(cfg), scale=0.05)
    model.exposure.b2.assign(jt.array(np.array([bias], np.float32)).stop_grad())
    return model


def photo(seed=0, shape=(40, 56, 3), scale=0.3):
    return (np.random.default_rng(seed).random(shape) * scale).astype(np.float32)


def network_alone(model, rgb, direction="enhance", **kw):
    stage, model.exposure = model.exposure, None
    try:
        return run_rgb(model, rgb, direction, **kw)
    finally:
        model.exposure = stage


def test_the_stage_is_one_linear_light_gain_of_the_networks_output():
    model = staged(bias=1.0, threshold=0.1)            # s = 1.0 - 0.1 stops
    rgb = photo()
    out, alone = run_rgb(model, rgb), network_alone(model, rgb)
    oracle = np.clip(linear_to_srgb(np.clip(srgb_to_linear(alone) * 2 ** 0.9, 0, 1)), 0, 1)
    assert max_diff(out, oracle) < 1e-5 and max_diff(out, alone) > 0.05
    assert abs(model.exposure.stops(rgb, alone) - 0.9) < 1e-6
    # degrade is the network's own, and strength 0 is the input itself
    assert max_diff(run_rgb(model, rgb, "degrade"), network_alone(model, rgb, "degrade")) == 0
    assert np.array_equal(run_rgb(model, rgb, strength=0.0), rgb)


def test_the_dead_zone_leaves_a_photo_as_the_network_made_it():
    model = staged(bias=0.08, threshold=0.1)
    rgb = photo(1)
    assert np.array_equal(run_rgb(model, rgb), network_alone(model, rgb))


def test_a_tiled_photo_gets_the_untiled_result():
    """The gain comes from whole-photo thumbnails, after the (exact) tiled passes."""
    model = staged(bias=0.7)
    rgb = photo(2, (48, 64, 3))
    whole = run_rgb(model, rgb)
    tiled = run_rgb(model, rgb, tiling=TileOptions(tile=16))
    assert max_diff(tiled, whole) < 1e-3 and max_diff(whole, network_alone(model, rgb)) > 0.02


def test_fit_recovers_a_known_function_of_the_features():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(400, X.FEATURES))
    target = 0.8 * np.tanh(f[:, 0]) - 0.4 * f[:, 3]
    stage = X.GainStage({"exposure_hidden": 8, "exposure_threshold": 0.0,
                         "exposure_max_stops": 2.5}).fit(f, target)
    fresh = rng.normal(size=(200, X.FEATURES))
    want = 0.8 * np.tanh(fresh[:, 0]) - 0.4 * fresh[:, 3]
    assert np.abs(stage.predict(fresh) - want).mean() < 0.1 < np.abs(want).mean()


def test_a_checkpoint_carries_the_stage_and_the_paper_has_none(tmp_path):
    model = staged(bias=0.6)
    path = jsymnet.save_checkpoint(tmp_path / "staged.pkl", model)
    back = jsymnet.load_model(path)
    rgb = photo(3)
    assert max_diff(run_rgb(back, rgb), run_rgb(model, rgb)) < 1e-6
    assert not [n for n, _ in model.named_trainable_parameters() if n.startswith("exposure")]
    assert jsymnet.build_model("lol", codec={"weights": None}).exposure is None


def test_features_read_exposure_from_thumbnails():
    """A photo two stops darker in linear light reads 2 lower in log2 mean luma."""
    rgb = photo(4, (80, 120, 3), scale=0.9)
    dark = linear_to_srgb(srgb_to_linear(rgb) / 4).astype(np.float32)
    t = np.stack([X.thumbnail(rgb), X.thumbnail(dark)])
    f = X.features(t, t)
    log_mean = len(X.PERCENTILES)                      # the output's log2 mean linear luma
    assert f.shape == (2, X.FEATURES)
    assert abs((f[0, log_mean] - f[1, log_mean]) - 2.0) < 0.05
