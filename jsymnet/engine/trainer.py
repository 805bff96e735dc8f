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

This module is the loop; each other concern is a module of its own:
:mod:`.start` (seeds, ``train.init``, the training and validation sets, the run
folder), :mod:`.resume` (what the checkpoints hold, exact resume), :mod:`.runlog`
(log.jsonl and TensorBoard), :mod:`.validation` (the validation score, by
:func:`jsymnet.evaluation.score_pair`, and the best so far), :mod:`.step` (one
step), :mod:`.schedule` (batch order, batches and lr), :mod:`.ema` (the weight average).

Multi-GPU (Jittor's MPI data parallel)::

    mpirun -np 4 python tools/train.py -c configs/lol.yaml

Every process runs this same loop; ``train.batch_size`` stays the *global*
batch and each process takes its own ``batch_size / N`` slice of every
batch (so it must divide evenly). Jittor averages the gradients across
processes inside ``optimizer.backward`` and broadcasts rank 0's weights at the
first step, so the result matches a single process with the same global
batch. Only rank 0 validates, logs and writes checkpoints.
"""
import math
import signal
import time
from pathlib import Path

import jittor as jt

from ..config import load_config
from .resume import (BEST, FINAL, LATEST, ResumeError, auto_resume_path, resume_run,
                     run_state, save_run, step_seed)
from .ema import WeightAverage
from .runlog import LOG_NAME, LossWindow, RunLog, end_record, start_record
from .schedule import BatchOrder, MultiStepSchedule, load_batch
from .optim import make_optimizer
from .start import count_pairs, prepare_folder, run_datasets, seed_all, start_model
from .step import backward_mode, step_function
from .validation import Validation, validate_run


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
        self.tcfg = t = self.cfg["train"]
        self.work_dir = Path(work_dir)
        self.rank, self.world_size = mpi_info()
        self.main = self.rank == 0
        self.progress = progress and self.main
        seed_all(t["seed"])  # the same initial weights on every rank
        self.model, self.init_report = start_model(self.cfg)
        # train.ema: the averaged weights are what validation scores and final.pkl ships
        self.ema = WeightAverage(self.model, t["ema"]) if t["ema"] else None
        # train.memory_efficient: the reversible IFT backward (same gradients, less memory)
        self.step_fn = step_function(backward_mode(t))
        self.optimizer = make_optimizer(self.model, t["optim"])
        self.names = {id(p): n for n, p in self.model.named_trainable_parameters()}
        self.train_set, self.val_set = run_datasets(self.cfg, train_set, val_set)
        self.order = BatchOrder(count_pairs(self.train_set), t["batch_size"], t["seed"],
                                self.rank, self.world_size)
        self.schedule = MultiStepSchedule(t["schedule"], t["optim"]["lr"],
                                          self.order.batches_per_epoch)
        self.iteration = 0
        self.best = {"psnr": -math.inf, "ssim": None, "iteration": None}
        self.history = []  # (iteration, total loss) of every step run in this process
        self.runlog = RunLog(self.work_dir, enabled=self.main)
        self.validation = Validation(self.val_set, t["val_limit"]) \
            if self.val_set is not None else None

    def batch(self, iteration):
        """(x_lq, x_hq) jittor arrays of this rank's share of step ``iteration``."""
        return tuple(jt.array(a) for a in load_batch(self.train_set, self.order, iteration))

    # ---- the run's checkpoints, resume, log and validation: other modules' functions
    # of the trainer (resume.py, runlog.py, validation.py), reachable as its methods
    trainer_state = run_state    # trainer_state(with_optimizer=True): extra["trainer"]
    save = save_run              # save(path, with_optimizer=True): write a checkpoint
    resume = resume_run          # resume(path): continue exactly where it stopped
    validate = validate_run      # validate(): score the validation pairs, keep the best

    @property
    def total_iters(self):
        return self.schedule.total_iters

    def auto_resume_path(self):
        """``work_dir/latest.pkl`` if a previous run left one there, else None."""
        return auto_resume_path(self.work_dir)

    def log(self, record):
        """One record of log.jsonl (and of TensorBoard)."""
        self.runlog.write(record)

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
        self._window = LossWindow()
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
        """The run folder (:func:`.start.prepare_folder`) and the start record; a run
        started from ``train.init`` validates once first, so that its log begins with the
        score of the weights it started from."""
        if self.main:
            prepare_folder(self.work_dir, self.cfg)
            if self.tcfg["tensorboard"]:
                self.runlog.open_tensorboard()
        self.log(start_record(self, end))
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
            self.log(self._window.record(done, done / self.order.batches_per_epoch, lr))
        if t["val_every"] and done % t["val_every"] == 0 and done < end:
            self.validate()
        if t["save_every"] and done % t["save_every"] == 0 and done < end:
            self.save(self.work_dir / LATEST)
        if t["keep_every"] and done % t["keep_every"] == 0:
            self.save(self.work_dir / f"iter_{done}.pkl")

    def _finish(self, first, stopped, seconds):
        """Final validation and checkpoints, the end record; returns that record."""
        finished = self.iteration >= self.total_iters
        validated = (not stopped and self.iteration > first) or finished
        result = self.validate() if validated else None
        self.save(self.work_dir / LATEST)
        if finished:
            self.save(self.work_dir / FINAL, with_optimizer=False)
        summary = end_record(self, finished, stopped, seconds, result)
        self.log(summary)
        self.runlog.close()
        return summary


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
