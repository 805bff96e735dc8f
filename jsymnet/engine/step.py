"""One optimisation step of SPEC section 5: bidirectional loss, Adam, gradient-norm clip."""
import jittor as jt

from ..losses import bidirectional_loss


def make_optimizer(model, optim_cfg):
    """Adam over the trainable parameters (the frozen codec is left out), from ``train.optim``."""
    return jt.optim.Adam(model.trainable_parameters(), lr=optim_cfg["lr"],
                         betas=tuple(optim_cfg["betas"]),
                         weight_decay=optim_cfg["weight_decay"])


def train_step(model, optimizer, x_lq, x_hq, train_cfg):
    """Loss, backward, clip to ``grad_clip`` (if set), Adam update. Returns the loss parts as floats."""
    total, parts = bidirectional_loss(model, x_lq, x_hq, train_cfg["loss"])
    optimizer.zero_grad()
    optimizer.backward(total)
    if train_cfg["optim"]["grad_clip"]:
        optimizer.clip_grad_norm(train_cfg["optim"]["grad_clip"])
    optimizer.step()
    out = {k: float(v.item()) for k, v in parts.items()}
    out["total"] = float(total.item())
    return out
