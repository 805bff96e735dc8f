"""State dicts (name -> array) against a model: compare, report, load.

Shared by jsymnet checkpoints (:mod:`jsymnet.checkpoint`) and the release key
mapping (:mod:`jsymnet.models.release`). The strict report of what does not fit
(missing, unexpected and wrongly shaped tensors) is written here only, so every
file that does not fit a model is described the same way.
"""
import jittor as jt
import numpy as np

from ..errors import SHOW, JsymnetError

__all__ = ["CheckpointError", "state_to_numpy", "compare_state", "mismatch_message",
           "load_state"]



class CheckpointError(JsymnetError, ValueError):
    """A file is not a (compatible) jsymnet checkpoint, or the weights it holds do not
    fit the model; the message says what it is."""


def state_to_numpy(state):
    """``{name: float32 ndarray}`` from a state dict of Jittor Vars or arrays."""
    return {k: (v.numpy() if isinstance(v, jt.Var) else np.asarray(v)).astype(np.float32)
            for k, v in state.items()}


def compare_state(state, expected_shapes):
    """(missing, unexpected, wrong): the names of ``expected_shapes`` absent from
    ``state``, the names of ``state`` not expected, and the names in both whose shape
    differs. Lists in the order of ``expected_shapes`` (``state`` for unexpected)."""
    missing = [k for k in expected_shapes if k not in state]
    unexpected = [k for k in state if k not in expected_shapes]
    wrong = [k for k in expected_shapes
             if k in state and tuple(state[k].shape) != tuple(expected_shapes[k])]
    return missing, unexpected, wrong


def _first(items, n=SHOW):
    items = list(items)
    return f"{items[:n]}{' ...' if len(items) > n else ''}"


def mismatch_message(where, what, missing, unexpected, wrong, expected_shapes, state):
    """The strict report: ``{where} does not fit {what}: N missing: [...]; ...``,
    each tensor named with its shape (see :func:`compare_state`)."""
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: "
                     + _first(f"{k} {tuple(expected_shapes[k])}" for k in missing))
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: "
                     + _first(f"{k} {tuple(state[k].shape)}" for k in unexpected))
    if wrong:
        parts.append(f"{len(wrong)} with the wrong shape: "
                     + _first(f"{k} is {tuple(state[k].shape)}, expected "
                              f"{tuple(expected_shapes[k])}" for k in wrong))
    return f"{where} does not fit {what}: " + "; ".join(parts)


def load_state(model, state, strict=True, where="state dict", allow_nonfinite=False):
    """Load arrays into ``model``; with ``strict`` every key and shape must match.

    A tensor holding NaN or Inf is an error (a diverged or damaged run would
    otherwise enhance every photo to black) unless ``allow_nonfinite``.
    Raises :class:`CheckpointError`; returns (missing, unexpected) names.
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
    expected = {k: tuple(v.shape) for k, v in own.items()}
    missing, unexpected, wrong = compare_state(state, expected)
    if strict and (missing or unexpected or wrong):
        raise CheckpointError(mismatch_message(where, "this model", missing, unexpected, wrong,
                                               expected, state))
    for k, v in state.items():
        if k in own and tuple(v.shape) == tuple(own[k].shape):
            own[k].assign(jt.array(np.asarray(v, dtype=np.float32)))
    return missing, unexpected
