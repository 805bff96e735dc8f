"""How a training run starts (:class:`~jsymnet.engine.trainer.Trainer`, before its first
step): the seeds, the starting weights of ``train.init``, the training and validation
sets, and the run folder.

Each is done once, so none of it is part of what a run keeps to resume
(:mod:`.resume`): a resumed run builds the same sets from the same config and then
loads its weights, optimizer and RNG state over what this module set up.
"""
import random

import jittor as jt
import numpy as np

from ..checkpoint import read_checkpoint
from ..config import dump_config
from ..errors import JsymnetError
from ..models import build_model
from ..models.state import compare_state, load_state
from ..utils.fileio import atomic_write_text


def seed_all(seed):
    """Seed Jittor, Python and NumPy with ``seed``, the same on every MPI rank, so that
    every process builds the same initial weights."""
    jt.set_global_seed(seed, different_seed_for_mpi=False)
    random.seed(seed)
    np.random.seed(seed)


def start_model(cfg):
    """(model, init report): the network of a new run from the validated ``cfg``, in
    train mode, with ``train.init``'s weights when that is set (:func:`init_weights`,
    whose report it returns; None without ``train.init``). Call :func:`seed_all` first:
    the initial weights come from the seeded generators."""
    tcfg = cfg["train"]
    model = build_model(cfg)
    report = init_weights(model, tcfg["init"], tcfg["init_strict"]) if tcfg["init"] else None
    model.train()
    return model, report


def init_weights(model, init, strict=True):
    """``train.init``: the weights of a checkpoint (a path or a shipped name) as the
    starting point of a new run. Strict by default: every tensor must be there with its
    shape, and the error names each one that is not; ``strict=False``
    (``train.init_strict: false``) loads those that fit and reports the rest, left at
    their initial values. Returns the report the ``start`` record of log.jsonl carries:
    {"path", "missing", "unexpected", "wrong_shape"}."""
    from ..inference import resolve_weights
    path = resolve_weights(init)
    ckpt = read_checkpoint(path)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing, unexpected, wrong = compare_state(ckpt["state_dict"], expected)
    load_state(model, ckpt["state_dict"], strict=strict, where=str(path))
    return {"path": str(path), "missing": sorted(missing), "unexpected": sorted(unexpected),
            "wrong_shape": sorted(wrong)}


def count_pairs(dataset):
    """How many pairs ``dataset`` holds: its ``num_pairs()`` where it has one (a dataset
    whose length counts crops or repeats), else its ``len``."""
    return dataset.num_pairs() if hasattr(dataset, "num_pairs") else len(dataset)


def run_datasets(cfg, train_set=None, val_set=None):
    """(training set, validation set or None) of a run from the validated ``cfg``.

    A set passed in is used as it is (``val_set=False``: no validation); otherwise the
    training set is the config's ``train`` split (images cached in memory with
    ``train.cache_images``) and the validation set its ``train.val_split`` (always
    cached, without crops or flips). A validation set taken from the ``test`` split must
    be held out (:func:`check_held_out`)."""
    from ..data import build_dataset
    tcfg = cfg["train"]
    if train_set is None:
        train_set = build_dataset(cfg, "train", cache=tcfg["cache_images"])
    if val_set is None:
        val_set = build_dataset(cfg, tcfg["val_split"], train=False, cache=True) or None
        if tcfg["val_split"] == "test":
            check_held_out(train_set, val_set)
    return train_set, val_set or None


def check_held_out(train_set, val_set):
    """Refuse a validation set that shares photos with the training set: its scores
    (and ``best.pkl``) would say nothing about photos the run never saw."""
    if val_set is None or train_set is None:
        return
    files = lambda d: {str(p.high) for p in getattr(d, "pairs", [])} | \
        {str(p.low) for p in getattr(d, "pairs", [])}
    shared = files(train_set) & files(val_set)
    if shared:
        example = sorted(shared)[0]
        raise JsymnetError(
            f"the validation pairs share {len(shared)} image files with the training "
            f"pairs (e.g. {example}): validation would score photos the run trains on. "
            f"Hold some out: set data.val_fraction (e.g. --set data.val_fraction=0.2, a "
            f"name-stable share of the pairs), give the folder dataset its own validation "
            f"pairs (data.val_low, data.val_high), or point data.lowlight_test at other folders than data.lowlight_train")


def prepare_folder(work_dir, cfg):
    """Make the run folder ``work_dir``, remove the partial writes a killed run left
    there (``.*.tmp.*``: every file is written atomically, so these are never read), and
    write the run's validated config to ``config.yaml``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    for stale in work_dir.glob(".*.tmp.*"):
        stale.unlink(missing_ok=True)
    atomic_write_text(work_dir / "config.yaml", dump_config(cfg))


__all__ = ["check_held_out", "count_pairs", "init_weights", "prepare_folder",
           "run_datasets", "seed_all", "start_model"]
