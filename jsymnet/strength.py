"""Strength: a result anywhere between the input (s = 0) and the network's output (s = 1).

For an sRGB input ``x`` and the network's output ``y = D(IFT(E(x)))``
(docs/design.md#data-flow), the result at strength ``s`` is the blend of the two in
linear light::

    out_s = srgb( lin(x) + s * (lin(y) - lin(x)) ),   clipped to [0, 1]

(``lin`` / ``srgb``: the IEC 61966-2-1 transfer functions,
:func:`jsymnet.data.image_io.srgb_to_linear`). A blend of light, as two exposures of
the same scene add up: where the network only brightens (``lin(y) = k lin(x)``), every
intermediate ``s`` is an exact exposure change of the output, with the same colours.
``s = 0`` returns the input itself, ``s = 1`` the network's output; ``1 < s <=``
:data:`MAX_STRENGTH` extrapolates (brighter than the model, more of its colour change).

Why this and not interpolating the features, ``D(E(x) + s (IFT(E(x)) - E(x)))``, or
the sRGB values: measured side by side, the linear-light blend was the one whose every
step looked like an exposure change of the output with no colour cast of its own
(docs/enhancing.md, "Strength"). (With the default model's Haar codec, linear and
exactly invertible, the feature interpolation *is* the sRGB blend.)

It acts on the output alone, so it holds the same for every model, direction
(degrade turns ``x`` darker by ``s`` times the model's change) and for tiled photos.
"""
import math

import numpy as np

from .data.image_io import linear_to_srgb, srgb_to_linear
from .errors import JsymnetError

MAX_STRENGTH = 2.0     # beyond it, extrapolation clips and shifts colours (docs/enhancing.md, Strength)


class StrengthError(JsymnetError, ValueError):
    """A strength outside [0, MAX_STRENGTH] (or not a number)."""


def check_strength(strength):
    """``strength`` as a float in [0, :data:`MAX_STRENGTH`], or :class:`StrengthError`."""
    try:
        s = float(strength)
    except (TypeError, ValueError):
        raise StrengthError(f"strength must be a number between 0 and {MAX_STRENGTH:g}, got "
                            f"{strength!r}") from None
    if not math.isfinite(s) or not 0.0 <= s <= MAX_STRENGTH:
        raise StrengthError(f"strength must lie between 0 (the input unchanged) and "
                            f"{MAX_STRENGTH:g} (twice the model's change), got {strength!r}")
    return s


def apply_strength(x, y, strength):
    """The result at ``strength`` (see the module docstring) of input ``x`` and output ``y``,
    float32 H x W x 3 in [0, 1]. ``strength`` 1 returns ``y`` itself, 0 a copy of ``x``."""
    s = check_strength(strength)
    if s == 1.0:
        return y
    if s == 0.0:
        return np.array(x, np.float32, copy=True)
    lx = srgb_to_linear(np.asarray(x, np.float32))
    out = linear_to_srgb(lx + np.float32(s) * (srgb_to_linear(np.asarray(y, np.float32)) - lx))
    return np.clip(out, 0.0, 1.0).astype(np.float32)
