"""Every Table 2 ablation config (configs/ablations/, docs/design.md#variants) builds and
trains one step.

The full-size networks run at 32 x 32, batch 1, with random codec weights
(no ImageNet file needed); one shared input shape keeps Jittor's compilation
to a minimum.
"""
import jittor as jt
import numpy as np
import pytest

import jsymnet
from conftest import ROOT
from jsymnet.config import load_config
from jsymnet.engine import make_optimizer, train_step

ABLATIONS = sorted((ROOT / "configs" / "ablations").glob("*.yaml"))
SIZE = 32

# What each file must change relative to configs/lol.yaml (key path, value).
EXPECTED = {
    "l1_loss": ("train.loss.type", "l1"),
    "psnr_loss": ("train.loss.type", "psnr"),
    "no_backward_loss": ("train.loss.lambda_degrade", 0.0),
    "no_attention": ("model.subnet.attention", False),
    "resblock": ("model.subnet.type", "resblock"),
    "se_resblock": ("model.subnet.type", "se_resblock"),
    "densenet": ("model.subnet.type", "dense"),
    "no_recurrent": ("model.subnet.rounds", 1),
    "two_rounds": ("model.subnet.rounds", 2),
    "four_blocks": ("model.ift.num_blocks", 4),
    "haar_codec": ("model.codec.type", "haar"),
}


def _get(cfg, path):
    for key in path.split("."):
        cfg = cfg[key]
    return cfg


def test_one_config_per_table2_row():
    assert sorted(p.stem for p in ABLATIONS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.stem)
def test_ablation_builds_and_trains_one_step(path):
    key, value = EXPECTED[path.stem]
    cfg = load_config(path, {"model": {"codec": {"weights": None}}})
    base = load_config(ROOT / "configs" / "lol.yaml")
    assert _get(cfg, key) == value and _get(base, key) != value
    model = jsymnet.build_model(cfg)
    model.train()
    opt = make_optimizer(model, cfg["train"]["optim"])
    rng = np.random.default_rng(0)
    x_hq = jt.array(rng.random((1, 3, SIZE, SIZE), dtype=np.float32))
    x_lq = x_hq * 0.3
    before = {n: p.numpy().copy() for n, p in model.named_parameters() if not p.is_stop_grad()}
    parts = train_step(model, opt, x_lq, x_hq, cfg["train"])
    assert np.isfinite(parts["total"])
    assert ("degrade" in parts) == (cfg["train"]["loss"]["lambda_degrade"] != 0)
    changed = sum(not np.array_equal(before[n], p.numpy())
                  for n, p in model.named_parameters() if n in before)
    assert changed > 0.5 * len(before)
