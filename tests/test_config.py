"""Config loading: defaults, base inheritance, and errors that name the bad key."""
from pathlib import Path

import jsymnet  # noqa: F401
import pytest

from jsymnet.config import ConfigError, defaults, load_config, schema
from jsymnet.registry import SUBNETS


CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    """Each config under configs/ (its base chain too) passes validation: a recipe in the
    model card can be run as it is written."""
    cfg = load_config(path)
    assert cfg["name"] and cfg["model"]["ift"]["num_blocks"] >= 1


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
    rram = {k: v for k, v in defaults(schema()["model"]["subnet"]).items()
            if k == "type" or k in SUBNETS.options("rram")}
    assert cfg["model"]["subnet"] == rram          # the chosen part's keys, every one filled


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
    ({"train": {"loss": {"psnr_max_db": -3.0}}}, "key 'train.loss.psnr_max_db' must be positive"),
    ({"model": {"codec": {"haar_mix": "yes"}}}, "key 'model.codec.haar_mix' must be bool"),
    ({"train": {"loss": {"type": "psnr", "grid_window": 30}}},
     "key 'train.loss.grid_window' must be a multiple of 'train.loss.grid_period'"),
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


def test_registry_refuses_twins_and_names_the_known_parts():
    from jsymnet.registry import Registry, RegistryError
    parts = Registry("widget")

    @parts.register("round")
    class Round:
        pass

    parts.register("square", object)
    assert parts.get("round") is Round and parts["square"] is object
    assert "round" in parts and "oval" not in parts and ["no", "name"] not in parts
    assert parts.names() == list(parts) == ["round", "square"] and len(parts) == 2
    with pytest.raises(RegistryError, match="widget 'round' is registered twice"):
        parts.register("round", int)
    with pytest.raises(KeyError) as exc:  # a KeyError, a ValueError and a JsymnetError
        parts.get("rond")
    assert isinstance(exc.value, (ValueError, jsymnet.JsymnetError))
    assert str(exc.value) == ("unknown widget 'rond'; known: round, square; "
                              "did you mean 'round'?")  # not quoted like a plain KeyError
    with pytest.raises(RegistryError, match=r"known: round, square$"):
        parts.get("hexagon")


def test_model_registries_keep_their_old_names():
    from jsymnet.registry import CODECS, SUBNETS, lookup
    assert {"vgg", "haar"} <= set(CODECS) and "rram" in SUBNETS.names()
    assert lookup(SUBNETS, "rram", "subnet") is SUBNETS.get("rram")
    with pytest.raises(KeyError, match="unknown subnet 'rrm'; known: .*did you mean 'rram'"):
        lookup(SUBNETS, "rrm", "subnet")
    with pytest.raises(KeyError, match="unknown thing 'c'; known: a, b"):
        lookup({"a": 1, "b": 2}, "c", "thing")


def test_config_choices_are_the_registered_names():
    from jsymnet.data.datasets import DATASETS
    from jsymnet.registry import CODECS, SUBNETS
    with pytest.raises(ConfigError, match="key 'data.dataset' must be one of lol, fivek, "
                                          "folder, sample, lowlight, brackets, mix(, .*)?; "
                                          "got 'lo'"):
        load_config({"data": {"dataset": "lo"}})
    assert DATASETS.names()[:5] == ["lol", "fivek", "folder", "sample", "lowlight"]
    for kind in CODECS:
        assert load_config({"model": {"codec": {"type": kind}}})["model"]["codec"]["type"] == kind
    for kind in SUBNETS:
        assert load_config({"model": {"subnet": {"type": kind}}})["model"]["subnet"]["type"] == kind


def test_retired_keys_still_load_and_do_nothing():
    """Configs stored in earlier checkpoints and runs carry data.num_workers."""
    from jsymnet.config import load_config
    cfg = load_config({"data": {"num_workers": 4}})
    assert "num_workers" not in cfg["data"]
    assert cfg == load_config()


def test_network_leaves_out_the_options_of_parts_not_chosen():
    from jsymnet.config import network
    haar = load_config({"model": {"codec": {"type": "haar"}}})
    # an older checkpoint's config stores every part's options (the VGG codec's width,
    # the dense subnet's growth) beside the ones its parts use
    older = load_config({"model": {"codec": {"type": "haar", "channels": 64},
                                   "subnet": {"growth": 32}}})
    assert network(older) == network(haar)
    assert network(load_config({"model": {"codec": {"type": "haar", "haar_levels": 2}}})) \
        != network(haar)


def test_a_retired_option_loads_when_off_and_names_its_commit_when_on():
    """Checkpoints written before an unshipped experiment's option was removed store it at
    its "off" value: they still load. Turned on, the error names the commit with the code."""
    from jsymnet.config import RETIRED_IN
    old = {"model": {"ift": {"swap": False}}, "data": {"crop_zoom": 1.0, "mix": [
        {"dataset": "brackets", "brackets_zoom_noise": False, "brackets_max_luma": None}]},
        "train": {"loss": {"psnr_floor_db": None}}}
    cfg = load_config(old)
    assert "swap" not in cfg["model"]["ift"] and "crop_zoom" not in cfg["data"]
    with pytest.raises(ConfigError, match=f"'model.ift.swap' .* commit {RETIRED_IN}"):
        load_config({"model": {"ift": {"swap": True}}})
    with pytest.raises(ConfigError, match="'data.brackets_max_luma'"):
        load_config({"data": {"mix": [{"dataset": "brackets", "brackets_max_luma": 0.1}]}})
