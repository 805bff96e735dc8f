"""The training loop (docs/design.md#training), with validation, checkpoints and exact resume.

:class:`Trainer` runs the step :func:`~jsymnet.engine.step.step_function` picks for
``train.memory_efficient`` (``reversible_step``, the reversible backward, by default;
``train_step``, plain backprop, when it is false) (bidirectional
loss, Eq. 12-14; Adam; gradient-norm clip) over seeded batches, with the
MultiStep schedule of ``train.schedule``. Into its run folder it writes:

* ``config.yaml``   the validated config of the run;
* ``log.jsonl``     one JSON object a line: ``train`` (mean losses over the last
  ``train.log_every`` steps, lr, seconds per step), ``val`` (PSNR/SSIM,
  docs/design.md#evaluation), ``checkpoint``, ``start``/``resume``/``end``;
* ``latest.pkl``    everything needed to continue (every ``train.save_every``
  steps and at the end): weights, Adam's m/v and step count, the schedule,
  the iteration, and the Python, NumPy, Jittor and batch-order RNG state;
* ``best.pkl``      the weights with the best validation PSNR so far;
* ``final.pkl``     the weights at the end (no optimizer state: the file to ship);
* ``iter_<N>.pkl``  with ``train.keep_every`` > 0, full snapshots to keep.

All are jsymnet checkpoints (:func:`jsymnet.load_model`, ``tools/test.py``),
written atomically. Resume is exact (N steps straight and N/2 + resume + N/2 give
the same weights).

This module is the loop and its data; each other concern is a module of its own:
:mod:`.resume` (what the checkpoints hold, exact resume), :mod:`.runlog`
(log.jsonl and TensorBoard), :mod:`.validation` (the validation score, by
:func:`jsymnet.evaluation.score_pair`), :mod:`.step` (one step), :mod:`.schedule`
(batch order and lr), :mod:`.ema` (the weight average).

Multi-GPU (Jittor's MPI data parallel)::

    mpirun -np 4 python tools/train.py -c configs/lol.yaml

Every process runs this same loop; ``train.batch_size`` stays the *global*
batch and each process takes its own ``batch_size / N`` slice of every
batch (so it must divide evenly). Jittor averages the gradients across
processes inside ``optimizer.backward`` and broadcasts rank 0's weights at the
first step, so the result matches a single process with the same global
batch. Only rank 0 validates, logs and writes checkpoints.
"""
import contextlib
import math
import random
import signal
import time
from pathlib import Path

import jittor as jt
import numpy as np

from ..errors import JsymnetError
from ..checkpoint import read_checkpoint
from ..models.state import compare_state, load_state
from ..config import dump_config, load_config
from ..models import build_model
from ..utils.fileio import atomic_write_text
from .resume import (BEST, FINAL, LATEST, ResumeError, auto_resume_path, resume_run,
                            run_state, save_run, step_seed)
from .ema import WeightAverage
from .runlog import LOG_NAME, RunLog
from .schedule import BatchOrder, MultiStepSchedule
from .optim import make_optimizer
from .step import backward_mode, step_function
from .validation import Validation


def mpi_info():
    """(rank, world_size) of this process; (0, 1) outside ``mpirun``."""
    if getattr(jt, "in_mpi", False):
        return int(jt.rank), int(jt.world_size)
    return 0, 1


class _Stop:
    """SIGINT/SIGTERM set a flag; the loop saves a checkpoint and stops after the step."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        def handler(signum, frame):
            if self.requested:  # second signal: stop now
                raise KeyboardInterrupt
            self.requested = True
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer:
    """Train a :class:`~jsymnet.models.DeepSymmetricNet` from a config (docs/design.md#training).

    ``train_set`` / ``val_set`` default to the config's dataset (``data``
    section; ``train.val_split`` for validation); pass objects with
    ``__getitem__`` -> (low, high) 3 x H x W float32 and ``__len__`` or
    ``num_pairs()`` to train on something else (``val_set=False``: no
    validation). ``work_dir`` receives the files listed in the module doc.
    """

    def __init__(self, cfg, work_dir, train_set=None, val_set=None, progress=True,
                 overrides=None):
        self.cfg = load_config(cfg, overrides)
        self.tcfg = self.cfg["train"]
        self.work_dir = Path(work_dir)
        self.rank, self.world_size = mpi_info()
        self.main = self.rank == 0
        self.progress = progress and self.main
        seed = self.tcfg["seed"]
        jt.set_global_seed(seed, different_seed_for_mpi=False)  # same init on every rank
        random.seed(seed)
        np.random.seed(seed)
        self.model = build_model(self.cfg)
        self.init_report = self._init_weights(self.tcfg["init"]) if self.tcfg["init"] else None
        self.model.train()
        # train.ema: the averaged weights are what validation scores and final.pkl ships
        self.ema = WeightAverage(self.model, self.tcfg["ema"]) if self.tcfg["ema"] else None
        # train.memory_efficient: the reversible IFT backward (same gradients, less memory)
        self.step_fn = step_function(backward_mode(self.tcfg))
        self.optimizer = make_optimizer(self.model, self.tcfg["optim"])
        self.names = {id(p): n for n, p in self.model.named_trainable_parameters()}
        self.train_set = train_set if train_set is not None else self._dataset("train")
        if val_set is None:
            val_set = self._dataset(self.tcfg["val_split"], train=False)
            self.val_set = val_set or None
            if self.tcfg["val_split"] == "test":
                self.check_held_out()
        self.val_set = val_set or None
        self.order = BatchOrder(self._count(self.train_set), self.tcfg["batch_size"], seed,
                                self.rank, self.world_size)
        self.schedule = MultiStepSchedule(self.tcfg["schedule"], self.tcfg["optim"]["lr"],
                                          self.order.batches_per_epoch)
        self.iteration = 0
        self.best = {"psnr": -math.inf, "ssim": None, "iteration": None}
        self.history = []  # (iteration, total loss) of every step run in this process
        self.runlog = RunLog(self.work_dir, enabled=self.main)
        self.validation = Validation(self.val_set, self.tcfg["val_limit"]) \
            if self.val_set is not None else None

    def _init_weights(self, init):
        """``train.init``: the weights of a checkpoint (a path or a shipped name) as the
        starting point of a new run. Strict by default: every tensor must be there with its
        shape, and the error names each one that is not; ``train.init_strict: false``
        loads those that fit and reports the rest, left at their initial values."""
        from ..inference import resolve_weights
        path = resolve_weights(init)
        ckpt = read_checkpoint(path)
        expected = {k: tuple(v.shape) for k, v in self.model.state_dict().items()}
        missing, unexpected, wrong = compare_state(ckpt["state_dict"], expected)
        load_state(self.model, ckpt["state_dict"], strict=self.tcfg["init_strict"],
                   where=str(path))
        return {"path": str(path), "missing": sorted(missing), "unexpected": sorted(unexpected),
                "wrong_shape": sorted(wrong)}

    # ---- data -------------------------------------------------------------------------
    def _dataset(self, split, train=True):
        from ..data import build_dataset
        if train:
            return build_dataset(self.cfg, split, cache=self.tcfg["cache_images"])
        return build_dataset(self.cfg, split, train=False, cache=True)

    def check_held_out(self):
        """Refuse a validation set that shares photos with the training set: its scores
        (and ``best.pkl``) would say nothing about photos the run never saw."""
        if self.val_set is None or self.train_set is None:
            return
        files = lambda d: {str(p.high) for p in getattr(d, "pairs", [])} | \
            {str(p.low) for p in getattr(d, "pairs", [])}
        shared = files(self.train_set) & files(self.val_set)
        if shared:
            example = sorted(shared)[0]
            raise JsymnetError(
                f"the validation pairs share {len(shared)} image files with the training "
                f"pairs (e.g. {example}): validation would score photos the run trains on. "
                f"Hold some out: set data.val_fraction (e.g. --set data.val_fraction=0.2, a "
                f"name-stable share of the pairs), give the folder dataset its own validation "
                f"pairs (data.val_low, data.val_high), or point data.lowlight_test at other folders than data.lowlight_train")

    @staticmethod
    def _count(dataset):
        return dataset.num_pairs() if hasattr(dataset, "num_pairs") else len(dataset)

    def batch(self, iteration):
        """(x_lq, x_hq) jittor arrays of this rank's share of step ``iteration``."""
        epoch, idx = self.order.indices(iteration)
        if hasattr(self.train_set, "epoch_id"):
            self.train_set.epoch_id = epoch  # the dataset seeds crops with (seed, epoch, index)
        items = [self.train_set[i] for i in idx]
        low = np.stack([np.asarray(a, np.float32) for a, _ in items])
        high = np.stack([np.asarray(b, np.float32) for _, b in items])
        return jt.array(low), jt.array(high)

    # ---- state, checkpoints, resume (engine/resume.py) ---------------------------
    @property
    def total_iters(self):
        return self.schedule.total_iters

    def trainer_state(self, with_optimizer=True):
        """What ``extra["trainer"]`` of a checkpoint holds (:func:`.resume.run_state`)."""
        return run_state(self, with_optimizer)

    def save(self, path, with_optimizer=True):
        """Write a checkpoint of the model (and, by default, all the training state)."""
        return save_run(self, path, with_optimizer)

    def resume(self, path):
        """Continue from a checkpoint written by :meth:`save` (exactly where it stopped)."""
        return resume_run(self, path)

    def auto_resume_path(self):
        """``work_dir/latest.pkl`` if a previous run left one there, else None."""
        return auto_resume_path(self.work_dir)

    # ---- logging (engine/runlog.py) -----------------------------------------------------
    def log(self, record):
        """One record of log.jsonl (and of TensorBoard)."""
        self.runlog.write(record)

    # ---- validation (engine/validation.py) ----------------------------------------------
    def validate(self):
        """Mean PSNR / SSIM (docs/design.md#evaluation) of ``enhance`` on the validation
        pairs (the averaged weights with ``train.ema``); a better score than any before writes ``best.pkl``.
        With TensorBoard, input | output | target of the first pairs go with the record.
        None without validation pairs."""
        if self.validation is None or not self.main:
            return None
        with self.ema.applied(self.model) if self.ema is not None else contextlib.nullcontext():
            scores = self.validation.score(self.model)
            panels = self.validation.panels(self.model) if self.runlog.tb is not None else []
        psnr, ssim = scores["psnr"], scores["ssim"]
        improved = psnr > self.best["psnr"]
        if improved:
            self.best = {"psnr": psnr, "ssim": ssim, "iteration": self.iteration}
        self.log({"event": "val", "iter": self.iteration, "psnr": psnr, "ssim": ssim,
                  "images": scores["images"], "best_psnr": self.best["psnr"],
                  "best_iter": self.best["iteration"]})
        self.runlog.images(self.iteration, panels)
        if improved:
            self.save(self.work_dir / BEST, with_optimizer=False)
        return {"psnr": psnr, "ssim": ssim, "best": improved}

    # ---- the loop ---------------------------------------------------------------------
    def train(self, max_steps=None, stop_at=None):
        """Run until the schedule's end (or ``stop_at`` iterations, or ``max_steps`` more).

        Returns a summary dict. SIGINT/SIGTERM finish the current step, write
        ``latest.pkl`` and return (a second signal stops at once).
        """
        from tqdm import tqdm
        end = self.total_iters if stop_at is None else min(stop_at, self.total_iters)
        if max_steps is not None:
            end = min(end, self.iteration + max_steps)
        self._begin(end)
        first, start_time, stopped = self.iteration, time.perf_counter(), False
        self._window = _LogWindow()
        bar = tqdm(total=self.total_iters, initial=self.iteration, disable=not self.progress,
                   desc=self.cfg["name"], unit="it", dynamic_ncols=True)
        with _Stop() as stop:
            while self.iteration < end and not stopped:
                parts, lr = self.step()
                bar.update(1)
                bar.set_postfix(loss=f"{parts['total']:.4g}", lr=f"{lr:.2e}", refresh=False)
                self._after_step(parts, lr, end)
                stopped = stop.requested
        bar.close()
        return self._finish(first, stopped, time.perf_counter() - start_time)

    def _begin(self, end):
        """The run folder (its config, no partial writes of a killed run) and the start record;
        a run started from ``train.init`` validates once first, so that its log begins with
        the score of the weights it started from."""
        if self.main:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            for stale in self.work_dir.glob(".*.tmp.*"):  # a killed run's partial writes
                stale.unlink(missing_ok=True)
            atomic_write_text(self.work_dir / "config.yaml", dump_config(self.cfg))
            if self.tcfg["tensorboard"]:
                self.runlog.open_tensorboard()
        self.log({"event": "start", "iter": self.iteration, "end": end,
                  "total_iters": self.total_iters, "iters_per_epoch":
                  self.order.batches_per_epoch, "train_pairs": self.order.num_items,
                  "world_size": self.world_size, "init": self.init_report,
                  "params": int(sum(p.numel() for p in self.model.trainable_parameters()))})
        if self.init_report is not None and self.iteration == 0:
            self.validate()

    def step(self):
        """One training step at ``self.iteration`` (lr and Jittor's seed are functions of it);
        returns (loss parts, lr)."""
        it = self.iteration
        lr = self.schedule.lr_at(it)
        self.optimizer.set_lr(lr)
        jt.set_seed(step_seed(self.tcfg["seed"], it, self.rank))
        x_lq, x_hq = self.batch(it)
        parts = self.step_fn(self.model, self.optimizer, x_lq, x_hq, self.tcfg)
        if self.ema is not None:
            self.ema.update(self.model)
        if self.world_size > 1:
            # Run this step's gradient all-reduce now on every rank: Jittor is lazy, and a
            # rank that left it pending (e.g. rank 0 reading the weights to save them while
            # the others have exited) would wait forever.
            jt.sync_all()
        if not math.isfinite(parts["total"]):
            self.log({"event": "error", "iter": it, "loss": parts["total"]})
            raise FloatingPointError(
                f"the loss became {parts['total']} at iteration {it}; lower train.optim.lr or "
                f"train.optim.grad_clip, or resume from an earlier checkpoint")
        self.iteration = it + 1
        self.history.append((it, parts["total"]))
        return parts, lr

    def _after_step(self, parts, lr, end):
        """What the intervals of ``train`` ask for after a step: log, validate, save."""
        done, t = self.iteration, self.tcfg
        self._window.add(parts)
        if done % t["log_every"] == 0 or done == end:
            self.log({"event": "train", "iter": done,
                      "epoch": done / self.order.batches_per_epoch, "lr": lr,
                      **self._window.flush()})
        if t["val_every"] and done % t["val_every"] == 0 and done < end:
            self.validate()
        if t["save_every"] and done % t["save_every"] == 0 and done < end:
            self.save(self.work_dir / LATEST)
        if t["keep_every"] and done % t["keep_every"] == 0:
            self.save(self.work_dir / f"iter_{done}.pkl")

    def _finish(self, first, stopped, seconds):
        """Final validation and checkpoints, the end record; returns the summary."""
        result = None
        finished = self.iteration >= self.total_iters
        if not stopped and self.iteration > first or finished:
            result = self.validate()
        self.save(self.work_dir / LATEST)
        if finished:
            self.save(self.work_dir / FINAL, with_optimizer=False)
        summary = {"event": "end", "iter": self.iteration, "finished": finished,
                   "interrupted": stopped, "seconds": round(seconds, 2),
                   "best_psnr": self.best["psnr"] if self.best["iteration"] is not None
                   else None, "best_iter": self.best["iteration"]}
        if result:
            summary.update(val_psnr=result["psnr"], val_ssim=result["ssim"])
        self.log(summary)
        self.runlog.close()
        return summary


class _LogWindow:
    """Loss parts of the steps since the last ``train`` record, and their time."""

    def __init__(self):
        self.parts, self.start = [], time.perf_counter()

    def add(self, parts):
        self.parts.append(parts)

    def flush(self):
        """{"sec_per_iter", "loss_<part>": mean} over the window, which starts again."""
        rec = {"sec_per_iter": (time.perf_counter() - self.start) / len(self.parts)}
        for key in self.parts[0]:
            rec["loss_" + key] = float(np.mean([p[key] for p in self.parts]))
        self.parts, self.start = [], time.perf_counter()
        return rec


def train(cfg, work_dir, resume=None, auto_resume=False, overrides=None, progress=True,
          max_steps=None):
    """Build a :class:`Trainer`, optionally resume, train; returns (trainer, summary)."""
    trainer = Trainer(cfg, work_dir, progress=progress, overrides=overrides)
    if resume is None and auto_resume:
        resume = trainer.auto_resume_path()
    if resume is not None:
        trainer.resume(resume)
    summary = trainer.train(max_steps=max_steps)
    return trainer, summary


__all__ = ["Trainer", "train", "ResumeError",
           "step_seed", "mpi_info", "LATEST", "BEST", "FINAL", "LOG_NAME"]
