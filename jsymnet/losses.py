"""Bidirectional loss (docs/design.md#loss, paper Eq. 12-14) and its Table 2 ablations.

The per-direction distances are pure functions ``fn(pred, target, **options)``,
registered in :data:`~jsymnet.registry.LOSSES` with the ``train.loss`` keys they read
(:func:`register_loss`): a distance of your own is one decorated function.
"""
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import jittor as jt

from .config import ConfigError, Field
from .registry import LOSSES


@dataclass(frozen=True)
class LossKind:
    """A registered distance: ``fn(pred, target, **keywords)``, ``keywords`` mapping each
    keyword of ``fn`` to a function of the ``train.loss`` section that gives its value."""
    fn: Callable
    keywords: dict = field(default_factory=dict)


def register_loss(name, options=None, check=None, **keywords):
    """``@register_loss(name, options={key: Field}, keyword=lambda section: value)`` on
    ``fn(pred, target, ...)``: the distance ``train.loss.type: name`` selects."""
    def deco(fn):
        LOSSES.register(name, LossKind(fn, keywords), options=options, check=check)
        return fn
    return deco


def quantize(x):
    """Q(x): clamp to [0, 1] and round to 1/255 steps, with a straight-through gradient."""
    x = x.clamp(0.0, 1.0)
    q = jt.round(x * 255.0) / 255.0
    return x + (q - x).stop_grad()


def _per_image(err):
    return err.reshape(err.shape[0], -1).sum(dim=1).mean()


@register_loss("l2")
def l2(pred, target):
    """Per-image sum of squared error over C, H, W, then the mean over the batch (release)."""
    return _per_image((pred - target).sqr())


@register_loss("l1")
def l1(pred, target):
    """The "L1 loss" ablation: per-image sum of absolute error, mean over the batch."""
    return _per_image((pred - target).abs())


PSNR_MAX_DB = Field(80.0, types=(float,), gt=0.0,
                    doc="psnr loss: the PSNR at which an image's loss stops improving (80: "
                        "the ablation's eps 1e-8)")
GRID_WEIGHT = Field(0.0, types=(float,), low=0.0,
                    doc="psnr loss: extra weight of the error's block pattern (block_pattern: "
                        "the part that repeats every grid_period pixels); 0 = plain PSNR")
GRID_PERIOD = Field(4, types=(int,), low=1, high=64,
                    doc="psnr loss: the codec's block size in pixels (2 ** haar_levels)")
GRID_WINDOW = Field(32, types=(int,), low=1, high=4096,
                    doc="psnr loss: the square, in pixels, over which a block pattern is "
                        "averaged (a multiple of grid_period)")


def block_pattern(err, period, window):
    """The part of ``err`` (N x C x H x W) that repeats every ``period`` pixels.

    Within each ``window`` x ``window`` square, the mean of the pixels at each of the
    ``period`` x ``period`` phases, less the square's mean: an N x C x H/window x
    period x W/window x period array. A Haar codec of L levels codes 2^L x 2^L blocks,
    so an error it makes in the same band over a flat area repeats with that period: a
    grid, which costs a photo little MSE but much of its SSIM and LPIPS. A
    natural image has no preferred phase, and averaging over (window / period)^2
    blocks shrinks an error's random part by that factor, so what this keeps is the
    grid. Only the whole squares of the image count (a crop smaller than ``window``
    uses its largest square of whole blocks).
    """
    n, c, h, w = err.shape
    window = min(window, h // period * period, w // period * period)
    k = window // period
    hh, ww = h // window * window, w // window * window
    e = err[:, :, :hh, :ww].reshape(n, c, hh // window, k, period, ww // window, k, period)
    phase = e.mean(dim=3).mean(dim=5)                      # N C H' p W' p
    return phase - phase.mean(dim=3, keepdims=True).mean(dim=5, keepdims=True)


def _check_psnr(section, where):
    if section.get("grid_window", GRID_WINDOW.default) % section.get("grid_period",
                                                                      GRID_PERIOD.default):
        raise ConfigError(f"{where}: key 'train.loss.grid_window' must be a multiple of "
                          f"'train.loss.grid_period'")


@register_loss("psnr", options={"psnr_max_db": PSNR_MAX_DB,
                                "grid_weight": GRID_WEIGHT, "grid_period": GRID_PERIOD,
                                "grid_window": GRID_WINDOW},
               check=_check_psnr,
               eps=lambda section: 10.0 ** (-section["psnr_max_db"] / 10.0),
               grid=lambda section: (section["grid_weight"], section["grid_period"],
                                     section["grid_window"]))
def psnr_loss(pred, target, eps=1e-8, grid=(0.0, 4, 32)):
    """The "PSNR loss" ablation: minus the mean per-image PSNR (data range 1).

    ``10 log10(mse + eps)``: ``eps`` caps the PSNR an image can score at
    ``-10 log10(eps)`` dB. Each image's gradient is the L2 gradient divided by
    ``mse + eps``, so a batch mixing near-perfect and very dark inputs weighs
    them by their relative, not absolute, error (the summed L2 of Eq. 13 is
    ruled by the darkest input); the cap keeps an input that needs no change
    from taking an unbounded weight.

    ``grid = (weight, period, window)``: with a weight, the mse becomes
    ``mse + weight * mean(block_pattern(pred - target)^2)``, so that the codec's block
    grid costs ``1 + weight`` times its share of the error.
    """
    err = pred - target
    mse = err.sqr().reshape(pred.shape[0], -1).mean(dim=1)
    weight, period, window = grid
    if weight:
        mse = mse + weight * block_pattern(err, period, window).sqr().reshape(
            pred.shape[0], -1).mean(dim=1)
    return (10.0 * jt.log(mse + eps) / jt.log(jt.array(10.0))).mean()


def loss_function(cfg):
    """The per-direction loss ``fn(pred, target)`` the ``train.loss`` section names, with
    the keywords its registration reads from the section (psnr: its cap,
    ``eps = 10^(-psnr_max_db / 10)``)."""
    kind = LOSSES.get(cfg["type"])
    if not kind.keywords:
        return kind.fn
    section = LOSSES.settings(cfg["type"], cfg)   # its options, at their defaults if missing
    return partial(kind.fn, **{k: value(section) for k, value in kind.keywords.items()})


def loss_terms(x_lq, x_hq, cfg):
    """The terms of Eq. 12 as (name, reverse, source, target, weight) tuples.

    enhance: x_LQ towards x_HQ with lambda_H; degrade (``reverse``): Q(x_HQ)
    (or x_HQ without ``quantize_target``) towards x_LQ with lambda_L, left out
    when lambda_L is 0. ``cfg`` is the ``train.loss`` section.
    """
    terms = [("enhance", False, x_lq, x_hq, cfg["lambda_enhance"])]
    if cfg["lambda_degrade"]:
        source = quantize(x_hq) if cfg["quantize_target"] else x_hq
        terms.append(("degrade", True, source, x_lq, cfg["lambda_degrade"]))
    return terms


def bidirectional_loss(model, x_lq, x_hq, cfg):
    """L = lambda_H * l(enhance(x_LQ), x_HQ) + lambda_L * l(degrade(Q(x_HQ)), x_LQ), Eq. 12.

    ``cfg`` is the ``train.loss`` section. Returns (total, {"enhance": ..., "degrade": ...}).
    """
    loss = loss_function(cfg)
    total, parts = None, {}
    for name, reverse, source, target, weight in loss_terms(x_lq, x_hq, cfg):
        parts[name] = loss(model.degrade(source) if reverse else model.enhance(source), target)
        total = weight * parts[name] if total is None else total + weight * parts[name]
    return total, parts
