"""jsymnet checkpoints: weights + the config that builds them + where they came from.

A checkpoint is a ``jt.save`` pickle of a dict::

    {"format": "jsymnet-checkpoint", "version": 1,
     "config": <validated config dict>, "state_dict": {name: float32 ndarray},
     "source": {...free-form provenance...}, "extra": {...e.g. optimizer state...}}

:func:`load_model` rebuilds the network from the file alone. Files are read with
the restricted reader of :mod:`jsymnet.torch_pickle` (nothing in them runs);
loading the weights into the model is :func:`jsymnet.models.state.load_state`.
"""
from pathlib import Path

import jittor as jt
import numpy as np

from .config import ConfigError, load_config, network
from .models import build_model
from .models.state import CheckpointError, load_state, state_to_numpy
from . import resources
from .torch_pickle import ConvertError, is_torch_file, read_pickle
from .utils.fileio import atomic_path

__all__ = ["FORMAT", "VERSION", "DEFAULT_WEIGHTS", "CheckpointError", "default_weights",
           "save_checkpoint", "read_checkpoint", "load_model"]

FORMAT = "jsymnet-checkpoint"
DEFAULT_WEIGHTS = resources.DEFAULT_MODEL  # the default model that ships
VERSION = 1


def default_weights():
    """The shipped default model (``weights/jsymnet_default.pkl``, in the installed package
    or the source checkout), or None when it is absent."""
    return resources.default_model()


def save_checkpoint(path, model=None, state_dict=None, config=None, source=None, extra=None):
    """Write a checkpoint atomically (the previous file survives a crash mid-write)."""
    if model is not None:
        state_dict = model.state_dict() if state_dict is None else state_dict
        config = model.config if config is None else config
    if state_dict is None or config is None:
        raise ValueError("save_checkpoint needs a model, or a state_dict and a config")
    payload = {"format": FORMAT, "version": VERSION, "config": config,
               "state_dict": state_to_numpy(state_dict), "source": source or {},
               "extra": extra or {}}
    with atomic_path(path) as tmp:
        jt.save(payload, str(tmp))
    return Path(path)


def _describe(obj):
    if isinstance(obj, dict):
        keys = [str(k) for k in list(obj)[:5]]
        if any(k.startswith(("operations.", "module.operations.")) for k in keys):
            return "a release PyTorch state dict; convert it with tools/convert_weights.py"
        if {"conv1_1", "conv1_2"} <= set(obj) or "features.0.weight" in obj:
            return "VGG weights (a codec weights file), not a whole model"
        return f"a dict with keys {keys}{' ...' if len(obj) > 5 else ''}"
    return f"a {type(obj).__name__}"


def read_checkpoint(path):
    """The checkpoint dict, checked; raises :class:`CheckpointError` otherwise.

    A relative path that does not exist here may name a file that ships with
    jsymnet (``weights/jsymnet_default.pkl``), as config names do.
    """
    path = resources.resolve_file(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix in (".pth", ".pt") or is_torch_file(path):
        raise CheckpointError(f"{path} looks like a PyTorch file; convert it first with "
                              f"tools/convert_weights.py {path} -o {path.with_suffix('.pkl')}")
    try:
        obj = read_pickle(path)  # restricted: runs nothing from the file
    except ConvertError as exc:
        raise CheckpointError(f"{path} is not a readable jsymnet checkpoint: {exc}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a jsymnet checkpoint: it holds {_describe(obj)}")
    missing = [k for k in ("config", "state_dict") if not isinstance(obj.get(k), dict)]
    if missing:
        raise CheckpointError(f"{path} is a damaged jsymnet checkpoint: it has no "
                              f"{' and no '.join(missing)}")
    if obj.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} is checkpoint version {obj['version']}; this jsymnet "
                              f"reads up to {VERSION}: upgrade jsymnet")
    return obj


def _config(path, ckpt):
    """The validated config a checkpoint stores; a bad one is a :class:`CheckpointError`."""
    try:
        return load_config(ckpt["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: the model config stored in it is invalid: {exc}") \
            from None


def load_model(path, strict=True):
    """Build a :class:`DeepSymmetricNet` from a checkpoint alone (config included)."""
    ckpt = read_checkpoint(path)
    model = build_model(_config(path, ckpt), load_codec_weights=False)
    load_state(model, ckpt["state_dict"], strict=strict, where=str(path))
    model.eval()
    return model


def average_checkpoints(paths, weights=None):
    """A weighted average of checkpoints of one network, as a checkpoint dict.

    ``sum_i w_i * theta_i`` tensor by tensor (``weights``: one per path, summing to 1;
    default uniform). Fine-tunes of one network from the same weights stay in one basin,
    so their average interpolates what they learnt (a "model soup", Wortsman et al.,
    ICML 2022): the default model is such an average. The files must hold one network
    (:func:`~jsymnet.config.network` of their configs equal) and the same tensors by
    name and shape; the first file's config is kept.
    """
    if len(paths) < 2:
        raise CheckpointError("averaging needs at least two checkpoints")
    weights = [1.0 / len(paths)] * len(paths) if weights is None else [float(w) for w in weights]
    if len(weights) != len(paths) or min(weights) < 0 or abs(sum(weights) - 1.0) > 1e-6:
        raise CheckpointError(f"give one non-negative weight per checkpoint, summing to 1; "
                              f"got {weights} for {len(paths)} files")
    ckpts = [read_checkpoint(p) for p in paths]
    first = ckpts[0]
    nets = [network(_config(path, ck)) for path, ck in zip(paths, ckpts)]
    for path, ck, net in zip(paths[1:], ckpts[1:], nets[1:]):
        differ = sorted(k for k in set(net) | set(nets[0]) if net.get(k) != nets[0].get(k))
        if differ:
            raise CheckpointError(f"{path} is another network than {paths[0]} (model."
                                  f"{', model.'.join(differ)} differ): only one "
                                  f"network's checkpoints can be averaged")
        ours, theirs = set(first["state_dict"]), set(ck["state_dict"])
        if ours != theirs:
            raise CheckpointError(f"{path} and {paths[0]} hold different tensors: "
                                  f"{sorted(ours ^ theirs)[:5]}")
    state = {}
    for key in first["state_dict"]:
        values = [np.asarray(ck["state_dict"][key]) for ck in ckpts]
        if any(v.shape != values[0].shape for v in values):
            raise CheckpointError(f"tensor {key} has shapes {[v.shape for v in values]}")
        state[key] = sum(w * v.astype(np.float64) for w, v in zip(weights, values)).astype(
            values[0].dtype)
    source = {"kind": "average", "weights": dict(zip(map(str, paths), weights)),
              "sources": [ck.get("source", {}) for ck in ckpts]}
    return {"state_dict": state, "config": first["config"], "source": source}
