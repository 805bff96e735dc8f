"""The low-light synthesis (jsymnet/data/lowlight.py) and the lowlight dataset.

NumPy oracles: the exposure is a factor 2**ev in linear light, the noise variance is
Brooks et al.'s shot * L + read, an identity draw is the photo bit for bit, and every
sample is a pure function of its seed.
"""
import numpy as np
import pytest
from PIL import Image

from jsymnet.config import load_config
from jsymnet.data import build_dataset
from jsymnet.data.lowlight import (BROOKS_SHOT, apply_params, noise_params, sample_params,
                                   evaluation_input, underexpose)
from jsymnet.data.image_io import srgb_to_linear


def clean(ev, **kw):
    """Parameters of a capture with no noise, cast, tone change or JPEG."""
    p = {"identity": False, "ev": ev, "cast": (1.0, 1.0, 1.0), "shot": 0.0, "read": 0.0,
         "gamma": 1.0, "jpeg": None, "noise_seed": 0}
    p.update(kw)
    return p


@pytest.fixture(scope="module")
def photo():
    rs = np.random.RandomState(0)
    base = np.linspace(0.2, 0.95, 64, dtype=np.float32)[None, :, None]
    return np.clip(base + 0.05 * rs.rand(48, 64, 3).astype(np.float32), 0, 1)


@pytest.mark.parametrize("ev", [-1.0, -2.5, -4.0])
def test_exposure_is_a_factor_in_linear_light(photo, ev):
    low = apply_params(photo, clean(ev))
    ratio = srgb_to_linear(low).mean() / srgb_to_linear(photo).mean()
    assert abs(np.log2(ratio) - ev) < 0.05


def test_noise_variance_is_shot_times_signal_plus_read():
    flat = np.full((256, 256, 3), 0.6, np.float32)
    level = float(srgb_to_linear(np.float32(0.6))) * 2 ** -2.0
    for shot, read in ((2e-3, 1e-5), (1e-4, 4e-6)):
        low = apply_params(flat, clean(-2.0, shot=shot, read=read, noise_seed=3))
        var = srgb_to_linear(low).var()
        assert abs(var / (shot * level + read) - 1) < 0.15, (shot, read, var)


def test_noise_grows_with_the_exposure_cut():
    rng = np.random.default_rng(0)
    mean_log_shot = {ev: np.mean([np.log(noise_params(rng, ev)[0]) for _ in range(400)])
                     for ev in (0.0, -1.0, -3.0, -5.0)}
    assert mean_log_shot[0.0] == pytest.approx(np.log(BROOKS_SHOT[0]))
    assert mean_log_shot[0.0] < mean_log_shot[-1.0] < mean_log_shot[-3.0] < mean_log_shot[-5.0]
    worst = max(noise_params(np.random.default_rng(i), -5.0)[0] for i in range(400))
    assert BROOKS_SHOT[1] * 0.8 < worst <= BROOKS_SHOT[1]


def test_identity_draws_are_the_photo_bit_for_bit(photo):
    draws = [underexpose(photo, np.random.default_rng(i)) for i in range(400)]
    same = [d for d in draws if d[1]["identity"]]
    assert 0.05 < len(same) / len(draws) < 0.16
    assert all(np.array_equal(low, photo) for low, _ in same)
    assert all(not np.array_equal(low, photo) for low, p in draws if not p["identity"])
    evs = [p["ev"] for _, p in draws if not p["identity"]]
    assert min(evs) < -4.8 and max(evs) > -0.2


def test_draws_and_test_inputs_are_pure_functions_of_their_seeds(photo):
    a, pa = underexpose(photo, np.random.default_rng([0, 3, 7]))
    b, pb = underexpose(photo, np.random.default_rng([0, 3, 7]))
    assert pa == pb and np.array_equal(a, b)
    assert np.array_equal(evaluation_input(photo, "x", -2.0), evaluation_input(photo, "x", -2.0))
    assert not np.array_equal(evaluation_input(photo, "x", -2.0), evaluation_input(photo, "y", -2.0))
    fixed = sample_params(np.random.default_rng(1), ev=-3.0)
    assert not fixed["identity"] and fixed["ev"] == -3.0


def test_lowlight_dataset_draws_new_pairs_each_epoch_and_fixed_test_pairs(tmp_path, photo):
    for split, names in (("train", ["a", "b"]), ("val", ["c"]), ("test", ["d", "e"])):
        (tmp_path / split).mkdir()
        for n in names:
            Image.fromarray((photo * 255).astype(np.uint8)).save(tmp_path / split / f"{n}.png")
    cfg = load_config({"data": {"dataset": "lowlight", "root": str(tmp_path), "crop": 32,
                                "lowlight_train": ["train", "val"]}})
    train, test = build_dataset(cfg, "train"), build_dataset(cfg, "test")
    assert train.names == ["train/a", "train/b", "val/c"] and test.names == ["test/d", "test/e"]
    train.epoch_id = 0
    low0, high0 = train[1]
    assert low0.shape == high0.shape == (3, 32, 32)
    again = build_dataset(cfg, "train")
    again.epoch_id = 0
    assert all(np.array_equal(x, y) for x, y in zip(again[1], (low0, high0)))  # resumable
    train.epoch_id = 1
    assert not np.array_equal(train[1][0], low0)
    low, high = test[0]
    stored = np.asarray(Image.open(tmp_path / "test" / "d.png"))
    assert low.shape == (3, 48, 64)
    assert np.array_equal(np.round(high.transpose(1, 2, 0) * 255).astype(np.uint8), stored)
    assert np.array_equal(low.transpose(1, 2, 0), evaluation_input(high.transpose(1, 2, 0),
                                                             "test/d", -2.0))
    # A list of exposures: test photo i at the (i mod length)-th one, the same inputs as
    # testing at that exposure alone.
    several = build_dataset(load_config(dict(cfg, data=dict(cfg["data"],
                                                              lowlight_test_ev=[0.0, -4.0]))),
                            "test")
    for i, (name, ev) in enumerate((("test/d", 0.0), ("test/e", -4.0))):
        low, high = several[i]
        assert np.array_equal(low.transpose(1, 2, 0),
                              evaluation_input(high.transpose(1, 2, 0), name, ev))


def test_light_sources_keep_the_brightest_share_and_cut_the_rest(photo):
    """photo's columns rise in brightness left to right: the brightest 5% (the last
    columns) keep their light times the gain; the rest is cut by 2**ev as before."""
    from jsymnet.data.lowlight import LowLightRanges
    ev, share, gain = -3.0, 0.05, 1.5
    lit = srgb_to_linear(apply_params(photo, clean(ev, highlights=(share, gain))))
    cut = srgb_to_linear(apply_params(photo, clean(ev)))
    lin = srgb_to_linear(photo)
    y = lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    top = y >= np.quantile(y, 1 - share)
    assert np.allclose(lit[top], np.minimum(lin[top] * gain, 1.0), atol=6e-3)  # kept, 8-bit
    dark = y < np.quantile(y, 1 - share) / 2.0           # over a stop below: untouched
    assert np.array_equal(lit[dark], cut[dark])
    # off by default, and never in a test input: the draws stay those of version 1
    a = sample_params(np.random.default_rng(3))
    b = sample_params(np.random.default_rng(3), LowLightRanges(highlights=0.0))
    assert a == b and "highlights" not in a
    on = LowLightRanges(identity=0.0, highlights=1.0)
    assert "highlights" in sample_params(np.random.default_rng(3), on)
    assert "highlights" not in sample_params(np.random.default_rng(3), on, ev=-2.0)
