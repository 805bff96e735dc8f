"""Parts register themselves and declare their options (jsymnet.registry).

A new subnet, a new dataset and a new loss, each in one new file outside the
package, are imported (as ``--import`` does), named in a config and trained on for
two steps with nothing else edited; their options join the config schema and are
checked there.
"""
import sys
import textwrap

import numpy as np
import pytest

import jsymnet
from conftest import ROOT, tiny_haar_config
from jsymnet.config import ConfigError, load_config, schema
from jsymnet.registry import (DATASETS, LOSSES, SUBNETS, Registry, RegistryError,
                              import_modules, import_parts)

PLUGINS = {
    "plug_subnet": '''
        from jittor import nn
        from jsymnet.config import Field
        from jsymnet.models.init import conv3x3, zeros_
        from jsymnet.registry import register_subnet
        from jsymnet.models.stages import Stage, Staged


        @register_subnet("plug", options={"plug_width": Field(8, low=1, high=64)})
        class PlugSubnet(Staged):
            """conv-ReLU-conv, the exit conv zero: the coupling starts as the identity."""

            def __init__(self, in_channels, out_channels, section):
                super().__init__()
                self.in_channels = in_channels
                self.conv1 = conv3x3(in_channels, section["plug_width"])
                self.conv2 = conv3x3(section["plug_width"], out_channels)
                zeros_(self.conv2)

            def stages(self):
                return [Stage(lambda maps, _: ((self.conv2(nn.relu(self.conv1(maps[0]))),),
                                               None), 2)]
        ''',
    "plug_dataset": '''
        import numpy as np
        from jsymnet.config import Field
        from jsymnet.data.datasets import PairedImageDataset, register_dataset
        from jsymnet.data.pairs import Pair

        SEEN = []


        class Ramps(PairedImageDataset):
            """Generated pairs: a colour ramp and its darkened copy (no files)."""
            synthesises_input = True

            def __init__(self, pairs, darkness=0.3, **kw):
                super().__init__(pairs, **kw)
                self.darkness = darkness

            def _read(self, index):
                SEEN.append(index)
                rng = np.random.default_rng(index)
                high = np.clip(rng.random((1, 1, 3)) * np.linspace(0.2, 1, 24)[:, None, None]
                               * np.ones((24, 24, 3)), 0, 1).astype(np.float32)
                return high * self.darkness, high


        @register_dataset("ramps", Ramps, darkness="ramps_darkness", options={
            "ramps_count": Field(4, low=1),
            "ramps_darkness": Field(0.3, types=(float,), gt=0.0, high=1.0)})
        def ramp_pairs(split, data):
            return [Pair(f"{split}{i}", None, None) for i in range(data["ramps_count"])]
        ''',
    "plug_loss": '''
        from jsymnet.config import Field
        from jsymnet.losses import register_loss

        CALLS = []


        @register_loss("huber", options={"huber_delta": Field(0.1, types=(float,), gt=0.0)},
                       delta=lambda section: section["huber_delta"])
        def huber(pred, target, delta=0.1):
            CALLS.append(delta)
            d = (pred - target).abs()
            quad = d.clamp(0.0, delta)
            err = 0.5 * quad * quad + delta * (d - quad)
            return err.reshape(err.shape[0], -1).sum(dim=1).mean()
        ''',
}


@pytest.fixture(scope="module")
def plugins(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugins")
    for name, text in PLUGINS.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    tables = (SUBNETS, DATASETS, LOSSES)
    saved = [(t, dict(t._items), dict(t._options), dict(t._checks)) for t in tables]
    sys.path.insert(0, str(folder))
    import_modules(list(PLUGINS))
    yield {name: sys.modules[name] for name in PLUGINS}
    sys.path.remove(str(folder))
    for table, items, options, checks in saved:   # the other tests see the built-ins only
        table._items, table._options, table._checks = items, options, checks
    for name in PLUGINS:
        sys.modules.pop(name, None)


def plugin_config(**train):
    cfg = tiny_haar_config()
    cfg["model"]["subnet"] = {"type": "plug", "plug_width": 6}
    cfg["data"] = {"dataset": "ramps", "ramps_count": 4, "ramps_darkness": 0.25, "crop": 16}
    cfg["train"] = {"batch_size": 2, "log_every": 1, "val_every": 0, "save_every": 0,
                    "loss": {"type": "huber", "huber_delta": 0.05},
                    "schedule": {"unit": "iter", "total": 2, "milestones": []}, **train}
    return cfg


def test_parts_from_new_files_train_with_nothing_else_edited(plugins, tmp_path):
    from jsymnet.engine import Trainer
    assert {"plug", "ramps", "huber"} <= set(SUBNETS) | set(DATASETS) | set(LOSSES)
    cfg = load_config(plugin_config())
    assert cfg["model"]["subnet"]["plug_width"] == 6 and cfg["data"]["ramps_darkness"] == 0.25
    trainer = Trainer(cfg, tmp_path / "run", val_set=False, progress=False)
    block = trainer.model.ift.blocks[0]
    assert type(block.F).__name__ == "PlugSubnet" and block.F.conv1.weight.shape[0] == 6
    before = block.F.conv2.weight.numpy().copy()
    summary = trainer.train()
    assert summary["finished"] and len(trainer.history) == 2
    assert all(np.isfinite(loss) for _, loss in trainer.history)
    assert not np.array_equal(before, block.F.conv2.weight.numpy())    # the subnet learnt
    assert plugins["plug_loss"].CALLS and set(plugins["plug_loss"].CALLS) == {0.05}
    assert set(plugins["plug_dataset"].SEEN) <= set(range(4)) and plugins["plug_dataset"].SEEN


def test_a_parts_options_are_checked_by_its_own_fields(plugins):
    with pytest.raises(ConfigError, match="'model.subnet.plug_width' is 65, more than the 64"):
        load_config({"model": {"subnet": {"type": "plug", "plug_width": 65}}})
    with pytest.raises(ConfigError, match=r"'data.ramps_darkness' must be in \(0.0, 1.0\]"):
        load_config({"data": {"dataset": "ramps", "ramps_darkness": 0.0}})
    with pytest.raises(ConfigError, match="'train.loss.huber_delta' must be positive"):
        load_config({"train": {"loss": {"type": "huber", "huber_delta": -1.0}}})
    keys = schema()
    assert "plug_width" in keys["model"]["subnet"] and "huber_delta" in keys["train"]["loss"]
    assert "ramps_count" in keys["data"]
    # a config holds the keys of the parts it chooses only, so one written here loads in
    # a process that never imported these parts
    plain = load_config()
    assert "plug_width" not in plain["model"]["subnet"] and "ramps_count" not in plain["data"]
    assert "huber_delta" not in plain["train"]["loss"]
    assert "plug_width" in load_config(plugin_config())["model"]["subnet"]


def test_options_two_parts_share_must_agree_and_names_are_registered_once():
    parts = Registry("widget")
    from jsymnet.config import Field
    size = Field(3, low=1)
    parts.register("a", object, options={"size": size})
    parts.register("b", int, options={"size": size})              # the same field: fine
    parts.register("c", float, options={"size": Field(3, low=1)})  # an equal one: fine
    with pytest.raises(RegistryError, match="'d' declares option 'size' unlike 'a'"):
        parts.register("d", str, options={"size": Field(4, low=1)})
    assert "d" not in parts and parts.options("a") == {"size": size}
    assert list(parts.options()) == ["size"]


def test_an_unknown_part_says_how_to_register_ones_own():
    with pytest.raises(ConfigError, match="must be one of rram, resblock"):
        load_config({"model": {"subnet": {"type": "transformer"}}})
    with pytest.raises(RegistryError, match=r"unknown subnet 'transformer'.*--import MODULE"):
        SUBNETS.get("transformer")
    with pytest.raises(RegistryError, match="--import no_such_module_here: cannot import it"):
        import_modules(["no_such_module_here"])


def test_a_package_imports_every_module_of_its_folder(tmp_path):
    """What jsymnet.models and jsymnet.data do: a part in a new module is found."""
    pkg = tmp_path / "gadgets"
    pkg.mkdir()
    (tmp_path / "gadget_table.py").write_text(
        "from jsymnet.registry import Registry\nGADGETS = Registry('gadget')\n")
    (pkg / "__init__.py").write_text(
        "from jsymnet.registry import import_parts\nimport_parts(__name__, __path__)\n")
    for name in ("spring", "lever"):
        (pkg / f"{name}.py").write_text(
            f"from gadget_table import GADGETS\nGADGETS.register({name!r}, {name!r})\n")
    (pkg / "_private.py").write_text("raise RuntimeError('a _module is not a part')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import_modules(["gadgets"])
        from gadget_table import GADGETS
        assert GADGETS.names() == ["lever", "spring"]   # modules in name order
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("gadgets", "gadgets.spring", "gadgets.lever", "gadget_table"):
            sys.modules.pop(name, None)
    assert callable(import_parts)


def test_built_in_tables_fill_themselves_and_list_their_sections():
    assert SUBNETS.names()[:4] == ["rram", "resblock", "se_resblock", "dense"]
    assert set(SUBNETS.options("dense")) == {"growth", "init_scale"}
    assert LOSSES.names()[:3] == ["l2", "l1", "psnr"]
    defaults = load_config()
    for table in (SUBNETS, DATASETS, LOSSES):
        section = defaults
        for part in table.section.split("."):
            section = section[part]
        chosen = section["dataset" if table is DATASETS else "type"]
        assert set(table.options(chosen)) <= set(section), table.kind   # the chosen part's
    assert jsymnet.load_model(ROOT / "weights" / "jsymnet_default.pkl").config["model"]["subnet"][
        "type"] == "rram"                            # stored configs still load
