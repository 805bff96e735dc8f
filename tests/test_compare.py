"""tools/compare.py: the classical baselines do what their names say, and the report adds up."""
import csv

import numpy as np
from PIL import Image

from conftest import load_tool
from jsymnet import metrics
from jsymnet.data.image_io import srgb_to_linear

compare = load_tool("compare")


def dark_photo(seed=0, shape=(40, 60, 3)):
    return (np.random.default_rng(seed).random(shape) * 0.2).astype(np.float32)


def test_gamma_brings_the_mean_luma_to_mid_grey():
    """The gamma is solved on the luma (exactly), then applied to each channel."""
    img = dark_photo()
    out = compare.gamma_to_mid_grey(img)
    luma = np.clip(img @ compare.LUMA_709, 1e-4, 1)
    gammas = np.log(np.clip(out, 1e-6, 1)) / np.log(np.clip(img, 1e-6, 1))
    gamma = float(np.median(gammas[img > 0.01]))
    assert np.allclose(gammas[img > 0.01], gamma, atol=1e-3)      # one global gamma
    assert abs(float((luma ** gamma).mean()) - compare.MID_GREY) < 1e-4
    assert abs(float((out @ compare.LUMA_709).mean()) - compare.MID_GREY) < 0.03


def test_exposure_brings_the_linear_median_to_18_percent():
    out = compare.exposure_to_mid_grey(dark_photo(1))
    median = float(np.median(srgb_to_linear(out) @ compare.LUMA_709))
    assert abs(median - compare.MID_GREY_LINEAR) < 2e-3


def test_clahe_keeps_size_and_brightens_a_dark_photo():
    img = dark_photo(2)
    out = compare.clahe_lightness(img)
    assert out.shape == img.shape and out.mean() > img.mean() + 0.02


def test_report_on_tiny_sets(tmp_path):
    for split, n in (("test", 2), ("lol", 2)):
        (tmp_path / split).mkdir()
        for i in range(n):
            Image.fromarray((np.random.default_rng(i).random((32, 48, 3)) * 255).astype(np.uint8)
                            ).save(tmp_path / split / f"{i}.png")
    out = tmp_path / "out"
    rc = compare.main(["--bsds", str(tmp_path / "test"), "--ev", "-2", "--lol",
                       str(tmp_path / "lol"), "--out", str(out)])
    assert rc == 0
    rows = list(csv.DictReader(open(out / "compare.csv")))
    assert len(rows) == 2 * 4 + 2 * 4          # (photos) x (input, gamma, exposure, clahe)
    identity = [r for r in rows if r["set"] == "bsds@-2" and r["method"] == "input"]
    assert all(float(r["psnr"]) < 30 for r in identity)      # the inputs really are changed
    assert (out / "lol_sheet.png").is_file() and "| bsds@-2 (2) |" in (out / "compare.md").read_text()


def test_exposure_error_finds_a_known_gain():
    """An output exactly 2 stops under its target in linear light reads -2.00 stops, and
    after that gain it is the target again (to 8-bit rounding of the sRGB curve)."""
    from jsymnet.data.image_io import linear_to_srgb
    target = (np.random.default_rng(3).random((24, 32, 3)) * 0.9).astype(np.float32)
    dark = linear_to_srgb(srgb_to_linear(target) / 4.0).astype(np.float32)
    stops, gained = metrics.exposure_error(dark, target)
    assert abs(stops + 2.0) < 1e-3
    assert np.abs(gained - target).max() < 1e-3
    assert abs(metrics.exposure_error(target, dark)[0] - 2.0) < 1e-3   # too bright: positive


def test_bootstrap_resamples_whole_scenes():
    """iid differences: the interval is about mean +- 1.96 sd / sqrt(n). The same values
    carried by 20 scenes of 20 images each, every scene with an offset of its own: the
    scenes are the evidence, so the interval is several times wider than by image."""
    rng = np.random.default_rng(0)
    iid = rng.normal(1.0, 2.0, 400)
    lo, hi = compare.bootstrap_interval(iid, np.arange(400))
    assert lo < iid.mean() < hi and abs((hi - lo) - 2 * 1.96 * 2.0 / 20) < 0.06
    scenes = np.repeat(np.arange(20), 20)
    clustered = 1.0 + rng.normal(0, 2.0, 20)[scenes] + rng.normal(0, 0.2, 400)
    by_image = compare.bootstrap_interval(clustered, np.arange(400))
    by_scene = compare.bootstrap_interval(clustered, scenes)
    assert (by_scene[1] - by_scene[0]) > 3 * (by_image[1] - by_image[0])


def test_differences_are_taken_against_the_best_baseline():
    """The model is compared with the classical baseline of the highest mean PSNR on that
    set (here exposure), image by image."""
    rows = []
    for i in range(30):
        for method, psnr in (("gamma", 15.0), ("exposure", 20.0 + i % 3), ("clahe", 12.0),
                             ("model", 21.0 + i % 3)):
            rows.append({"set": "pairs", "image": str(i), "group": str(i // 3),
                         "method": method, "psnr": psnr, "ssim": 0.5})
    text = compare.differences(rows, ["gamma", "exposure", "clahe", "model"])
    assert "| pairs | model | exposure | +1.00 | [+1.00, +1.00] | 30 |" in text
