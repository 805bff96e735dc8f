"""Bidirectional loss of SPEC section 5 (paper Eq. 12-14) and its Table 2 ablations."""
from functools import partial

import jittor as jt


def quantize(x):
    """Q(x): clamp to [0, 1] and round to 1/255 steps, with a straight-through gradient."""
    x = x.clamp(0.0, 1.0)
    q = jt.round(x * 255.0) / 255.0
    return x + (q - x).stop_grad()


def _per_image(err):
    return err.reshape(err.shape[0], -1).sum(dim=1).mean()


def l2(pred, target):
    """Per-image sum of squared error over C, H, W, then the mean over the batch (release)."""
    return _per_image((pred - target).sqr())


def l1(pred, target):
    """The "L1 loss" ablation: per-image sum of absolute error, mean over the batch."""
    return _per_image((pred - target).abs())


def psnr_loss(pred, target, eps=1e-8):
    """The "PSNR loss" ablation: minus the mean per-image PSNR (data range 1).

    ``10 log10(mse + eps)``: ``eps`` caps the PSNR an image can score at
    ``-10 log10(eps)`` dB. Each image's gradient is the L2 gradient divided by
    ``mse + eps``, so a batch mixing near-perfect and very dark inputs weighs
    them by their relative, not absolute, error (the summed L2 of Eq. 13 is
    ruled by the darkest input); the cap keeps an input that needs no change
    from taking an unbounded weight.
    """
    mse = (pred - target).sqr().reshape(pred.shape[0], -1).mean(dim=1)
    return (10.0 * jt.log(mse + eps) / jt.log(jt.array(10.0))).mean()


LOSSES = {"l2": l2, "l1": l1, "psnr": psnr_loss}


def loss_function(cfg):
    """The per-direction loss ``fn(pred, target)`` the ``train.loss`` section names; the
    psnr distance with its cap, ``eps = 10^(-psnr_max_db / 10)``."""
    if cfg["type"] == "psnr":
        return partial(psnr_loss, eps=10.0 ** (-cfg["psnr_max_db"] / 10.0))
    return LOSSES[cfg["type"]]


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
