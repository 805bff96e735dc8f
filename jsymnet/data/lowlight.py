"""Synthetic low-light captures from well-exposed photos (the default model's training data).

Where :mod:`jsymnet.data.synthesis` imitates FiveK's retouching distortions,
this module imitates a *capture* made with too little light. A well-exposed
sRGB photo ``y`` in [0, 1] becomes its underexposed input ``x`` by:

1. **Exposure** in linear light: ``L = srgb_to_linear(y) * 2**ev``.
2. **Colour cast**: per-channel gains ``L_c *= g_c`` (white balance that a dark
   scene fools), normalised to a mean gain of 1.
3. **Sensor noise** in linear light, the heteroscedastic Gaussian model of
   Brooks et al., "Unprocessing Images for Learned Raw Denoising", CVPR 2019:
   ``L' = L + sqrt(shot * L + read) * n``, ``n ~ N(0, 1)``, with
   ``log read = 2.18 log shot + 1.20 + N(0, 0.26)`` (their fit to real
   cameras). Their shot-noise range is [1e-4, 1.2e-2]; here its upper end
   grows with the exposure cut (a darker scene is shot at a higher gain), so
   a -5 EV capture can be as noisy as their noisiest and a -0.5 EV one stays
   nearly clean.
   *Light sources* (off unless ``highlights`` > 0): with that probability, the
   brightest share ``q`` of the photo (by linear luminance, a soft mask one
   stop wide) keeps its light, times a gain ``k`` >= 1, instead of being cut:
   a night scene's lamps and windows stay bright or clip while the rest is
   dark, which a uniform cut never shows. The target is the photo as it is.
4. **Tone curve**: ``x = linear_to_srgb(L') ** gamma`` (a camera's or a
   phone's different rendering of the same scene).
5. **Quantisation**: JPEG at a random quality, or 8 bits.

With probability ``identity`` nothing at all is changed (``x = y`` bit for
bit), so that the model learns to leave good photos alone; the exposure of
the others is uniform in ``ev`` (0 to -5 EV covers LOL's low-light captures,
Wei et al., BMVC 2018, whose mean luminance is about 2 to 5 stops below
their normal-light pairs).

=================  ==========================================  ===============
parameter          meaning                                     range
=================  ==========================================  ===============
identity           probability of an unchanged pair            0.1
ev                 exposure change, stops                      [-5.0, 0.0]
cast               per-channel linear gain (prob. 0.5)         [0.9, 1.1]
shot               shot-noise variance per unit signal         log-uniform in
                                                               [1e-4, 1e-4 *
                                                               120 ** (-ev/5)]
gamma              tone curve exponent (prob. 0.5)             [0.85, 1.2]
jpeg               JPEG quality (prob. 0.5; else 8 bits)       [60, 95]
highlights         light sources kept (prob. ``highlights``)   q in [0.005, 0.05],
                                                               k in [1, 2]
=================  ==========================================  ===============

Every draw comes from a ``numpy.random.Generator`` the caller seeds, so a
training sample is a pure function of ``(seed, epoch, index)`` and a test
pair of ``(name, ev)``. Bump :data:`LOWLIGHT_VERSION` when an operator or a
range changes.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from .image_io import LUMA_709, linear_to_srgb, srgb_to_linear
from .synthesis import name_seed

LOWLIGHT_VERSION = 1
BROOKS_SHOT = (1e-4, 1.2e-2)          # Brooks et al. 2019, shot-noise range
BROOKS_READ = (2.18, 1.20, 0.26)      # log read = a log shot + b + N(0, sigma)


@dataclass(frozen=True)
class LowLightRanges:
    """Ranges of :func:`underexpose` (see the module docstring)."""
    identity: float = 0.1
    ev: tuple = (-5.0, 0.0)
    cast_prob: float = 0.5
    cast: tuple = (0.9, 1.1)
    gamma_prob: float = 0.5
    gamma: tuple = (0.85, 1.2)
    jpeg_prob: float = 0.5
    jpeg: tuple = (60, 95)
    highlights: float = 0.0             # probability of kept light sources (0: version 1)
    highlight_share: tuple = (0.005, 0.05)
    highlight_gain: tuple = (1.0, 2.0)


DEFAULT_LOWLIGHT = LowLightRanges()


def noise_params(rng, ev):
    """(shot, read) variances for an exposure change ``ev`` (Brooks et al.'s model)."""
    lo = np.log(BROOKS_SHOT[0])
    hi = lo + (np.log(BROOKS_SHOT[1]) - lo) * min(max(-ev, 0.0), 5.0) / 5.0
    log_shot = rng.uniform(lo, hi) if hi > lo else lo
    a, b, sigma = BROOKS_READ
    log_read = a * log_shot + b + rng.normal(0.0, sigma)
    return float(np.exp(log_shot)), float(np.exp(log_read))


def sample_params(rng, ranges=DEFAULT_LOWLIGHT, ev=None):
    """One random draw of every parameter; ``ev`` fixes the exposure (a test input: then
    never identity, never light sources)."""
    fixed = ev
    if ev is None and rng.random() < ranges.identity:
        return {"identity": True}
    ev = float(rng.uniform(*ranges.ev)) if ev is None else float(ev)
    shot, read = noise_params(rng, ev)
    cast = rng.uniform(*ranges.cast, size=3) if rng.random() < ranges.cast_prob else np.ones(3)
    gamma = float(rng.uniform(*ranges.gamma)) if rng.random() < ranges.gamma_prob else 1.0
    jpeg = int(rng.integers(ranges.jpeg[0], ranges.jpeg[1] + 1)) \
        if rng.random() < ranges.jpeg_prob else None
    params = {"identity": False, "ev": ev,
              "cast": tuple(float(c) for c in cast / cast.mean()), "shot": shot, "read": read,
              "gamma": gamma, "jpeg": jpeg, "noise_seed": int(rng.integers(0, 2 ** 63))}
    if fixed is None and ranges.highlights and rng.random() < ranges.highlights:
        # training draws only (no draw at all when off): test inputs stay version 1's
        params["highlights"] = (float(rng.uniform(*ranges.highlight_share)),
                                float(rng.uniform(*ranges.highlight_gain)))
    return params


def light_sources(lin_photo, lin_cut, share, gain):
    """``lin_cut`` with the brightest ``share`` of ``lin_photo`` given back its light times
    ``gain``: a soft mask, 0 one stop below the luminance quantile ``1 - share`` and 1 at
    it, so that the kept regions have no hard rim."""
    y = lin_photo @ np.asarray(LUMA_709, np.float32)
    top = float(np.quantile(y, 1.0 - share))
    if top <= 0.0:
        return lin_cut
    mask = np.clip(np.log2(np.maximum(y, 1e-6) / top) + 1.0, 0.0, 1.0)[..., None]
    return lin_cut * (1.0 - mask) + lin_photo * np.float32(gain) * mask


def apply_params(img, params):
    """The underexposed version of an RGB float image in [0, 1] under ``params``."""
    img = np.asarray(img, dtype=np.float32)
    if params["identity"]:
        return img.copy()
    photo = srgb_to_linear(np.clip(img, 0.0, 1.0))
    lin = photo * (2.0 ** params["ev"])
    lin = lin * np.asarray(params["cast"], dtype=np.float32)
    if params.get("highlights"):
        lin = light_sources(photo, lin, *params["highlights"])
    noise = np.random.default_rng(params["noise_seed"]).standard_normal(lin.shape)
    lin = lin + np.sqrt(params["shot"] * np.clip(lin, 0.0, None) + params["read"]) * noise
    out = np.power(linear_to_srgb(lin), params["gamma"])
    out = np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
    if params["jpeg"] is not None:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(out[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, params["jpeg"]])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return (out.astype(np.float32) / 255.0)


def underexpose(img, rng, ranges=DEFAULT_LOWLIGHT, ev=None):
    """(input, params): a random low-light capture of ``img`` drawn from ``rng``."""
    params = sample_params(rng, ranges, ev)
    return apply_params(img, params), params


def evaluation_input(img, name, ev, seed=0, ranges=DEFAULT_LOWLIGHT):
    """The fixed test input of photo ``name`` at exposure ``ev``, noise and all."""
    rng = np.random.default_rng(name_seed(f"lowlight-v{LOWLIGHT_VERSION}:{name}:{ev}", seed))
    return underexpose(img, rng, ranges, ev=ev)[0]


def describe_params(params):
    """Short text of a draw, e.g. ``ev -2.31, shot 1.2e-03, gamma 1.08, jpeg 71``."""
    if params["identity"]:
        return "unchanged"
    cast = "/".join(f"{c:.2f}" for c in params["cast"])
    jpeg = f"jpeg {params['jpeg']}" if params["jpeg"] is not None else "8-bit"
    lights = ", lights {:.1%} x{:.2f}".format(*params["highlights"]) \
        if params.get("highlights") else ""
    return (f"ev {params['ev']:+.2f}, cast {cast}, shot {params['shot']:.1e}, "
            f"read {params['read']:.1e}, gamma {params['gamma']:.2f}, {jpeg}{lights}")
