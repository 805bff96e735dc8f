"""jsymnet checkpoints: exact round trip, and foreign or hostile files refused."""
import pickle

import jsymnet  # noqa: F401
import pytest

from conftest import RunsCode, largest_diff, randomize, tiny_config
from jsymnet.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint


def test_round_trip_rebuilds_the_model_from_the_file_alone(tmp_path):
    model = randomize(jsymnet.build_model(tiny_config()))
    path = save_checkpoint(tmp_path / "m.pkl", model, source={"kind": "test"})
    loaded = load_model(path)
    assert largest_diff(model.state_dict(), loaded.state_dict()) == 0.0
    assert read_checkpoint(path)["source"] == {"kind": "test"}


def test_a_checkpoint_that_runs_code_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"format": "jsymnet-checkpoint", "payload": RunsCode()}))
    with pytest.raises(CheckpointError, match="os|posix|system"):
        load_model(path)
    assert not (tmp_path / "PWNED").exists()


def test_foreign_and_damaged_files_say_what_they_are(tmp_path):
    text = tmp_path / "notes.pkl"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable jsymnet checkpoint"):
        load_model(text)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"operations.0.haar_weights1": 1}))
    with pytest.raises(CheckpointError, match="convert it with tools/convert_weights.py"):
        load_model(other)
    good = save_checkpoint(tmp_path / "good.pkl", jsymnet.build_model(tiny_config()))
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable jsymnet checkpoint"):
        load_model(truncated)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing.pkl")


def test_averaged_checkpoints_are_the_weighted_mean_of_their_tensors(tmp_path):
    import numpy as np
    from jsymnet.checkpoint import average_checkpoints
    a = save_checkpoint(tmp_path / "a.pkl", randomize(jsymnet.build_model(tiny_config())))
    b = save_checkpoint(tmp_path / "b.pkl", randomize(jsymnet.build_model(tiny_config())))
    avg = average_checkpoints([a, b], [0.25, 0.75])
    sa, sb = read_checkpoint(a)["state_dict"], read_checkpoint(b)["state_dict"]
    worst = max(np.abs(avg["state_dict"][k] - (0.25 * sa[k] + 0.75 * sb[k])).max() for k in sa)
    assert worst < 1e-6 and set(avg["state_dict"]) == set(sa)
    assert np.abs(sa["ift.blocks.0.F.conv1.weight"] - sb["ift.blocks.0.F.conv1.weight"]).max() > 0.01
    out = save_checkpoint(tmp_path / "avg.pkl", state_dict=avg["state_dict"],
                          config=avg["config"], source=avg["source"])
    load_model(out)                                            # a whole, loadable model
    with pytest.raises(CheckpointError, match="summing to 1"):
        average_checkpoints([a, b], [0.5, 0.6])
    other = save_checkpoint(tmp_path / "c.pkl", jsymnet.build_model(tiny_config(mid_channels=8)))
    with pytest.raises(CheckpointError, match="another network"):
        average_checkpoints([a, other])
