"""jsymnet checkpoints: weights + the config that builds them + where they came from.

A checkpoint is a ``jt.save`` pickle of a dict::

    {"format": "jsymnet-checkpoint", "version": 1,
     "config": <validated config dict>, "state_dict": {name: float32 ndarray},
     "source": {...free-form provenance...}, "extra": {...e.g. optimizer state...}}

:func:`load_model` rebuilds the network from the file alone.
"""
from pathlib import Path

import jittor as jt
import numpy as np

from .errors import JsymnetError
from .config import ConfigError, load_config
from .models import build_model
from . import resources
from .utils.fileio import atomic_path

FORMAT = "jsymnet-checkpoint"
DEFAULT_WEIGHTS = resources.DEFAULT_MODEL  # the default model that ships
# how a legacy (non-zip) torch.save file starts: a pickled LONG1 of its magic number
_TORCH_LEGACY = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
VERSION = 1


class CheckpointError(JsymnetError, ValueError):
    """A file is not a (compatible) jsymnet checkpoint; the message says what it is."""


def state_to_numpy(state):
    return {k: (v.numpy() if isinstance(v, jt.Var) else np.asarray(v)).astype(np.float32)
            for k, v in state.items()}


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
    """The checkpoint dict, checked; raises :class:`CheckpointError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        head = f.read(32)
    torch_file = head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and _TORCH_LEGACY in head)
    if path.suffix in (".pth", ".pt") or torch_file:
        raise CheckpointError(f"{path} looks like a PyTorch file; convert it first with "
                              f"tools/convert_weights.py {path} -o {path.with_suffix('.pkl')}")
    from .convert import ConvertError, read_pickle  # restricted: runs nothing from the file
    try:
        obj = read_pickle(path)
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


def load_model(path, strict=True):
    """Build a :class:`DeepSymmetricNet` from a checkpoint alone (config included)."""
    ckpt = read_checkpoint(path)
    try:
        cfg = load_config(ckpt["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: the model config stored in it is invalid: {exc}") \
            from None
    model = build_model(cfg, load_codec_weights=False)
    load_state(model, ckpt["state_dict"], strict=strict, where=str(path))
    model.eval()
    return model


def load_state(model, state, strict=True, where="state dict", allow_nonfinite=False):
    """Load arrays into ``model``; with ``strict`` every key and shape must match.

    A tensor holding NaN or Inf is an error (a diverged or damaged run would
    otherwise enhance every photo to black) unless ``allow_nonfinite``.
    """
    if not allow_nonfinite:
        bad = [k for k, v in state.items()
               if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all()]
        if bad:
            raise CheckpointError(f"{where} holds NaN or Inf values in {len(bad)} tensors "
                                  f"({bad[:3]}{' ...' if len(bad) > 3 else ''}): the run that "
                                  f"wrote it diverged or the file is damaged; use an earlier "
                                  f"checkpoint")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in own
             if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if strict and (missing or unexpected or wrong):
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected),
                             ("wrong shape (got, expected)", wrong)):
            if items:
                parts.append(f"{len(items)} {label}: {items[:5]}{' ...' if len(items) > 5 else ''}")
        raise CheckpointError(f"{where} does not fit this model: " + "; ".join(parts))
    for k, v in state.items():
        if k in own and tuple(v.shape) == tuple(own[k].shape):
            own[k].assign(jt.array(np.asarray(v, dtype=np.float32)))
    return missing, unexpected
