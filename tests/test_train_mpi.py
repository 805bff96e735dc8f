"""Jittor MPI data parallel (``mpirun -np 2 python tools/train.py ...``), where mpirun exists.

Skipped without Open MPI (``apt-get install openmpi-bin libopenmpi-dev``). Two
CPU processes share a global batch of 2: the gradient they average must be
the single-process gradient of that batch, and the CLI run must finish (every
rank) and write loadable checkpoints from rank 0 only.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jsymnet
from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None,
                                reason="no mpirun (Open MPI) on this machine")

CONFIG = """\
name: tiny_mpi
model:
  codec: {type: haar, weights: null}
  ift: {num_blocks: 2, split: 6}
  subnet: {mid_channels: 16, hidden_channels: 16, reduction: 4, rounds: 2}
data: {dataset: sample, crop: 32}
train:
  batch_size: 2
  cache_images: true
  val_every: 0
  save_every: 0
  val_limit: 1
  optim: {lr: 2.0e-4}
  schedule: {unit: iter, total: 2, milestones: [], gamma: 0.5}
"""

GRADIENT = textwrap.dedent("""\
    import sys, numpy as np, jsymnet, jittor as jt
    from jsymnet.engine import Trainer
    from jsymnet.losses import bidirectional_loss
    t = Trainer(sys.argv[1], sys.argv[2], val_set=False, progress=False)
    x_lq, x_hq = t.batch(0)
    total, _ = bidirectional_loss(t.model, x_lq, x_hq, t.tcfg["loss"])
    t.optimizer.zero_grad()
    t.optimizer.backward(total)
    grads = [g.numpy() for g in t.optimizer.param_groups[0]["grads"]]
    jt.sync_all()
    if t.rank == 0:
        np.savez(sys.argv[3], *grads)
""")


def _run(cmd, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JSYMNET_DEVICE": "cpu",
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
    return out


MPIRUN = ["mpirun", "--oversubscribe", "-np", "2", "-x", "PYTHONPATH", "-x", "JSYMNET_DEVICE"]


def test_two_ranks_average_to_the_single_process_gradient(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(CONFIG)
    script = tmp_path / "grad.py"
    script.write_text(GRADIENT)
    _run([sys.executable, str(script), str(cfg), str(tmp_path / "a"), str(tmp_path / "single.npz")],
         tmp_path)
    _run(MPIRUN + [sys.executable, str(script), str(cfg), str(tmp_path / "b"),
                   str(tmp_path / "mpi.npz")], tmp_path)
    single, mpi = np.load(tmp_path / "single.npz"), np.load(tmp_path / "mpi.npz")
    for k in single:
        scale = max(float(np.abs(single[k]).max()), 1e-12)
        assert float(np.abs(single[k] - mpi[k]).max()) / scale < 1e-4, k


def test_mpirun_cli_finishes_and_rank0_writes_checkpoints(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(CONFIG)
    work = tmp_path / "run"
    _run(MPIRUN + [sys.executable, str(ROOT / "tools" / "train.py"), "-c", str(cfg),
                   "--work-dir", str(work), "--no-progress", "--device", "cpu"], tmp_path)
    log = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "start" and log[0]["world_size"] == 2
    assert sum(r["event"] == "start" for r in log) == 1  # rank 0 only
    assert log[-1]["event"] == "end" and log[-1]["finished"]
    jsymnet.load_model(work / "final.pkl")
