"""Synthetic underexposed inputs from good photos (docs/design.md#datasets, FiveK protocol).

The paper's FiveK inputs follow Distort-and-Recover (Park et al., CVPR 2018):
a retouched target is distorted by a random sequence of global colour
operators, and the network learns to recover it. jsymnet's version is aimed at
*underexposure*: an exposure cut is always applied, then 1 to 3 further
operators in random order. All operators are global and act on RGB in [0, 1]:

===============  ==========================================  ==================
operator         formula                                     parameter range
===============  ==========================================  ==================
exposure         linear light (sRGB decoded) times 2**ev     ev in [-2.5, -0.7]
gamma            x ** g (darker mid-tones for g > 1)          g in [1.0, 1.6]
contrast         mean + c * (x - mean)                       c in [0.6, 1.05]
saturation       luma + s * (x - luma), luma Rec. 601        s in [0.5, 1.1]
brightness       x + b                                       b in [-0.08, 0.0]
white balance    per-channel gain, mean gain 1               gain in [0.9, 1.1]
===============  ==========================================  ==================

The random stream is seeded from the image *name* (and a base seed), so an
image gets the same distortion whatever folder or order it comes in, and a
rerun rebuilds the same pairs. Bump :data:`SYNTHESIS_VERSION` whenever the
operators or ranges change (it keys cached pairs).
"""
import hashlib
from dataclasses import dataclass, field

import numpy as np

from .image_io import LUMA_601, linear_to_srgb, srgb_to_linear

SYNTHESIS_VERSION = 1


@dataclass(frozen=True)
class DistortionRanges:
    """Parameter ranges of the operators (see the module docstring)."""
    exposure_ev: tuple = (-2.5, -0.7)
    gamma: tuple = (1.0, 1.6)
    contrast: tuple = (0.6, 1.05)
    saturation: tuple = (0.5, 1.1)
    brightness: tuple = (-0.08, 0.0)
    white_balance: tuple = (0.9, 1.1)
    extra_ops: tuple = (1, 3)   # how many operators besides exposure
    optional: tuple = field(default=("gamma", "contrast", "saturation", "brightness",
                                     "white_balance"))


DEFAULT_RANGES = DistortionRanges()


def name_seed(name, seed=0):
    """A 64-bit seed from an image name and a base seed (stable across runs and machines)."""
    digest = hashlib.sha256(f"jsymnet-synthesis:{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _luma(x):
    return (x @ LUMA_601)[..., None]


def apply_operator(img, op, value):
    """Apply one operator with its parameter to an RGB float image; returns float32 in [0, 1]."""
    img = np.asarray(img, dtype=np.float32)
    if op == "exposure":
        out = linear_to_srgb(srgb_to_linear(img) * (2.0 ** value))
    elif op == "gamma":
        out = np.power(np.clip(img, 0.0, 1.0), value)
    elif op == "contrast":
        out = img.mean() + value * (img - img.mean())
    elif op == "saturation":
        luma = _luma(img)
        out = luma + value * (img - luma)
    elif op == "brightness":
        out = img + value
    elif op == "white_balance":
        gains = np.asarray(value, dtype=np.float32)
        out = img * (gains / gains.mean())
    else:
        raise ValueError(f"unknown distortion operator {op!r}")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def sample_operators(rng, ranges=DEFAULT_RANGES):
    """A random list of (operator, parameter): exposure plus 1-3 others, random order."""
    lo, hi = ranges.extra_ops
    n_extra = int(rng.integers(lo, hi + 1))
    extra = list(rng.choice(ranges.optional, size=n_extra, replace=False))
    ops = ["exposure"] + [str(o) for o in extra]
    rng.shuffle(ops)
    out = []
    for op in ops:
        if op == "white_balance":
            value = tuple(float(v) for v in rng.uniform(*ranges.white_balance, size=3))
        else:
            value = float(rng.uniform(*getattr(ranges, "exposure_ev" if op == "exposure" else op)))
        out.append((op, value))
    return out


def distort(target, name, seed=0, ranges=DEFAULT_RANGES):
    """(underexposed input, operators applied) for a target image, seeded by ``name``.

    ``target`` is RGB float in [0, 1]; the same name and seed always give the
    same operators and the same output.
    """
    rng = np.random.default_rng(name_seed(name, seed))
    ops = sample_operators(rng, ranges)
    img = np.asarray(target, dtype=np.float32)
    for op, value in ops:
        img = apply_operator(img, op, value)
    return img, ops


def describe_operators(ops):
    """Short text of an operator list, e.g. ``exposure(-1.42) > gamma(1.21)``."""
    def fmt(v):
        return "/".join(f"{x:.3f}" for x in v) if isinstance(v, tuple) else f"{v:.3f}"
    return " > ".join(f"{op}({fmt(v)})" for op, v in ops)
