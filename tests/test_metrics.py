"""PSNR/SSIM (docs/design.md#evaluation) against scikit-image's independent implementation."""
import numpy as np
import pytest
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from jsymnet import metrics
from jsymnet.data import read_image


def sk_ssim(a, b, channel_axis=-1):
    """scikit-image with the settings that coincide with docs/design.md#evaluation."""
    return structural_similarity(a, b, channel_axis=channel_axis, gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False, data_range=255)


def random_pair(shape=(37, 53, 3), seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape).astype(np.uint8)
    noise = rng.normal(0, 20, shape)
    b = np.clip(a.astype(np.float64) * 0.8 + noise + 10, 0, 255).round().astype(np.uint8)
    return a, b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_skimage_on_random_images(seed):
    a, b = random_pair(seed=seed)
    assert abs(metrics.ssim(a, b) - sk_ssim(a, b)) < 1e-6
    assert abs(metrics.psnr(a, b) - peak_signal_noise_ratio(b, a, data_range=255)) < 1e-6


def test_agrees_with_skimage_on_real_fivek_pairs(shared_data):
    diffs, values = [], []
    for name in ("a2803", "a4714", "a4857"):
        low = read_image(shared_data / "fivek_dpe" / "low" / f"{name}.png")
        high = read_image(shared_data / "fivek_dpe" / "high" / f"{name}.png")
        lu, hu = metrics.to_uint8(low), metrics.to_uint8(high)
        ours = metrics.psnr_ssim(low, high)
        ref = (peak_signal_noise_ratio(hu, lu, data_range=255), sk_ssim(lu, hu))
        diffs += [abs(ours[0] - ref[0]), abs(ours[1] - ref[1])]
        values.append(ours)
    assert max(diffs) < 1e-6
    # README of the reference data: input PSNR lies in 12.2 .. 22.6 dB
    assert all(12.0 < p < 23.0 and 0.0 < s < 1.0 for p, s in values)


def test_float_output_is_clamped_and_rounded_like_uint8():
    a, b = random_pair()
    f = a.astype(np.float32) / 255.0 + 0.0015   # rounds back to a
    f[0, 0] = [1.7, -0.3, 0.5]                   # clamped
    expected = a.copy()
    expected[0, 0] = [255, 0, 128]
    assert metrics.psnr(f, b) == pytest.approx(metrics.psnr(expected, b), abs=1e-12)
    assert metrics.ssim(f, b) == pytest.approx(metrics.ssim(expected, b), abs=1e-12)


def test_known_values():
    a = np.full((20, 20, 3), 100, np.uint8)
    assert metrics.psnr(a, a) == float("inf")
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    b = a + 1  # MSE 1 -> PSNR = 20 log10(255)
    assert metrics.psnr(a, b) == pytest.approx(20 * np.log10(255.0), abs=1e-9)


def test_ssim_brute_force_valid_region():
    """SSIM = mean over every centre whose 11x11 window lies inside the image, per channel."""
    a, b = random_pair(shape=(17, 19, 3), seed=4)
    g = metrics.gaussian_window()
    w = np.outer(g, g)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    maps = []
    for k in range(3):
        x, y = a[..., k].astype(np.float64), b[..., k].astype(np.float64)
        for i in range(5, 17 - 5):
            for j in range(5, 19 - 5):
                px, py = x[i - 5:i + 6, j - 5:j + 6], y[i - 5:i + 6, j - 5:j + 6]
                mx, my = (w * px).sum(), (w * py).sum()
                vx = (w * px * px).sum() - mx ** 2
                vy = (w * py * py).sum() - my ** 2
                cxy = (w * px * py).sum() - mx * my
                maps.append((2 * mx * my + c1) * (2 * cxy + c2)
                            / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    assert len(maps) == 3 * 7 * 9
    assert abs(metrics.ssim(a, b) - float(np.mean(maps))) < 1e-9
    with pytest.raises(ValueError, match="larger than 10x10"):
        metrics.ssim(a[:10, :10], b[:10, :10])


def test_y_channel_agrees_with_skimage():
    a, b = random_pair(shape=(40, 48, 3), seed=5)
    conv = metrics.Convention(y_channel=True)
    ya = rgb2ycbcr(a.astype(np.float64) / 255.0)[..., 0]
    yb = rgb2ycbcr(b.astype(np.float64) / 255.0)[..., 0]
    assert abs(metrics.ssim(a, b, conv) - sk_ssim(ya, yb, channel_axis=None)) < 1e-6
    assert abs(metrics.psnr(a, b, conv) - peak_signal_noise_ratio(yb, ya, data_range=255)) < 1e-6


def test_crop_border_agrees_with_skimage():
    a, b = random_pair(shape=(40, 48, 3), seed=6)
    conv = metrics.Convention(crop_border=4)
    ac, bc = a[4:-4, 4:-4], b[4:-4, 4:-4]
    assert abs(metrics.ssim(a, b, conv) - sk_ssim(ac, bc)) < 1e-6
    assert abs(metrics.psnr(a, b, conv) - peak_signal_noise_ratio(bc, ac, data_range=255)) < 1e-6


def test_gt_mean_undoes_a_global_gain():
    rng = np.random.default_rng(3)
    target = rng.uniform(0.1, 0.6, (32, 32, 3)).astype(np.float32)
    dark = target * 0.5
    plain = metrics.psnr(dark, target)
    scaled = metrics.psnr(dark, target, metrics.Convention(gt_mean=True))
    assert plain < 15.0 and scaled > 45.0


def test_describe_names_the_convention():
    text = metrics.describe()
    assert "11x11" in text and "sigma 1.5" in text and "release convention" in text
    other = metrics.describe(metrics.Convention(y_channel=True, crop_border=4, gt_mean=True))
    assert "Y (BT.601)" in other and "crop border 4px" in other and "GT-mean" in other
    assert "NOT the paper's convention" in other


def test_shape_mismatch_is_an_error():
    a, b = random_pair()
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(a, b[:-1])
