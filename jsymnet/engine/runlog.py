"""A run's record: ``log.jsonl`` in the run folder, one JSON object a line, and
TensorBoard events beside it (``tb/``) when ``train.tensorboard`` is on and
tensorboardX is installed (the optional extra ``jsymnet[tensorboard]``).

Every record carries its wall-clock ``time``; only the main process (MPI rank 0)
writes. ``tools/plot_run.py`` draws the curves from ``log.jsonl`` alone.

What a training run writes there: :func:`start_record` (``start``), a ``train``
record every ``train.log_every`` steps with the means of a :class:`LossWindow`,
``val`` (:func:`jsymnet.engine.validation.validate_run`), ``checkpoint`` and
``resume`` (:mod:`jsymnet.engine.resume`), ``error`` (a loss that is not finite)
and :func:`end_record` (``end``).
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

LOG_NAME = "log.jsonl"


class RunLog:
    """Appends records to ``work_dir/log.jsonl``; mirrors their numbers to TensorBoard."""

    def __init__(self, work_dir, enabled=True):
        self.work_dir = Path(work_dir)
        self.enabled = enabled
        self.tb = None

    def open_tensorboard(self):
        """Start TensorBoard events in ``work_dir/tb``; without tensorboardX, one note and
        log.jsonl alone."""
        if not self.enabled:
            return
        try:
            from tensorboardX import SummaryWriter  # torch's would import torch (see runtime)
        except ImportError:
            print("note: train.tensorboard is on but tensorboardX is not installed (pip "
                  "install 'jsymnet[tensorboard]'); the curves are in log.jsonl: draw them "
                  "with tools/plot_run.py", file=sys.stderr)
            return
        self.tb = SummaryWriter(str(self.work_dir / "tb"))

    def write(self, record):
        """Append ``record`` (with its time); its numbers become TensorBoard scalars
        ``<event>/<key>`` at step ``record["iter"]``."""
        if not self.enabled:
            return
        record = {"time": round(time.time(), 3), **record}
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.work_dir / LOG_NAME, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            it = record.get("iter", 0)
            for k, v in record.items():
                if k not in ("time", "iter") and isinstance(v, (int, float)) \
                        and not isinstance(v, bool):
                    self.tb.add_scalar(f"{record['event']}/{k}", v, it)
            self.tb.flush()

    def images(self, it, panels):
        """uint8 H x W x 3 ``panels`` as TensorBoard images ``val_images/<i>`` at step
        ``it``."""
        if self.tb is None or not panels:
            return
        for i, panel in enumerate(panels):
            self.tb.add_image(f"val_images/{i}", panel, it, dataformats="HWC")
        self.tb.flush()

    def close(self):
        if self.tb is not None:
            self.tb.close()
            self.tb = None



class LossWindow:
    """The loss parts of the steps since the last ``train`` record, and their time."""

    def __init__(self):
        self.parts, self.start = [], time.perf_counter()

    def add(self, parts):
        self.parts.append(parts)

    def record(self, iteration, epoch, lr):
        """The ``train`` record after step ``iteration`` (``epoch``: its fractional epoch;
        ``lr``: the step's learning rate) with :meth:`flush`'s means."""
        return {"event": "train", "iter": iteration, "epoch": epoch, "lr": lr,
                **self.flush()}

    def flush(self):
        """{"sec_per_iter", "loss_<part>": mean} over the window, which starts again."""
        rec = {"sec_per_iter": (time.perf_counter() - self.start) / len(self.parts)}
        for key in self.parts[0]:
            rec["loss_" + key] = float(np.mean([p[key] for p in self.parts]))
        self.parts, self.start = [], time.perf_counter()
        return rec


def start_record(trainer, end):
    """The ``start`` record of ``trainer`` about to run from its iteration to ``end``:
    the schedule's length, the training set, the processes, the starting weights
    (``train.init``'s report, else None) and the number of trainable parameters."""
    return {"event": "start", "iter": trainer.iteration, "end": end,
            "total_iters": trainer.total_iters, "iters_per_epoch":
            trainer.order.batches_per_epoch, "train_pairs": trainer.order.num_items,
            "world_size": trainer.world_size, "init": trainer.init_report,
            "params": int(sum(p.numel() for p in trainer.model.trainable_parameters()))}


def end_record(trainer, finished, interrupted, seconds, result=None):
    """The ``end`` record of ``trainer`` (what :meth:`~jsymnet.engine.Trainer.train`
    returns): where it stopped and why, its time, the best validation PSNR so far
    (None before any validation) and, with ``result`` (the final validation), that
    validation's PSNR / SSIM."""
    best = trainer.best
    record = {"event": "end", "iter": trainer.iteration, "finished": finished,
              "interrupted": interrupted, "seconds": round(seconds, 2),
              "best_psnr": best["psnr"] if best["iteration"] is not None else None,
              "best_iter": best["iteration"]}
    if result:
        record.update(val_psnr=result["psnr"], val_ssim=result["ssim"])
    return record


__all__ = ["LOG_NAME", "LossWindow", "RunLog", "end_record", "start_record"]
