"""Training data from several datasets, held-out validation, and runs that start from a
checkpoint (train.init): the default model's recipe and fine-tuning."""
import os

import numpy as np
import pytest

import jsymnet
from conftest import numpy_state, largest_diff, tiny_config
from jsymnet.config import ConfigError, load_config
from jsymnet.data import build_dataset
from jsymnet.data.image_io import write_image
from jsymnet.engine import Trainer
from jsymnet.errors import JsymnetError

IMAGE, CROP = 20, 16


def _folder(root, name, n, level):
    """``n`` pairs whose targets are flat ``level`` grey, inputs a third of it."""
    for i in range(n):
        high = np.full((IMAGE, IMAGE, 3), level, np.float32)
        write_image(root / name / "low" / f"{name}{i}.png", high / 3)
        write_image(root / name / "high" / f"{name}{i}.png", high)
    return {"dataset": "folder", "low": str(root / name / "low"),
            "high": str(root / name / "high")}


def _config(data, **train):
    cfg = tiny_config()
    cfg["data"] = {"crop": CROP, **data}
    cfg["train"] = {"batch_size": 2, "seed": 3, "log_every": 1, "val_every": 0,
                    "save_every": 0, "optim": {"lr": 1e-3},
                    "schedule": {"unit": "iter", "total": 2, "milestones": []}, **train}
    return load_config(cfg)


def test_mix_draws_by_weight_and_is_a_function_of_the_index(tmp_path):
    a, b = _folder(tmp_path, "a", 4, 0.2), _folder(tmp_path, "b", 4, 0.8)
    cfg = _config({"dataset": "mix", "mix": [{**a, "weight": 3}, {**b, "weight": 1}]})
    mix = build_dataset(cfg, "train")
    assert mix.num_pairs() == 8
    highs = [float(mix[i][1].mean()) for i in range(8)]
    again = build_dataset(cfg, "train")
    assert highs == [float(again[i][1].mean()) for i in range(8)]
    mix.epoch_id = 0
    draws = []
    for epoch in range(40):
        mix.epoch_id = epoch
        draws += [float(mix[i][1].mean()) < 0.5 for i in range(8)]
    share = np.mean(draws)                                # part a's share: 3/4
    assert 0.68 < share < 0.82, share
    test = build_dataset(cfg, "test", train=False)       # every part's pairs, interleaved
    assert test.num_pairs() == 8 and test.names[:2] == ["a0", "b0"]


def test_mix_entries_are_validated_by_name(tmp_path):
    a = _folder(tmp_path, "a", 2, 0.5)
    with pytest.raises(ConfigError, match=r"data\.mix\[0\]\.weight"):
        _config({"dataset": "mix", "mix": [{**a, "weight": -1}]})
    with pytest.raises(ConfigError, match=r"unknown key 'data\.mix\[0\]\.lwo'"):
        _config({"dataset": "mix", "mix": [{"dataset": "folder", "lwo": "x", "weight": 1}]})
    with pytest.raises(ConfigError, match="'mix' needs the datasets it mixes"):
        _config({"dataset": "mix"})
    # another dataset ignores data.mix (as every part ignores another part's keys), so
    # --set data.dataset=folder works on a mix config, and the result holds no mix
    cfg = _config({**a, "mix": [{**a, "weight": 1}]})
    assert cfg["data"]["dataset"] == "folder" and build_dataset(cfg, "train").num_pairs() == 2


def test_val_fraction_holds_out_by_name(tmp_path):
    a = _folder(tmp_path, "a", 30, 0.5)
    cfg = _config({**a, "val_fraction": 0.3})
    train = {p.name for p in build_dataset(cfg, "train").pairs}
    test = {p.name for p in build_dataset(cfg, "test", train=False).pairs}
    assert not train & test and len(train | test) == 30
    assert 3 <= len(test) <= 16
    # name-stable: with more photos in the folder, no photo changes side
    _folder(tmp_path, "a", 40, 0.5)
    more = {p.name for p in build_dataset(cfg, "test", train=False).pairs}
    assert test <= more and not more & train


def test_validating_on_the_training_pairs_is_refused(tmp_path):
    cfg = _config(_folder(tmp_path, "a", 4, 0.5))
    with pytest.raises(JsymnetError, match="data.val_fraction") as err:
        Trainer(cfg, tmp_path / "run", progress=False)
    assert "share 4 image files" in str(err.value) or "share 8 image files" in str(err.value)
    ok = Trainer(_config({**_folder(tmp_path, "b", 12, 0.5), "val_fraction": 0.3}),
                 tmp_path / "run2", progress=False)
    assert ok.val_set is not None


def test_init_starts_from_a_checkpoint_and_reports_partial_loads(tmp_path):
    data = _folder(tmp_path, "a", 4, 0.5)
    first = Trainer(_config(data), tmp_path / "run", val_set=False, progress=False)
    first.train()
    src = tmp_path / "run" / "final.pkl"
    start = Trainer(_config(data, init=str(src)), tmp_path / "ft", val_set=False,
                    progress=False)
    assert largest_diff(numpy_state(start.model), numpy_state(jsymnet.load_model(src))) == 0.0
    assert start.iteration == 0 and start.init_report["missing"] == []
    codec = start.model.codec.weight1.numpy().copy()
    start.train()
    np.testing.assert_array_equal(start.model.codec.weight1.numpy(), codec)   # frozen
    assert largest_diff(numpy_state(start.model),
                        numpy_state(jsymnet.load_model(src))) > 0           # but it trained
    wider = _config(data, init=str(src))
    wider["model"]["subnet"]["rounds"] = 4          # one more RSCA a subnet: res4
    with pytest.raises(JsymnetError, match="missing"):
        Trainer(wider, tmp_path / "ft2", val_set=False, progress=False)
    wider["train"]["init_strict"] = False
    partial = Trainer(wider, tmp_path / "ft3", val_set=False, progress=False)
    assert partial.init_report["missing"] and all(".res4." in k
                                                  for k in partial.init_report["missing"])


def test_weight_average_is_what_ships_and_resumes_exactly(tmp_path):
    """train.ema: final.pkl holds the average of the weights after each step (a NumPy
    oracle over a run stepped by hand), and 2 steps + resume + 2 steps give the same."""
    data = _folder(tmp_path, "a", 4, 0.5)
    cfg = _config(data, ema=0.5, schedule={"unit": "iter", "total": 4, "milestones": []})
    straight = Trainer(cfg, tmp_path / "run", val_set=False, progress=False)
    straight.train()
    final = numpy_state(jsymnet.load_model(tmp_path / "run" / "final.pkl"))
    half = Trainer(cfg, tmp_path / "half", val_set=False, progress=False)
    half.train(max_steps=2)
    rest = Trainer(cfg, tmp_path / "half", val_set=False, progress=False)
    rest.resume(tmp_path / "half" / "latest.pkl")
    rest.train()
    resumed = numpy_state(jsymnet.load_model(tmp_path / "half" / "final.pkl"))
    assert largest_diff(resumed, final) < 1e-6
    oracle = Trainer(cfg, tmp_path / "oracle", val_set=False, progress=False)
    names = [n for n, _ in oracle.model.named_trainable_parameters()]
    weights = lambda: {n: p.numpy().copy() for n, p in oracle.model.named_trainable_parameters()}
    avg = weights()
    for _ in range(4):
        oracle.step()
        now = weights()
        avg = {n: 0.5 * avg[n] + 0.5 * now[n] for n in names}
    assert max(float(np.abs(final[n] - avg[n]).max()) for n in names) < 1e-5
    assert max(float(np.abs(final[n] - now[n]).max()) for n in names) > 1e-4  # not the raw


def test_training_goes_on_after_validating_the_average(tmp_path):
    """Validation swaps the averaged weights in and out; the optimiser must still step the
    weights the model runs (a swap by assign() left every later step without effect)."""
    data = {**_folder(tmp_path, "a", 12, 0.5), "val_fraction": 0.3}
    cfg = _config(data, ema=float(os.environ.get("EMA_T", 0.9)), val_every=1,
                  schedule={"unit": "iter", "total": 3, "milestones": []})
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    before = numpy_state(trainer.model)
    trainer.validate()
    assert largest_diff(numpy_state(trainer.model), before) == 0.0   # swapped back
    trainer.train()
    moved = numpy_state(trainer.model)
    assert largest_diff(moved, before) > 1e-4
    latest = numpy_state(jsymnet.load_model(tmp_path / "run" / "latest.pkl"))
    assert largest_diff(latest, moved) == 0.0
