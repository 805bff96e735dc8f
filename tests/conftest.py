"""Shared fixtures and helpers. jsymnet is imported first: it prepares Jittor's runtime.

Helpers for the tests (``from conftest import ...``): :func:`tiny_config` and
:func:`tiny_haar_config` (small networks), :func:`randomize`, :func:`numpy_state`
(a state dict as numpy), :func:`max_diff` and :func:`largest_diff`, and
:func:`load_tool` (a script of tools/ as a module).
"""
import importlib.util
import os
import sys
from pathlib import Path

import jsymnet  # noqa: F401  (before jittor, always)
import jittor as jt
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
# benchmarks/ holds what is no part of the package and no user command: the benchmark
# harness (benchlib) and the PyTorch reference (reference). Appended, so it shadows nothing.
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.append(str(ROOT / "benchmarks"))


@pytest.fixture(autouse=True)
def _seed():
    jt.set_global_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (../shared/data beside the repo)")
    return SHARED_DATA


class RunsCode:
    """Pickles to ``os.system("touch PWNED")``: what a hostile weights file carries."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def tiny_config(**subnet):
    """A small network that keeps every part of the real one (for fast tests)."""
    sub = {"mid_channels": 16, "hidden_channels": 32, "reduction": 4}
    sub.update(subnet)
    return {"model": {"codec": {"type": "vgg", "weights": None, "channels": 16},
                      "ift": {"num_blocks": 2}, "subnet": sub}}


def tiny_haar_config(**subnet):
    """A small Haar-codec network (the demo model's kind; no VGG weights involved)."""
    sub = {"rounds": 2, "mid_channels": 16, "hidden_channels": 16, "reduction": 4}
    sub.update(subnet)
    return {"model": {"codec": {"type": "haar"}, "ift": {"num_blocks": 2, "split": 6},
                      "subnet": sub}}


def randomize(module, scale=0.2):
    """Give every trainable weight a random value (std ``scale``/sqrt(fan_in); PReLU ~0.2).

    At the release's initialisation (docs/design.md#init) every coupling is the identity,
    which would make round-trip and gradient tests trivially true.
    """
    for name, p in module.named_parameters():
        if p.is_stop_grad():
            continue
        if "prelu" in name or name.endswith("conv_du.1.weight"):
            p.assign(0.2 + 0.05 * jt.randn(p.shape))
        elif p.ndim == 4:
            fan_in = p.shape[1] * p.shape[2] * p.shape[3]
            p.assign(jt.randn(p.shape) * (scale / fan_in ** 0.5))
        else:
            p.assign(0.02 * jt.randn(p.shape))
    return module


def feat(x):
    """N x C x H x W data (NumPy or a var) as a feature map in the active layout
    (``jsymnet.models.layout``): what the network's modules take."""
    from jsymnet.models import layout
    return layout.active().to_internal(x if isinstance(x, jt.Var) else jt.array(x))


def public(v):
    """A feature map in the active layout as N x C x H x W NumPy data."""
    from jsymnet.models import layout
    return layout.active().to_public(v).numpy()


def max_diff(a, b):
    a = a.numpy() if hasattr(a, "numpy") else a
    b = b.numpy() if hasattr(b, "numpy") else b
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def numpy_state(module, dtype=None):
    """``module.state_dict()`` as numpy arrays: copies, or converted to ``dtype``."""
    return {k: v.numpy().astype(dtype) if dtype else v.numpy().copy()
            for k, v in module.state_dict().items()}


def largest_diff(a, b):
    """The largest absolute difference between two state dicts (numpy or Vars), same keys."""
    assert a.keys() == b.keys()
    return max(max_diff(a[k], b[k]) for k in a)


def load_tool(name):
    """The script ``tools/<name>.py`` as a module (its ``main(argv)`` and helpers)."""
    spec = importlib.util.spec_from_file_location(f"jsymnet_tool_{name}",
                                                  ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_haar_checkpoint(path, seed=1, scale=0.3):
    """A saved :func:`tiny_haar_config` network with random couplings (seeded): the
    weights of the enhance, app and browser tests. Returns ``path``."""
    jt.set_global_seed(seed)
    model = jsymnet.build_model(tiny_haar_config())
    randomize(model, scale)
    jsymnet.save_checkpoint(path, model)
    return path


def random_rgb8(h, w, seed=5):
    """A seeded random H x W x 3 uint8 photo."""
    return (np.random.RandomState(seed).rand(h, w, 3) * 255).astype(np.uint8)


IMAGE_H, IMAGE_W = 37, 53   # the photo size of the enhance and app tests (odd: padding)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """:func:`tiny_haar_checkpoint` saved once per test module."""
    return tiny_haar_checkpoint(tmp_path_factory.mktemp("w") / "tiny.pkl")


@pytest.fixture(scope="module")
def rgb8():
    """A random :data:`IMAGE_H` x :data:`IMAGE_W` photo, the same in every module."""
    return random_rgb8(IMAGE_H, IMAGE_W)
