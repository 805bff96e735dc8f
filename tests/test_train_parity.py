"""jsymnet trains as the release trains: the whole training step against the
PyTorch reference of the release's ``optimize_parameters``, step by step, plus the
learning-rate schedule and the training crops' flips and transposes.

PyTorch runs in its own process (tests/torch_train_reference.py) from the release's
initialisation (seeded; the exit convs start at zero, so the first steps' gradients
of the inner layers are tiny and Adam's epsilon matters, as in real training); jsymnet converts those weights (tools/convert_weights.py's
converter) and runs ``make_optimizer`` + its training step with ``configs/lol.yaml``'s
recipe on the same two crops of real photos. Skipped where torch is absent.
"""
import importlib.util
import json
import subprocess
import sys

import jittor as jt
import numpy as np
import pytest

import jsymnet
from conftest import ROOT, SHARED_DATA, numpy_state
from jsymnet.checkpoint import read_checkpoint
from jsymnet.config import load_config
from jsymnet.conversion import convert
from jsymnet.data.datasets import augment_pair
from jsymnet.engine import MultiStepSchedule, make_optimizer, step_function

H, W = 40, 56
STEPS = 3
SCHEDULE_STEPS = [1, 2, 19_999, 20_000, 20_001, 20_002, 40_001, 40_002, 60_001, 80_001,
                  100_000, 100_001, 100_002, 120_000]

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="PyTorch is not installed (the 'torch' extra); the "
                                        "release's training step is run in PyTorch")


def crops():
    """Two H x W crops of real FiveK pairs (low, high), or smooth random pairs without the data."""
    low_dir, high_dir = SHARED_DATA / "fivek_dpe" / "low", SHARED_DATA / "fivek_dpe" / "high"
    if low_dir.is_dir() and high_dir.is_dir():
        from PIL import Image
        lows, highs = [], []
        for path in sorted(low_dir.glob("*.png"))[:2]:
            pair = [np.asarray(Image.open(d / path.name).convert("RGB"), np.float32) / 255
                    for d in (low_dir, high_dir)]
            top, left = pair[0].shape[0] // 3, pair[0].shape[1] // 3
            lows.append(pair[0][top:top + H, left:left + W].transpose(2, 0, 1))
            highs.append(pair[1][top:top + H, left:left + W].transpose(2, 0, 1))
        return np.stack(lows), np.stack(highs)
    rng = np.random.default_rng(0)
    high = np.kron(rng.random((2, 3, 5, 7)), np.ones((1, 1, 8, 8))).astype(np.float32)
    return (0.3 * high ** 1.5).astype(np.float32), high


@pytest.fixture(scope="module")
def release_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_ref")
    low, high = crops()
    np.savez(root / "crops.npz", low=low, high=high)
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "torch_train_reference.py"),
                          str(root / "ref"), "--inputs", str(root / "crops.npz"),
                          "--steps", str(STEPS), "--schedule-steps",
                          *map(str, SCHEDULE_STEPS)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    ref = root / "ref"
    convert(ref / "start.pth", root / "start.pkl")
    convert(ref / "end.pth", root / "end.pkl")
    return {"low": low, "high": high, "start": root / "start.pkl",
            "end": read_checkpoint(root / "end.pkl")["state_dict"],
            "losses": json.loads((ref / "losses.json").read_text()),
            "schedule": {int(k): v for k, v in
                         json.loads((ref / "schedule.json").read_text()).items()}}


def jsymnet_run(release_run, backward):
    cfg = load_config(ROOT / "configs" / "lol.yaml")
    model = jsymnet.load_model(release_run["start"])
    model.train()
    start = numpy_state(model)
    opt = make_optimizer(model, cfg["train"]["optim"])
    step = step_function(backward)
    x_lq, x_hq = jt.array(release_run["low"]), jt.array(release_run["high"])
    losses = [step(model, opt, x_lq, x_hq, cfg["train"])["total"] for _ in range(STEPS)]
    end = numpy_state(model)
    return losses, start, end


def update_error(start, ours, release):
    """||our update - the release's update|| / ||the release's update||, over every tensor."""
    num = den = 0.0
    for key, s in start.items():
        d_ref = release[key].astype(np.float64) - s
        d_ours = ours[key].astype(np.float64) - s
        num += float(((d_ours - d_ref) ** 2).sum())
        den += float((d_ref ** 2).sum())
    assert den > 0
    return (num / den) ** 0.5


@needs_torch
@pytest.mark.slow
@pytest.mark.parametrize("backward", ["ordinary", "reversible"])
def test_training_steps_match_the_release(release_run, backward):
    losses, start, end = jsymnet_run(release_run, backward)
    err = update_error(start, end, release_run["end"])
    print(f"\n{backward}: release losses {release_run['losses']}, jsymnet {losses}, "
          f"update error {err:.2e}")
    for ref, ours in zip(release_run["losses"], losses):
        assert abs(ours - ref) <= 1e-4 * abs(ref), (release_run["losses"], losses)
    assert err < 0.01


@needs_torch
def test_iteration_schedule_matches_the_release_scheduler(release_run):
    """The release's MultiStepLR_Restart (stepped after each update) against
    ``schedule: {unit: iter}`` with the release's LOL milestones."""
    ours = MultiStepSchedule({"unit": "iter", "milestones": [20_000, 40_000, 60_000, 80_000,
                                                             100_000],
                              "gamma": 0.5, "total": 500_000}, 2e-4, iters_per_epoch=1)
    for step, lr in release_run["schedule"].items():
        assert ours.lr_at(step - 1) == pytest.approx(lr, rel=1e-12), step  # 1-based there


def test_epoch_schedule_is_the_papers():
    """LOL: 250 epochs, lr halved after epochs 100 and 200 (docs/design.md#training),
    whatever the epoch length."""
    cfg = load_config(ROOT / "configs" / "lol.yaml")["train"]
    ipe = 242  # our485 / batch 2
    sched = MultiStepSchedule(cfg["schedule"], cfg["optim"]["lr"], ipe)
    assert sched.total_iters == 250 * ipe
    for epoch, lr in [(0, 2e-4), (99, 2e-4), (100, 1e-4), (199, 1e-4), (200, 5e-5), (249, 5e-5)]:
        assert sched.lr_at(epoch * ipe) == pytest.approx(lr)
        assert sched.lr_at(epoch * ipe + ipe - 1) == pytest.approx(lr)


def release_augment(img, hflip, vflip, rot90):
    """The release's ``util.augment`` on an H x W x C image: hflip (use_flip), then vflip
    and rot90 (use_rot; rot90 is a transpose of H and W)."""
    if hflip:
        img = img[:, ::-1, :]
    if vflip:
        img = img[::-1, :, :]
    if rot90:
        img = img.transpose(1, 0, 2)
    return img


class Bits:
    """An rng stand-in whose random() answers the given bits (0.0: do it, 0.9: don't)."""

    def __init__(self, *bits):
        self.values = [0.0 if b else 0.9 for b in bits]

    def random(self):
        return self.values.pop(0)


@pytest.mark.parametrize("bits", [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)])
def test_training_flips_are_the_releases(bits):
    """Each of the 8 outcomes (p = 1/8 each in both) is the release's for the same ops."""
    vflip, hflip, transpose = bits
    img = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    low, high = augment_pair(img, img + 1, Bits(vflip, hflip, transpose))
    expected = release_augment(img, hflip=hflip, vflip=vflip, rot90=transpose)
    np.testing.assert_array_equal(low, expected)
    np.testing.assert_array_equal(high, expected + 1)
