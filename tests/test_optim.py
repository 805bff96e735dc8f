"""jsymnet's Adam is torch.optim.Adam: against a NumPy transcription of
torch's update, with weight decay and gradient-norm clipping, for hundreds of steps."""
import jsymnet  # noqa: F401
import jittor as jt
import numpy as np
import pytest

from jsymnet.engine import OPTIMIZERS, OptimizerStateError
from numpy_reference import torch_adam

STEPS = 300
# A least-squares toy problem whose gradients shrink as it converges, so Adam's eps
# (large here: 1e-3) matters as it does late in training; the clip is active early on.
X = np.random.RandomState(0).randn(32, 6).astype(np.float32)
Y = (X @ np.random.RandomState(1).randn(6, 3) + 0.3).astype(np.float32)
START = [np.random.RandomState(2).randn(6, 3).astype(np.float32) * 0.1,
         np.zeros(3, np.float32)]
HYPER = dict(lr=0.05, betas=(0.9, 0.99), eps=1e-3, weight_decay=1e-2)
CLIP = 5.0


def numpy_grads(params):
    w, b = params
    r = X @ w + b - Y
    return [2 * X.T @ r / len(X), 2 * r.mean(0)]


def run_jittor(kind, steps=STEPS, start=None, state=None):
    w, b = (jt.array(a.copy()) for a in (start or START))
    opt = OPTIMIZERS[kind]([w, b], **HYPER)
    names = {id(w): "w", id(b): "b"}
    if state is not None:
        opt.load_state(state, names)
    history = []
    x, y = jt.array(X), jt.array(Y)
    for _ in range(steps):
        loss = ((jt.matmul(x, w) + b - y) ** 2).sum() / len(X)
        opt.zero_grad()
        opt.backward(loss)
        opt.clip_grad_norm(CLIP)
        opt.step()
        history.append([w.numpy().copy(), b.numpy().copy()])
    return history, opt.state(names)


def worst_relative(history, reference):
    return max(max(float(np.abs(a - r).max() / (np.abs(r).max() + 1e-12))
                   for a, r in zip(ours, ref)) for ours, ref in zip(history, reference))


@pytest.fixture(scope="module")
def reference():
    return torch_adam(START, numpy_grads, STEPS, clip=CLIP, **HYPER)


def test_adam_follows_torch_adam_to_float32_rounding(reference):
    history, _ = run_jittor("adam")
    moved = float(np.abs(reference[-1][0] - START[0]).max())
    assert moved > 0.5  # the toy problem really trains
    assert worst_relative(history, reference) < 1e-5


def test_jittor_formula_is_measurably_different(reference):
    """The test above can fail: Jittor's own Adam (eps outside the bias correction)
    leaves torch's path on the same problem."""
    history, _ = run_jittor("adam_jittor")
    assert worst_relative(history, reference) > 1e-3


def test_adam_state_resumes_exactly(reference):
    half, state = run_jittor("adam", steps=STEPS // 2)
    rest, _ = run_jittor("adam", steps=STEPS - STEPS // 2, start=half[-1], state=state)
    assert worst_relative(half + rest, reference) < 1e-5


def test_state_of_the_other_formula_is_refused():
    _, state = run_jittor("adam_jittor", steps=1)
    with pytest.raises(OptimizerStateError, match="train.optim.type=adam_jittor"):
        run_jittor("adam", steps=1, state=state)
    del state["formula"]  # as jsymnet 0.1 saved jt.optim.Adam's state
    with pytest.raises(OptimizerStateError, match="adam_jittor"):
        run_jittor("adam", steps=1, state=state)
