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
