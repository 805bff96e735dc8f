"""An exponential moving average of the trainable weights (``train.ema``).

After every step ``theta_avg <- d * theta_avg + (1 - d) * theta`` for each
trainable weight, starting from the run's first weights. Validation,
``best.pkl`` and ``final.pkl`` use the averaged weights (they are what the run
ships); ``latest.pkl`` keeps both, so that a resumed run continues the average
exactly. A decay ``d`` of 0.999 averages over about the last 1000 steps.
"""
import contextlib

import jittor as jt
import numpy as np


class WeightAverage:
    """The averaged copy of ``model``'s trainable weights, with decay ``decay``."""

    def __init__(self, model, decay):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"an average's decay is in (0, 1), got {decay}")
        self.decay = float(decay)
        self.shadow = {n: p.clone().stop_grad() for n, p in model.named_trainable_parameters()}
        jt.sync(list(self.shadow.values()))  # now: a lazy copy would read later weights
        self._applied = False

    def update(self, model):
        d = self.decay
        for n, p in model.named_trainable_parameters():
            self.shadow[n] = (d * self.shadow[n] + (1.0 - d) * p.detach()).stop_grad()
        jt.sync(list(self.shadow.values()))

    def state(self):
        return {"decay": self.decay, "weights": {n: v.numpy() for n, v in self.shadow.items()}}

    def load(self, state, where="checkpoint"):
        missing = set(self.shadow) - set(state["weights"])
        if missing:
            raise KeyError(f"{where}: the weight average lacks {sorted(missing)[:3]}")
        self.shadow = {n: jt.array(np.asarray(state["weights"][n], np.float32)).stop_grad()
                       for n in self.shadow}

    @contextlib.contextmanager
    def applied(self, model):
        """The model holds the averaged weights inside the block, its own after it (nested
        uses are the same block)."""
        if self._applied:
            yield
            return
        params = dict(model.named_trainable_parameters())
        own = {n: p.numpy().copy() for n, p in params.items()}
        # Fresh arrays in and out: updating a weight with a stop_grad Var (the average, or a
        # clone of itself) makes the weight stop_grad too, and every later step a no-op.
        for n, p in params.items():
            p.update(jt.array(self.shadow[n].numpy()))
        jt.sync(list(params.values()))
        self._applied = True
        try:
            yield
        finally:
            for n, p in params.items():
                p.update(jt.array(own[n]))
            jt.sync(list(params.values()))
            self._applied = False


__all__ = ["WeightAverage"]
