"""Watching a run: TensorBoard events (train.tensorboard) and tools/plot_run.py's curves.

One short real run (a tiny Haar network, 4 steps on 20 x 20 pairs with 16 x 16 crops,
validated every 2 steps) writes the log.jsonl and the events read back here.
"""
import io
import json
import struct
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import load_tool, tiny_haar_config
from jsymnet.config import load_config
from jsymnet.data.image_io import read_image, write_image
from jsymnet.engine import Trainer
from jsymnet.engine.trainer import LOG_NAME

SIDE = 20


def run_config(root, **train):
    cfg = tiny_haar_config()
    cfg["data"] = {"dataset": "folder", "low": str(root / "low"), "high": str(root / "high"),
                   "crop": 16}
    cfg["train"] = {"batch_size": 2, "seed": 3, "log_every": 1, "val_every": 2,
                    "save_every": 0, "optim": {"lr": 1e-3}, "tensorboard": True,
                    "schedule": {"unit": "iter", "total": 4, "milestones": [3]}, **train}
    return load_config(cfg)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(2)
    for i in range(4):
        high = np.clip(0.15 + 0.8 * np.kron(rng.random((4, 4, 3)), np.ones((5, 5, 1))), 0, 1)
        write_image(root / "low" / f"im{i}.png", 0.35 * high ** 1.3)
        write_image(root / "high" / f"im{i}.png", high)
    return root


@pytest.fixture(scope="module")
def run_dir(pairs, tmp_path_factory):
    """A real 4-step run, validated at steps 2 and 4 on two held-out pairs."""
    val = [tuple(read_image(pairs / side / f"im{i}.png").transpose(2, 0, 1)
                 for side in ("low", "high")) for i in (0, 1)]
    work = tmp_path_factory.mktemp("watch") / "run_a"
    Trainer(run_config(pairs), work, val_set=val, progress=False).train()
    return work


def log_records(run_dir):
    return [json.loads(line) for line in (run_dir / LOG_NAME).read_text().splitlines()]


# -- tools/plot_run.py ----------------------------------------------------------------------------
def test_plot_script_draws_the_curves_of_a_real_run(run_dir, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    tool = load_tool("plot_run")
    assert tool.main([str(run_dir)]) == 0
    out = capsys.readouterr().out
    vals = [r for r in log_records(run_dir) if r["event"] == "val"]
    best = max(vals, key=lambda r: r["psnr"])
    assert "run_a: 4 iterations" in out
    assert f"best validation PSNR {best['psnr']:.2f} dB at iteration {best['iter']}" in out
    with Image.open(run_dir / "curves.png") as im:
        assert im.format == "PNG" and im.size[0] > 800 and im.size[1] > 500
        pixels = np.asarray(im.convert("L"), np.float32)
    assert pixels.std() > 10                                     # curves, not a blank page

    log = tool.RunLog(run_dir)
    assert log.series("psnr", "val") == ([r["iter"] for r in vals], [r["psnr"] for r in vals])
    trains = [r for r in log_records(run_dir) if r["event"] == "train"]
    assert log.series("lr") == ([1, 2, 3, 4], [r["lr"] for r in trains])
    assert len(set(log.series("lr")[1])) == 2                     # the milestone at 3
    assert log.loss_parts()[0] == "loss_total" and len(log.loss_parts()) >= 3

    other = tmp_path / "sweep" / "run_a"                         # the same name: longer labels
    other.mkdir(parents=True)
    lines = (run_dir / LOG_NAME).read_text().splitlines()
    (other / LOG_NAME).write_text("\n".join(lines) + "\n" + lines[-1][:20])   # cut short
    assert tool.main([str(run_dir), str(other), "-o", str(tmp_path / "sweep.png")]) == 0
    out = capsys.readouterr().out
    assert "(1 unreadable lines skipped)" in out and str(other) in out
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # atomic: no temp


def test_plot_script_says_what_is_missing(run_dir, tmp_path, capsys, monkeypatch):
    tool = load_tool("plot_run")
    assert tool.main([str(tmp_path)]) == 2
    assert "no log.jsonl" in capsys.readouterr().err
    (tmp_path / LOG_NAME).write_text(json.dumps({"event": "start", "iter": 0}) + "\n")
    assert tool.main([str(tmp_path)]) == 2
    assert "no training records yet" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # as if not installed
    assert tool.main([str(run_dir), "-o", str(tmp_path / "x.png")]) == 2
    assert "pip install 'jsymnet[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


# -- TensorBoard ---------------------------------------------------------------------------------
def read_events(folder):
    """Every Event in ``folder``'s event files (TFRecord framing: length, CRC, data, CRC)."""
    from tensorboardX.proto import event_pb2
    events = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            n = struct.unpack("<Q", data[pos:pos + 8])[0]
            events.append(event_pb2.Event.FromString(data[pos + 12:pos + 12 + n]))
            pos += 12 + n + 4
    return events


def test_tensorboard_events_hold_the_scalars_and_validation_images(run_dir, pairs):
    pytest.importorskip("tensorboardX")
    scalars, images = {}, {}
    for event in read_events(run_dir / "tb"):
        for value in event.summary.value:
            if value.HasField("image"):
                images.setdefault(value.tag, []).append((event.step, value.image))
            else:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    log = log_records(run_dir)
    for rec in log:
        if rec["event"] == "train":
            assert scalars["train/loss_total"][rec["iter"]] == pytest.approx(
                rec["loss_total"], rel=1e-6)
            assert scalars["train/lr"][rec["iter"]] == pytest.approx(rec["lr"], rel=1e-6)
        if rec["event"] == "val":
            assert scalars["val/psnr"][rec["iter"]] == pytest.approx(rec["psnr"], rel=1e-6)
            assert scalars["val/ssim"][rec["iter"]] == pytest.approx(rec["ssim"], rel=1e-6)
    assert sorted(scalars["train/loss_total"]) == [1, 2, 3, 4]
    assert sorted(images) == ["val_images/0", "val_images/1"]
    steps = [step for step, _ in images["val_images/0"]]
    assert steps == [r["iter"] for r in log if r["event"] == "val"] == [2, 4]
    _, last = images["val_images/1"][-1]
    panel = np.asarray(Image.open(io.BytesIO(last.encoded_image_string)).convert("RGB"))
    assert panel.shape == (SIDE, 3 * SIDE, 3)                     # input | output | target
    target = np.round(read_image(pairs / "high" / "im1.png") * 255)
    assert np.abs(panel[:, 2 * SIDE:].astype(int) - target).max() <= 1


def test_without_tensorboardx_one_note_and_the_log_alone(pairs, tmp_path, capsys,
                                                         monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    trainer = Trainer(run_config(pairs), tmp_path / "run", val_set=False, progress=False)
    trainer.runlog.open_tensorboard()
    assert trainer.runlog.tb is None
    err = capsys.readouterr().err
    assert "tensorboardX is not installed" in err and "tools/plot_run.py" in err
