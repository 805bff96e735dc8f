"""tools/test.py end to end, with a tiny checkpoint (docs/design.md#evaluation)."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import jsymnet
from jsymnet import evaluation, inference, metrics
from jsymnet.data import read_image, resize_max_side
from jsymnet.data import sample as sample_mod

from conftest import ROOT, load_tool, tiny_config


from jsymnet.cli import evaluate as test_tool  # noqa: E402  (tools/test.py's main)


MAX_SIDE = 48  # every image the model sees in these tests is 48 x 32


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pkl"
    jsymnet.save_checkpoint(path, jsymnet.build_model(tiny_config()), source={"test": "tiny"})
    return path


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_help_explains_itself():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "test.py"), "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for word in ("--dataset", "--weights", "--data-root", "--low", "--limit", "--device",
                 "jsymnet_default.pkl", "release convention"):
        assert word in out.stdout


def test_folder_on_the_eight_real_fivek_pairs(shared_data, tiny_ckpt, tmp_path, capsys):
    low_dir, high_dir = shared_data / "fivek_dpe" / "low", shared_data / "fivek_dpe" / "high"
    out = tmp_path / "out"
    rc = test_tool.main(["--dataset", "folder", "--low", str(low_dir), "--high", str(high_dir),
                         "--weights", str(tiny_ckpt), "--out", str(out), "--device", "cpu",
                         "--max-side", str(MAX_SIDE), "--no-progress"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "input (no enhancement)" in printed and metrics.describe() in printed
    rows = read_csv(out / "results.csv")
    names = ["a2803", "a2917", "a3102", "a3232", "a4232", "a4714", "a4723", "a4857"]
    assert [r["name"] for r in rows] == names
    for r in rows:
        low = resize_max_side(read_image(low_dir / f"{r['name']}.png"), MAX_SIDE)
        high = resize_max_side(read_image(high_dir / f"{r['name']}.png"), MAX_SIDE)
        # the baseline columns are the metrics of the unprocessed input
        assert float(r["input_psnr"]) == pytest.approx(metrics.psnr(low, high), abs=1e-5)
        assert float(r["input_ssim"]) == pytest.approx(metrics.ssim(low, high), abs=1e-5)
        # the written image is the scored one
        enhanced = np.array(Image.open(out / "images" / f"{r['name']}.png"))
        assert enhanced.shape == (32, 48, 3) and (int(r["width"]), int(r["height"])) == (48, 32)
        assert float(r["psnr"]) == pytest.approx(metrics.psnr(enhanced, high), abs=1e-5)
        assert float(r["seconds"]) > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["count"] == 8
    assert summary["input_psnr"] == pytest.approx(np.mean([float(r["input_psnr"])
                                                           for r in rows]), abs=1e-5)
    assert 10.0 < summary["input_psnr"] < 25.0 and summary["weights"].startswith("checkpoint")
    assert "not the paper protocol" in summary["dataset"]
    sheet = np.array(Image.open(out / "comparison.png"))
    assert sheet.ndim == 3 and sheet.shape[0] > 4 * evaluation.SHEET_ROW_HEIGHT
    assert not [p for p in out.rglob(".*")]  # no temporary files left behind


def test_limit_and_sample_dataset(tiny_ckpt, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(sample_mod.CACHE_ENV, str(tmp_path / "cache"))
    cfg = tmp_path / "small.yaml"
    cfg.write_text("data:\n  dataset: lol\n  sample_size: 64\n")
    rc = test_tool.main(["--config", str(cfg), "--set", "data.dataset=sample",
                         "--set", "data.sample_variants=[1, 1]", "--weights",
                         str(tiny_ckpt), "--out", str(tmp_path / "o"), "--limit", "1",
                         "--max-side", str(MAX_SIDE), "--sheet", "0", "--no-progress"])
    assert rc == 0
    rows = read_csv(tmp_path / "o" / "results.csv")
    assert [r["name"] for r in rows] == ["chelsea_0"]
    assert not (tmp_path / "o" / "comparison.png").exists()
    assert "embedded sample set" in capsys.readouterr().out


def test_set_is_validated_and_a_synthesised_dataset_is_refused(tiny_ckpt, tmp_path, capsys):
    args = ["--weights", str(tiny_ckpt), "--out", str(tmp_path / "o"), "--no-progress"]
    rc = test_tool.main(["--set", "data.dataset=lowlight", "--set", f"data.root={tmp_path}"]
                        + args)
    err = capsys.readouterr().err
    assert rc == 2 and "the lowlight dataset synthesises its inputs" in err
    assert "tools/compare.py" in err and "lol, fivek, folder, sample" in err
    rc = test_tool.main(["--dataset", "sample", "--set", "data.sample_size=big"] + args)
    assert rc == 2 and "key 'data.sample_size' must be int" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        test_tool.main(["--set", "data.sample_size"] + args)
    assert exc.value.code == 2 and "--set expects KEY=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_missing_dataset_shows_layout(tiny_ckpt, tmp_path, capsys):
    rc = test_tool.main(["--dataset", "lol", "--data-root", str(tmp_path / "LOL"),
                         "--weights", str(tiny_ckpt), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "our485/low" in err and "daooshee" in err
    assert not (tmp_path / "o").exists()


def test_mismatched_folders_list_the_names(tiny_ckpt, tmp_path, capsys):
    for side, names in (("low", ["a", "b"]), ("high", ["a", "c"])):
        (tmp_path / side).mkdir()
        for n in names:
            Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(tmp_path / side / f"{n}.png")
    rc = test_tool.main(["--low", str(tmp_path / "low"), "--high", str(tmp_path / "high"),
                         "--weights", str(tiny_ckpt), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "have no match" in err and ": b" in err and ": c" in err


def test_no_weights_is_an_error_not_random(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(inference, "default_weights", lambda: None)
    folder = tmp_path / "x"
    for side in ("low", "high"):
        (folder / side).mkdir(parents=True)
        Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(folder / side / "a.png")
    rc = test_tool.main(["--low", str(folder / "low"), "--high", str(folder / "high"),
                         "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "is missing" in err and "--weights random" in err


def test_not_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "model.pth"
    bad.write_bytes(b"\x00")
    folder = tmp_path / "x"
    for side in ("low", "high"):
        (folder / side).mkdir(parents=True)
        Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(folder / side / "a.png")
    rc = test_tool.main(["--low", str(folder / "low"), "--high", str(folder / "high"),
                         "--weights", str(bad), "--out", str(tmp_path / "o")])
    assert rc == 2 and "convert_weights" in capsys.readouterr().err


def test_make_pairs_tool_output_evaluates(tiny_ckpt, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(
            photos / f"p{i}.jpg")
    make_pairs = load_tool("make_pairs")
    assert make_pairs.main(["--targets", str(photos), "--out", str(tmp_path / "pairs"),
                            "--test-count", "2"]) == 0
    assert "2 train and 2 test pairs" in capsys.readouterr().out
    rc = test_tool.main(["--dataset", "fivek", "--data-root", str(tmp_path / "pairs"),
                         "--weights", str(tiny_ckpt), "--out", str(tmp_path / "o"),
                         "--no-progress"])
    assert rc == 0
    assert [r["name"] for r in read_csv(tmp_path / "o" / "results.csv")] == ["p2", "p3"]
    assert make_pairs.main(["--targets", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2
    assert "image folder not found" in capsys.readouterr().err
