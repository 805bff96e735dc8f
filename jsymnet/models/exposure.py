"""The global exposure stage (the default model's, not the paper's): one linear-light gain
for the whole photo, applied to the network's enhanced output.

Why. On real dark photos the default network renders well but exposes badly: its
outputs, each corrected by the one linear-light gain that fits its target, score
several dB more than as they are (weights/MODEL_CARD.md). Its only global path is the
channel attention's spatial mean, learnt on 128x128 crops; a photo's exposure is a
property of the whole photo. This stage looks at the whole photo, once, at low
resolution, and corrects the exposure alone:

    z = srgb( clip( 2^s * lin(y), 0, 1 ) )
    s = clip( shrink_tau( g(f) ), -s_max, s_max ),   shrink_tau(v) = sign(v) max(|v| - tau, 0)
    g(f) = w2 . tanh( W1 ((f - mu) / sigma) + b1 ) + b2

``y`` the network's output, ``lin`` / ``srgb`` the IEC 61966-2-1 transfer functions,
``f`` = :func:`features` of the 64 x 64 luma thumbnails of the input and of ``y``
(percentiles, the log of the mean linear luma, the clipped and black shares), ``g``
a one-hidden-layer perceptron fitted by least squares to the best gain of each
training output against its target (:func:`fit`, run by ``tools/fit_exposure.py``;
never trained by the network's optimiser). The dead zone ``tau`` leaves photos the
network already exposes about right exactly as they are.

Where it acts: :func:`jsymnet.inference.run_rgb` (every photo, tool and app) applies it
to the enhanced output after the shift average and before the strength blend. It is
computed once per photo from whole-photo thumbnails, so a tiled photo gets exactly the
untiled result. ``model.enhance(x)`` is the network alone. Degrade is the network's own:
the stage corrects the enhance direction's exposure error, and a gain for the degrade
direction would have to be guessed from the bright photo alone, where the network has no
such error to correct.
"""
import numpy as np
import cv2
import jittor as jt
from jittor import nn

from ..config import Field
from ..data.image_io import LUMA_709, linear_gain, srgb_to_linear
from ..registry import EXPOSURES

THUMBNAIL = 64                       # the side of the luma thumbnails the stage reads
PERCENTILES = np.arange(5, 100, 10)  # of each thumbnail's luma
EPS = 1e-4
FEATURES = 2 * (len(PERCENTILES) + 3)


def thumbnail(rgb):
    """The THUMBNAIL x THUMBNAIL area-averaged sRGB luma of an H x W x 3 image in [0, 1]."""
    luma = np.asarray(rgb, np.float32) @ LUMA_709
    return cv2.resize(luma, (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA)


def features(t_in, t_out):
    """N x FEATURES statistics of N thumbnails of inputs and of outputs (N x T x T): for
    the output, then the input, the luma percentiles, log2 of the mean linear luma, and
    the shares above 0.95 and below 0.05."""
    cols = []
    for t in (np.asarray(t_out, np.float64), np.asarray(t_in, np.float64)):
        flat = t.reshape(len(t), -1)
        cols += list(np.percentile(flat, PERCENTILES, axis=1))
        cols += [np.log2(srgb_to_linear(flat).mean(1) + EPS), (flat > 0.95).mean(1),
                 (flat < 0.05).mean(1)]
    return np.stack(cols, 1)


def apply_gain(rgb, stops):
    """``rgb`` (sRGB, [0, 1]) times 2^stops in linear light, clipped."""
    if stops == 0.0:
        return rgb
    return linear_gain(rgb, np.float32(2.0 ** stops)).astype(np.float32)


OPTIONS = {
    "exposure_hidden": Field(8, low=1, high=256, doc="exposure stage: hidden units of g"),
    "exposure_threshold": Field(0.1, types=(float,), low=0.0,
                                doc="exposure stage: dead zone tau in stops; a photo whose "
                                    "predicted correction is smaller is left as it is"),
    "exposure_max_stops": Field(2.5, types=(float,), gt=0.0,
                                doc="exposure stage: the largest correction, in stops"),
}


@EXPOSURES.register("gain", options=OPTIONS)
class GainStage(nn.Module):
    """The stage of the module docstring. Its numbers (``mu``, ``sigma``, ``w1``, ``b1``,
    ``w2``, ``b2``) are frozen vars, so checkpoints carry them and no optimiser moves them;
    :meth:`fit` sets them."""

    def __init__(self, section):
        super().__init__()
        h = section["exposure_hidden"]
        self.threshold = section["exposure_threshold"]
        self.max_stops = section["exposure_max_stops"]
        self.mu = jt.zeros(FEATURES).stop_grad()
        self.sigma = jt.ones(FEATURES).stop_grad()
        self.w1 = jt.zeros((FEATURES, h)).stop_grad()
        self.b1 = jt.zeros(h).stop_grad()
        self.w2 = jt.zeros(h).stop_grad()
        self.b2 = jt.zeros(1).stop_grad()

    def predict(self, f):
        """s for an N x FEATURES array of :func:`features` (NumPy, float64)."""
        mu, sigma, w1, b1, w2, b2 = (v.numpy().astype(np.float64) for v in
                                     (self.mu, self.sigma, self.w1, self.b1, self.w2, self.b2))
        g = np.tanh(((f - mu) / sigma) @ w1 + b1) @ w2 + b2[0]
        s = np.sign(g) * np.maximum(np.abs(g) - self.threshold, 0.0)
        return np.clip(s, -self.max_stops, self.max_stops)

    def stops(self, rgb_in, rgb_out):
        """The correction s, in stops, for one photo (H x W x 3 input and output)."""
        return float(self.predict(features(thumbnail(rgb_in)[None],
                                           thumbnail(rgb_out)[None]))[0])

    def apply(self, rgb_in, rgb_out):
        """The corrected output of one photo."""
        return apply_gain(rgb_out, self.stops(rgb_in, rgb_out))

    def fit(self, f, target, weight_decay=1e-2, steps=3000, lr=1e-2, seed=0):
        """Least squares of g(f) against ``target`` stops (one row of ``f`` each), with
        Adam on the whole set at once and L2 weight decay; deterministic for a seed."""
        mu, sigma = f.mean(0), f.std(0) + 1e-6
        z, t = (f - mu) / sigma, np.asarray(target, np.float64)
        rng = np.random.default_rng(seed)
        h = self.w1.shape[1]
        params = [rng.normal(0, 1 / np.sqrt(FEATURES), (FEATURES, h)), np.zeros(h),
                  rng.normal(0, 1 / np.sqrt(h), h), np.zeros(1)]
        params = _adam(params, lambda p: _grads(p, z, t, weight_decay), steps, lr)
        for var, value in zip((self.mu, self.sigma, self.w1, self.b1, self.w2, self.b2),
                              [mu, sigma] + params):
            var.assign(jt.array(np.asarray(value, np.float32)).stop_grad())
        return self


def _grads(p, z, t, wd):
    """Gradients of mean((g(z) - t)^2) + wd/2 (|w1|^2 + |w2|^2)."""
    hidden = np.tanh(z @ p[0] + p[1])
    e = 2.0 * (hidden @ p[2] + p[3][0] - t) / len(t)
    g_hidden = np.outer(e, p[2]) * (1.0 - hidden ** 2)
    return [z.T @ g_hidden + wd * p[0], g_hidden.sum(0), hidden.T @ e + wd * p[2],
            np.array([e.sum()])]


def _adam(params, grads, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for step in range(1, steps + 1):
        for i, g in enumerate(grads(params)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            params[i] = params[i] - lr * (m[i] / (1 - b1 ** step)) / (
                np.sqrt(v[i] / (1 - b2 ** step)) + eps)
    return params


@EXPOSURES.register("none")
def no_stage(section):
    """No exposure stage: the network's output as it is (the paper's models)."""
    return None


def build_exposure(section):
    """The stage ``model.exposure`` names (None for ``none``)."""
    return EXPOSURES.get(section["type"])(section)
