"""Config loading: defaults, base inheritance, and errors that name the bad key."""
import jsymnet  # noqa: F401
import pytest

from jsymnet.config import ConfigError, SCHEMA, defaults, load_config


def test_release_configs_describe_spec_model_and_recipe():
    lol = load_config("configs/lol.yaml")
    m = lol["model"]
    assert (m["ift"]["num_blocks"], m["ift"]["split"], m["ift"]["clamp"]) == (8, 32, 1.0)
    assert (m["subnet"]["rounds"], m["subnet"]["share_weights"]) == (3, False)
    t = lol["train"]
    assert t["optim"]["lr"] == 2e-4 and t["optim"]["betas"] == [0.9, 0.999]
    assert t["optim"]["weight_decay"] == 1e-5 and t["optim"]["grad_clip"] == 10.0
    assert t["batch_size"] == 2 and lol["data"]["crop"] == 180
    assert (t["schedule"]["total"], t["schedule"]["milestones"]) == (250, [100, 200])
    fivek = load_config("configs/fivek.yaml")
    assert fivek["name"] == "fivek" and fivek["data"]["dataset"] == "fivek"
    assert (fivek["train"]["schedule"]["total"], fivek["train"]["schedule"]["milestones"]) == \
        (200, [50, 100, 150])
    assert fivek["model"] == lol["model"]  # inherited from lol.yaml
    assert load_config("configs/paper_shared.yaml")["model"]["subnet"]["share_weights"] is True


def test_defaults_fill_every_key():
    cfg = load_config({"model": {"ift": {"num_blocks": 4}}})
    assert cfg["model"]["ift"]["num_blocks"] == 4
    assert cfg["model"]["subnet"] == defaults(SCHEMA["model"]["subnet"])


@pytest.mark.parametrize("raw, message", [
    ({"model": {"ift": {"num_blcks": 4}}}, "unknown key 'model.ift.num_blcks'; did you mean "
                                           "'model.ift.num_blocks'"),
    ({"model": {"subnet": {"rounds": "three"}}}, "key 'model.subnet.rounds' must be int"),
    ({"model": {"subnet": {"share_weights": 1}}}, "key 'model.subnet.share_weights' must be bool"),
    ({"model": {"subnet": {"type": "transformer"}}}, "key 'model.subnet.type' must be one of"),
    ({"model": {"ift": {"num_blocks": 0}}}, "key 'model.ift.num_blocks' must be at least 1"),
    ({"model": "vgg"}, "'model' must be a mapping"),
    ({"train": {"optim": {"betas": [0.9]}}}, "train.optim.betas"),
    ({"train": {"optim": {"betas": ["a", "b"]}}}, "key 'train.optim.betas' must be list"),
])
def test_bad_keys_and_values_are_named(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(raw)


def test_yaml_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  codec:\n    tpye: vgg\n")
    with pytest.raises(ConfigError, match=f"{bad}: unknown key 'model.codec.tpye'"):
        load_config(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(loop)


def test_split_must_fit_the_codec():
    with pytest.raises(ConfigError, match="model.ift.split"):
        jsymnet.build_model({"model": {"codec": {"weights": None}, "ift": {"split": 64}}})


def test_missing_codec_weights_file_says_what_to_do(tmp_path):
    from jsymnet.models.codec import CodecWeightsError
    with pytest.raises(CodecWeightsError, match="convert_weights.py"):
        jsymnet.build_model({"model": {"codec": {"weights": str(tmp_path / "none.pkl")}}})
