"""One optimisation step (docs/design.md#training): bidirectional loss, backward, clip, Adam.

Two backwards give the same gradients: ``ordinary`` back-propagates through
the whole graph; ``reversible`` (``train.memory_efficient``) recomputes each
invertible block's input from its output (:mod:`jsymnet.engine.reversible`).
:func:`step_function` picks one; everything else about the step is shared.
"""
from ..losses import bidirectional_loss
from .optim import make_optimizer
from .reversible import reversible_grads

BACKWARDS = ("reversible", "ordinary")


def _clip_and_update(optimizer, train_cfg):
    if train_cfg["optim"]["grad_clip"]:
        optimizer.clip_grad_norm(train_cfg["optim"]["grad_clip"])
    optimizer.step()


def train_step(model, optimizer, x_lq, x_hq, train_cfg):
    """Loss, backward, clip to ``grad_clip`` (if set), Adam update. Returns the loss parts as floats."""
    total, parts = bidirectional_loss(model, x_lq, x_hq, train_cfg["loss"])
    optimizer.zero_grad()
    optimizer.backward(total)
    _clip_and_update(optimizer, train_cfg)
    out = {k: float(v.item()) for k, v in parts.items()}
    out["total"] = float(total.item())
    return out


def reversible_step(model, optimizer, x_lq, x_hq, train_cfg):
    """:func:`train_step` with the reversible backward through the IFT."""
    grads, parts = reversible_grads(model, x_lq, x_hq, train_cfg["loss"])
    optimizer.set_grads(grads)
    _clip_and_update(optimizer, train_cfg)
    return parts


def backward_mode(train_cfg, choice="config"):
    """``"reversible"`` or ``"ordinary"``: ``choice``, or with ``"config"`` what
    ``train.memory_efficient`` says."""
    if choice == "config":
        return "reversible" if train_cfg["memory_efficient"] else "ordinary"
    if choice not in BACKWARDS:
        raise ValueError(f"unknown backward {choice!r}; use config, reversible or ordinary")
    return choice


def step_function(mode):
    """The training step for a :func:`backward_mode`."""
    return reversible_step if mode == "reversible" else train_step


__all__ = ["make_optimizer", "train_step", "reversible_step", "backward_mode", "step_function",
           "BACKWARDS"]
