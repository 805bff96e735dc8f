"""Fine-tuning what ships: the default model on a few real bracket pairs, validated on
scenes the run never trains on (docs/training.md, Fine-tuning)."""
import json
import subprocess
import sys

import numpy as np
import pytest

import jsymnet
from conftest import ROOT, largest_diff, numpy_state
from jsymnet import metrics
from jsymnet.data import build_dataset
from jsymnet.data.image_io import to_uint8
from jsymnet.inference import run_rgb


@pytest.mark.slow
def test_finetuning_the_default_model_on_real_pairs(shared_data, tmp_path):
    root = shared_data / "sice_brackets"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    run = tmp_path / "ft"
    sets = ["--set", "data.dataset=brackets", "--data-root", str(root),
            "--set", "data.crop=64", "--set", "train.batch_size=2",
            "--set", "train.val_limit=2", "--set", "train.val_every=0",
            "--set", "train.save_every=0", "--set", "data.eval_max_side=128",
            "--set", "train.optim.lr=5e-5", "--set", "train.schedule.total=3",
            "--set", "train.schedule.milestones=[]"]
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "train.py"), "--init",
                           "weights/jsymnet_default.pkl", "--work-dir", str(run),
                           "--no-progress", *sets], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    start = next(r for r in log if r["event"] == "start")
    assert start["init"]["path"].endswith("jsymnet_default.pkl") and not start["init"]["missing"]
    vals = [r for r in log if r["event"] == "val"]
    assert [v["iter"] for v in vals] == [0, 3]
    # the first validation is the shipped model's own score on those held-out pairs
    shipped = jsymnet.load_model(ROOT / "weights" / "jsymnet_default.pkl")
    cfg = jsymnet.config.load_config(run / "config.yaml")
    val = build_dataset(cfg, "test", train=False)
    train = build_dataset(cfg, "train")
    assert not {p.high for p in val.pairs} & {p.high for p in train.pairs}
    scores = []
    for i in range(2):
        low, high = val[i]
        out = run_rgb(shipped, low.transpose(1, 2, 0), shifts=1)   # validation: the network
        scores.append(metrics.psnr(to_uint8(out), to_uint8(high.transpose(1, 2, 0))))
    assert vals[0]["psnr"] == pytest.approx(float(np.mean(scores)), abs=1e-6)
    # the weights moved, and the config records where they came from
    final = jsymnet.load_model(run / "final.pkl")
    assert largest_diff(numpy_state(final), numpy_state(shipped)) > 0
    assert cfg["train"]["init"] == "weights/jsymnet_default.pkl"
    assert cfg["model"] == jsymnet.config.load_config(
        jsymnet.checkpoint.read_checkpoint(ROOT / "weights" / "jsymnet_default.pkl")["config"]
    )["model"]
