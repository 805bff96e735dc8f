"""tools/compare.py: the classical baselines do what their names say, and the report adds up."""
import csv

import numpy as np
from PIL import Image

from conftest import load_tool
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
