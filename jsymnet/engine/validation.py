"""A run's validation: the mean PSNR / SSIM of ``enhance`` on its held-out pairs
(docs/design.md#evaluation).

Each pair is enhanced and scored by :func:`jsymnet.evaluation.score_pair`, the step
``tools/test.py`` scores with, so a run's validation figure and a later
``tools/test.py`` of the same pairs agree. :func:`validate_run` is a run's
bookkeeping around that score: the best so far, its ``val`` record, ``best.pkl``.
"""
import contextlib

import cv2
import numpy as np

from ..data.image_io import to_uint8
from ..evaluation import score_pair
from ..inference import run_rgb
from ..shifts import EVAL_SHIFTS
from .resume import BEST


class Validation:
    """The first ``limit`` items (all when None) of ``dataset``, whose items are
    (low, high) 3 x H x W float32 arrays."""

    def __init__(self, dataset, limit=None):
        self.dataset = dataset
        n = dataset.num_pairs() if hasattr(dataset, "num_pairs") else len(dataset)
        self.count = min(n, limit) if limit else n

    def pair(self, i):
        """(low, high) of item ``i`` as H x W x 3 float32."""
        return tuple(np.asarray(a, np.float32).transpose(1, 2, 0) for a in self.dataset[i])

    def score(self, model):
        """{"psnr", "ssim", "images"}: the means over the pairs, in eval mode."""
        rows = _in_eval(model, lambda: [score_pair(model, *self.pair(i))[1]
                                        for i in range(self.count)])
        return {"psnr": float(np.mean([r["psnr"] for r in rows])),
                "ssim": float(np.mean([r["ssim"] for r in rows])), "images": self.count}

    def panels(self, model, count=3, height=256):
        """input | output | target of the first ``count`` pairs as uint8 images at most
        ``height`` pixels high (what TensorBoard shows at each validation)."""
        def make():
            out = []
            for i in range(min(count, self.count)):
                low, high = self.pair(i)
                panel = np.concatenate([low, run_rgb(model, low, shifts=EVAL_SHIFTS), high],
                                       axis=1)
                if panel.shape[0] > height:
                    size = (round(panel.shape[1] * height / panel.shape[0]), height)
                    panel = cv2.resize(panel, size, interpolation=cv2.INTER_AREA)
                out.append(to_uint8(panel))
            return out
        return _in_eval(model, make)


def validate_run(trainer):
    """Validate ``trainer`` at its iteration: the mean PSNR / SSIM of ``enhance`` on its
    validation pairs (the averaged weights with ``train.ema``, swapped back after); a
    better PSNR than any before becomes ``trainer.best`` and writes ``best.pkl``. The
    ``val`` record goes to log.jsonl; with TensorBoard, input | output | target of the
    first pairs go with it. Returns {"psnr", "ssim", "best"}; None without validation
    pairs, and on every MPI rank but the first."""
    if trainer.validation is None or not trainer.main:
        return None
    model, ema = trainer.model, trainer.ema
    with ema.applied(model) if ema is not None else contextlib.nullcontext():
        scores = trainer.validation.score(model)
        panels = trainer.validation.panels(model) if trainer.runlog.tb is not None else []
    psnr, ssim = scores["psnr"], scores["ssim"]
    improved = psnr > trainer.best["psnr"]
    if improved:
        trainer.best = {"psnr": psnr, "ssim": ssim, "iteration": trainer.iteration}
    trainer.log({"event": "val", "iter": trainer.iteration, "psnr": psnr, "ssim": ssim,
                 "images": scores["images"], "best_psnr": trainer.best["psnr"],
                 "best_iter": trainer.best["iteration"]})
    trainer.runlog.images(trainer.iteration, panels)
    if improved:
        trainer.save(trainer.work_dir / BEST, with_optimizer=False)
    return {"psnr": psnr, "ssim": ssim, "best": improved}


def _in_eval(model, fn):
    model.eval()
    try:
        return fn()
    finally:
        model.train()


__all__ = ["Validation", "validate_run"]
