"""Checkpoint and resume of a training run (the files of :mod:`jsymnet.engine.trainer`).

``latest.pkl`` and ``iter_<N>.pkl`` hold everything a run needs to continue exactly:
the weights, Adam's m / v and step count, the weight average, the schedule, the
iteration and the Python, NumPy and Jittor RNG state. ``best.pkl`` and
``final.pkl`` hold the weights only (the averaged ones with ``train.ema``). All are
jsymnet checkpoints written atomically (:func:`jsymnet.save_checkpoint`).

Resume is exact because everything random is a pure function of the iteration:
the batch order and the crops of (seed, epoch, index), the lr of the iteration,
and Jittor's generator, reseeded from :func:`step_seed` before every step (its
state cannot be read back).
"""
import contextlib
import math
import random

import jittor as jt
import numpy as np

from ..checkpoint import read_checkpoint, save_checkpoint
from ..config import chosen_keys, load_config
from ..errors import JsymnetError
from ..models.state import load_state
from .optim import OptimizerStateError

TRAINER_STATE_VERSION = 1
LATEST, BEST, FINAL = "latest.pkl", "best.pkl", "final.pkl"


class ResumeError(JsymnetError, ValueError):
    """A checkpoint cannot continue this run; the message says why."""


def step_seed(seed, iteration, rank=0):
    """Jittor's seed for step ``iteration`` (a pure function, so resume reseeds identically)."""
    return int(np.random.SeedSequence([seed, iteration, rank]).generate_state(1)[0] % (2 ** 31))


def _architecture(cfg):
    """The model section as far as it makes the network: the keys of the chosen codec and
    subnet only (a config written before a config kept only those still matches), without
    the codec weights path (a moved VGG file is the same net)."""
    model = {k: dict(v) for k, v in cfg["model"].items()}
    for part in ("codec", "subnet"):
        model[part] = chosen_keys(model[part], ("model", part))
    model["codec"].pop("weights", None)
    return model


def run_state(trainer, with_optimizer=True):
    """What ``extra["trainer"]`` of a checkpoint holds: where the run is (iteration,
    epoch, lr, schedule, batch order, best score) and, ``with_optimizer``, what continues it
    exactly (Adam's state, the weight average, every RNG)."""
    epoch, b = trainer.order.locate(trainer.iteration)
    state = {"version": TRAINER_STATE_VERSION, "iteration": trainer.iteration,
             "epoch": epoch, "batch_in_epoch": b, "total_iters": trainer.total_iters,
             "lr": trainer.schedule.lr_at(trainer.iteration),
             "schedule": trainer.schedule.state_dict(), "batch_order": trainer.order.state_dict(),
             "best": dict(trainer.best), "world_size": trainer.world_size}
    if with_optimizer:
        if trainer.ema is not None:
            state["ema"] = trainer.ema.state()
        state["optimizer"] = trainer.optimizer.state(trainer.names)
        state["rng"] = {"python": random.getstate(), "numpy": np.random.get_state(),
                        "jittor_seed": int(jt.get_seed()),
                        "jittor_next": step_seed(trainer.tcfg["seed"], trainer.iteration, trainer.rank)}
    return state

def save_run(trainer, path, with_optimizer=True):
    """Write a checkpoint of the trainer's model (and, by default, all the training state)."""
    if not trainer.main:
        return None
    source = {"kind": "trained", "trainer": "jsymnet.engine.Trainer",
              "run": str(trainer.work_dir), "iteration": trainer.iteration,
              "dataset": trainer.cfg["data"]["dataset"]}
    # weights only (best, final): the averaged weights when train.ema is on; a full
    # state (latest): the weights being trained, the average beside them
    averaged = trainer.ema is not None and not with_optimizer
    if averaged:
        source["weights"] = f"exponential moving average, decay {trainer.ema.decay}"
    with trainer.ema.applied(trainer.model) if averaged else contextlib.nullcontext():
        path = save_checkpoint(path, trainer.model, source=source,
                               extra={"trainer": run_state(trainer, with_optimizer)})
    trainer.log({"event": "checkpoint", "iter": trainer.iteration, "path": str(path),
                 "optimizer": with_optimizer})
    return path

def resume_run(trainer, path):
    """Continue ``trainer`` from a checkpoint :func:`save_run` wrote, exactly where it
    stopped; a checkpoint of another run is a :class:`ResumeError` saying why."""
    ckpt = read_checkpoint(path)
    state = ckpt.get("extra", {}).get("trainer")
    if not state or "optimizer" not in state:
        raise ResumeError(f"{path} holds weights only (no optimizer/iteration state): it "
                          f"cannot be resumed. Resume from a run's {LATEST} (or an "
                          f"iter_<N>.pkl)")
    if _architecture(load_config(ckpt["config"])) != _architecture(trainer.cfg):
        raise ResumeError(f"{path} was trained with another model config than this run; "
                          f"resume with the config it was started with")
    if state["batch_order"]["num_items"] != trainer.order.num_items:
        raise ResumeError(f"{path}: the training set had {state['batch_order']['num_items']}"
                          f" pairs, it now has {trainer.order.num_items}; the run cannot "
                          f"continue exactly")
    if state["batch_order"]["batch_size"] != trainer.order.batch_size:
        raise ResumeError(f"{path}: train.batch_size was {state['batch_order']['batch_size']}"
                          f", now {trainer.order.batch_size}")
    load_state(trainer.model, ckpt["state_dict"], strict=True, where=str(path))
    try:
        trainer.optimizer.load_state(state["optimizer"], trainer.names, str(path))
    except OptimizerStateError as exc:
        raise ResumeError(str(exc)) from None
    if trainer.ema is not None:
        if "ema" not in state:
            raise ResumeError(f"{path} has no weight average, but this run has "
                              f"train.ema: {trainer.tcfg['ema']}; resume with the config it "
                              f"was started with")
        trainer.ema.load(state["ema"], str(path))
    trainer.iteration = int(state["iteration"])
    trainer.best = dict(state["best"])
    if state["best"]["psnr"] is None:
        trainer.best["psnr"] = -math.inf
    rng = state["rng"]
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    jt.set_seed(int(rng["jittor_seed"]))
    trainer.model.train()
    trainer.log({"event": "resume", "iter": trainer.iteration, "from": str(path)})
    return trainer.iteration


def auto_resume_path(work_dir):
    """``work_dir/latest.pkl`` if a previous run left one there, else None."""
    path = work_dir / LATEST
    return path if path.is_file() else None


__all__ = ["BEST", "FINAL", "LATEST", "ResumeError", "TRAINER_STATE_VERSION", "auto_resume_path",
           "resume_run", "run_state", "save_run", "step_seed"]
