"""Shared fixtures. jsymnet is imported first: it prepares Jittor's runtime."""
import os
from pathlib import Path

import jsymnet  # noqa: F401  (before jittor, always)
import jittor as jt
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


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


def tiny_config(**subnet):
    """A small network that keeps every part of the real one (for fast tests)."""
    sub = {"mid_channels": 16, "hidden_channels": 32, "reduction": 4}
    sub.update(subnet)
    return {"model": {"codec": {"type": "vgg", "weights": None, "channels": 16},
                      "ift": {"num_blocks": 2}, "subnet": sub}}
