"""Adam as the authors train with it: ``torch.optim.Adam``'s update, in Jittor
(docs/design.md#training).

The release trains with ``torch.optim.Adam(lr, betas, weight_decay)`` after
``clip_grad_norm_(params, 10)``. At step t (from 1), for gradient g of
parameter p::

    g  <- g + wd * p                         (L2 weight decay, added to the gradient)
    m  <- b1 * m + (1 - b1) * g
    v  <- b2 * v + (1 - b2) * g^2
    p  <- p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)

``jt.optim.Adam`` differs in where eps goes: it divides by ``sqrt(v) + eps``
and folds ``sqrt(1 - b2^t)`` into the step size, so its effective eps is
``eps / sqrt(1 - b2^t)`` (31.6x larger at step 1, 10x at step 10) and early
training takes another path. ``train.optim.type: adam`` is the formula above;
``adam_jittor`` keeps Jittor's, for runs started with it.

Both share the rest: gradients from :meth:`Adam.backward` (Jittor's, with the
MPI mean) or handed in by :meth:`Adam.set_grads` (the reversible backward),
``torch.nn.utils.clip_grad_norm_``'s clipping, and a NumPy state for exact
resume.
"""
import jittor as jt
import numpy as np

from ..config import ConfigError, Field
from ..errors import JsymnetError
from ..registry import OPTIMIZERS


class OptimizerStateError(JsymnetError, ValueError):
    """A saved optimizer state does not fit this optimizer; the message says why."""


class Adam(jt.optim.Optimizer):
    """``torch.optim.Adam`` (bias-corrected second moment under the root, then ``+ eps``)."""

    formula = "torch"

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas = tuple(float(b) for b in betas)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        for pg in self.param_groups:
            self._init_group(pg)

    @staticmethod
    def _init_group(pg):
        pg["m"] = [jt.zeros(p.shape, p.dtype).stop_grad() for p in pg["params"]]
        pg["values"] = [jt.zeros(p.shape, p.dtype).stop_grad() for p in pg["params"]]

    def add_param_group(self, group):
        self._init_group(group)
        self.param_groups.append(group)

    # ---- gradients --------------------------------------------------------------------
    def _trainable(self):
        for pg in self.param_groups:
            if "grads" not in pg:
                pg["grads"] = [jt.zeros_like(p).stop_grad().stop_fuse() for p in pg["params"]]
            for i, p in enumerate(pg["params"]):
                if not p.is_stop_grad():
                    yield pg, i, p

    def set_grads(self, grads):
        """Use ``grads`` ({id(param): gradient}) as this step's gradients.

        Stands for one :meth:`backward` call computed elsewhere (the reversible
        backward): one more step for the bias correction, and the mean over
        ranks under MPI. A parameter missing from ``grads`` gets zero.
        """
        for pg, i, p in self._trainable():
            g = grads.get(id(p))
            g = jt.zeros_like(p) if g is None else g
            if jt.in_mpi:
                g = g.mpi_all_reduce("mean")
            pg["grads"][i].update(g.stop_grad())
        self.n_step += 1

    def clip_grad_norm(self, max_norm, norm_type=2):
        """``torch.nn.utils.clip_grad_norm_``: scale all gradients by
        ``min(1, max_norm / (||g|| + 1e-6))``, the norm taken over all of them at once."""
        pairs = list(self._trainable())
        if not pairs:
            return
        grads = [pg["grads"][i] for pg, i, _ in pairs]
        total = jt.norm(jt.concat([g.flatten() for g in grads]), norm_type)
        coef = jt.minimum(max_norm / (total + 1e-6), 1.0)
        for g in grads:
            g.update(g * coef)

    # ---- the update -------------------------------------------------------------------
    def _update(self, p, g, m, v, lr, t):
        b1, b2 = self.betas
        m.update(b1 * m + (1 - b1) * g)
        v.update(b2 * v + (1 - b2) * g * g)
        denom = jt.sqrt(v) / float(np.sqrt(1 - b2 ** t)) + self.eps
        p.update(p - (lr / (1 - b1 ** t)) * m / denom)

    def step(self, loss=None, retain_graph=False):
        self.pre_step(loss, retain_graph)
        t = float(self.n_step)
        for pg in self.param_groups:
            lr = pg.get("lr", self.lr)
            for p, g, m, v in zip(pg["params"], pg["grads"], pg["m"], pg["values"]):
                if p.is_stop_grad():
                    continue
                if self.weight_decay:
                    g = g + self.weight_decay * p
                self._update(p, g, m, v, lr, t)
        self.post_step()

    def set_lr(self, lr):
        self.lr = lr
        for pg in self.param_groups:
            if "lr" in pg:
                pg["lr"] = lr

    # ---- state for exact resume -------------------------------------------------------
    def state(self, names):
        """Step count, lr, hyper-parameters and m / v per named parameter, as NumPy."""
        groups = [{"names": [names[id(p)] for p in pg["params"]],
                   "lr": pg.get("lr", self.lr),
                   "m": [m.numpy() for m in pg["m"]],
                   "v": [v.numpy() for v in pg["values"]]} for pg in self.param_groups]
        return {"type": "adam", "formula": self.formula, "n_step": int(self.n_step),
                "lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay, "groups": groups}

    def load_state(self, state, names, where="checkpoint"):
        """Put a :meth:`state` back; parameter names and the update formula must match.

        A state without ``formula`` was saved by ``jt.optim.Adam`` (jsymnet 0.1).
        """
        formula = state.get("formula", "jittor")
        if formula != self.formula:
            other = "adam_jittor" if formula == "jittor" else "adam"
            raise OptimizerStateError(
                f"{where}: the run was trained with the {formula!r} Adam formula; resume it "
                f"with --set train.optim.type={other} (an exact resume needs the same update)")
        if len(state["groups"]) != len(self.param_groups):
            raise OptimizerStateError(f"{where}: optimizer has {len(state['groups'])} parameter "
                                      f"groups, this run {len(self.param_groups)}")
        for pg, saved in zip(self.param_groups, state["groups"]):
            own = [names[id(p)] for p in pg["params"]]
            if own != saved["names"]:
                diff = sorted(set(own) ^ set(saved["names"]))[:5]
                raise OptimizerStateError(
                    f"{where}: the optimizer was saved for other parameters (differing: "
                    f"{diff}); resume with the config the run started with")
            pg["m"] = [jt.array(np.asarray(a, np.float32)).stop_grad() for a in saved["m"]]
            pg["values"] = [jt.array(np.asarray(a, np.float32)).stop_grad() for a in saved["v"]]
            if "lr" in pg:
                pg["lr"] = saved["lr"]
        self.n_step = int(state["n_step"])
        self.lr = state["lr"]


class JittorAdam(Adam):
    """``jt.optim.Adam``'s formula: ``p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``."""

    formula = "jittor"

    def _update(self, p, g, m, v, lr, t):
        b1, b2 = self.betas
        m.update(b1 * m + (1 - b1) * g)
        v.update(b2 * v + (1 - b2) * g * g)
        step_size = lr * float(np.sqrt(1 - b2 ** t)) / (1 - b1 ** t)
        p.update(p - m * step_size / (jt.sqrt(v) + self.eps))


# The keys of ``train.optim`` the Adam updates read (``grad_clip`` is the trainer's).
ADAM_OPTIONS = {
    "lr": Field(2e-4, types=(float,), gt=0.0),
    "betas": Field([0.9, 0.999], types=(list,)),
    "eps": Field(1e-8, types=(float,), gt=0.0, doc="Adam's epsilon (torch's default)"),
    "weight_decay": Field(1e-5, types=(float,), low=0.0),
}


def _check_betas(section, where):
    betas = section["betas"]
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ConfigError(f"{where}: key 'train.optim.betas' must hold two numbers in [0, 1), "
                          f"got {betas}")


OPTIMIZERS.register("adam", Adam, options=ADAM_OPTIONS, check=_check_betas)
OPTIMIZERS.register("adam_jittor", JittorAdam, options=ADAM_OPTIONS, check=_check_betas)


def make_optimizer(model, optim_cfg):
    """The optimiser of ``train.optim`` over the trainable parameters (the frozen codec is
    left out): the registered class, given the options it declared."""
    cls = OPTIMIZERS.get(optim_cfg["type"])
    options = OPTIMIZERS.settings(optim_cfg["type"], optim_cfg)
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    return cls(model.trainable_parameters(), **options)
