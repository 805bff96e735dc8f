"""YAML configuration: one schema, defaults, and validation that names the bad key.

A config file may start from another with ``base: other.yaml`` (a path
relative to the file); its keys then override the base's, section by section.
Every key must be in :data:`SCHEMA`; a value of the wrong type or outside its
choices is an error naming the key and the file.
"""
import copy
import difflib
from pathlib import Path

import yaml

from .errors import JsymnetError
from . import resources


class ConfigError(JsymnetError, ValueError):
    """A configuration key or value is wrong; the message names it."""


class Field:
    """One leaf of the schema: its default, accepted types and optional choices.

    ``choices`` is a tuple, or a function that returns them when a value is checked
    (:func:`registered`: the names of a registry).
    """

    def __init__(self, default, types=None, choices=None, optional=False, doc=""):
        self.default = default
        self.types = types or (type(default),)
        self.choices = choices
        self.optional = optional
        self.doc = doc

    def check(self, key, value, where):
        if value is None and self.optional:
            return None
        if float in self.types and isinstance(value, str):
            value = yaml11_number(value)  # YAML 1.1 reads 2e-4 (no dot) as text
        if float in self.types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in self.types:
            ok = False
        else:
            ok = isinstance(value, self.types)
        if ok and isinstance(value, list) and (self.default or float in self.types):
            inner = type(self.default[0]) if isinstance(self.default, list) else float
            ok = all(isinstance(v, (int, float) if inner is float else inner)
                     and not isinstance(v, bool) for v in value)
        if not ok:
            expected = " or ".join(t.__name__ for t in self.types)
            if self.optional:
                expected += " or null"
            raise ConfigError(f"{where}: key '{key}' must be {expected}, got {value!r}")
        choices = self.choices() if callable(self.choices) else self.choices
        if choices is not None and value not in choices:
            raise ConfigError(f"{where}: key '{key}' must be one of "
                              f"{', '.join(map(str, choices))}; got {value!r}")
        return value


def yaml11_number(text):
    """``text`` as a float when it is a number YAML 1.1 left as a string (``2e-4``), else
    ``text`` (``inf`` and ``nan`` too: YAML spells them ``.inf`` and ``.nan``). The one
    number rule, for config files and for ``--set`` (:func:`jsymnet.cli.parse_set`)."""
    if not isinstance(text, str):
        return text
    try:
        return float(text) if text.strip().lower() not in ("nan", "inf", "-inf", "+inf") \
            else text
    except ValueError:
        return text


def _f(default, **kw):
    return Field(default, **kw)


def registered(registry, module, populate=None):
    """Choices that are the names of ``module``'s :class:`~jsymnet.registry.Registry`
    ``registry``, read when a value is checked: registering a part is all it takes to make
    it a valid value, and this module imports none of the parts. ``populate``: the module
    whose import registers them, when that is not ``module`` itself."""
    def names():
        import importlib
        if populate:
            importlib.import_module(populate)
        return getattr(importlib.import_module(module), registry).names()
    return names


SCHEMA = {
    "name": _f("jsymnet", doc="run name"),
    "model": {
        "codec": {
            "type": _f("vgg", choices=registered("CODECS", "jsymnet.models.registry",
                                                 "jsymnet.models"),
                       doc="vgg: frozen VGG-16 conv1_1/conv1_2 (SPEC 2); haar: wavelet ablation"),
            "weights": _f(None, types=(str,), optional=True,
                          doc="codec weights file (jt.save of conv1_1/conv1_2); null = random"),
            "channels": _f(64, doc="VGG codec feature channels (conv1_2 outputs)"),
            "haar_levels": _f(1, doc="haar codec: number of 2x2 wavelet levels"),
            "haar_mix": _f(False, doc="haar codec: follow the bands by a fixed orthogonal "
                                      "channel rotation, so both halves of the IFT's split "
                                      "carry brightness and colour (as VGG features do)"),
        },
        "ift": {
            "num_blocks": _f(8, doc="invertible blocks (SPEC 3)"),
            "split": _f(None, types=(int,), optional=True,
                        doc="channels of x1; null = half of the codec's channels"),
            "clamp": _f(1.0, types=(float,), doc="c in s = c * (2 sigmoid(H) - 1)"),
            "swap": _f(False, doc="exchange the halves after each block, so that every "
                                  "channel is scaled, not only shifted (needs split = half "
                                  "the channels; the release: false)"),
        },
        "subnet": {
            "type": _f("rram", choices=registered("SUBNETS", "jsymnet.models.registry",
                                                  "jsymnet.models"),
                       doc="F, G, H of each block: RRAM (paper) or a Table 2 ablation"),
            "rounds": _f(3, doc="T, recurrent rounds of the RRAM (Eq. 5-6)"),
            "share_weights": _f(False, doc="true: one RSCA reused T times (paper); "
                                           "false: one per round (release)"),
            "attention": _f(True, doc="soft channel attention in each RSCA (Eq. 8-9)"),
            "mid_channels": _f(64, doc="RRAM width (entry conv 32 -> 64, Eq. 10)"),
            "hidden_channels": _f(128, doc="RSCA inner width (64 -> 128 -> 64, Eq. 7)"),
            "reduction": _f(16, doc="attention squeeze ratio (64 -> 4)"),
            "growth": _f(32, doc="dense subnet growth channels"),
            "entry_init": _f("xavier", choices=("xavier", "kaiming"),
                             doc="entry conv init: xavier (what the release runs) or kaiming"),
            "init_scale": _f(0.1, types=(float,), doc="scale of the initial conv weights"),
            "prelu_init": _f(0.2, types=(float,), doc="initial PReLU slope"),
        },
    },
    "data": {
        "dataset": _f("lol", choices=registered("DATASETS", "jsymnet.data.datasets"),
                      doc="lowlight: well-exposed photos, inputs synthesised on the fly"),
        "root": _f(None, types=(str,), optional=True, doc="dataset folder"),
        "crop": _f(180, doc="training crop size"),
        "vflip": _f(True), "hflip": _f(True), "transpose": _f(True),
        "low": _f(None, types=(str,), optional=True, doc="folder dataset: low-light images"),
        "high": _f(None, types=(str,), optional=True, doc="folder dataset: target images"),
        "val_low": _f(None, types=(str,), optional=True,
                      doc="folder dataset: low-light images of the validation pairs"),
        "val_high": _f(None, types=(str,), optional=True,
                       doc="folder dataset: targets of the validation pairs"),
        "lol_split": _f("standard", choices=("standard", "paper"),
                        doc="standard: our485/eval15; paper: 400/100 of all 500 by name"),
        "fivek_train_count": _f(4500, doc="flat FiveK layout: first N by name train, rest test"),
        "sample_size": _f(320, doc="sample set: long side of the photos, pixels"),
        "sample_variants": _f([4, 2], types=(list,),
                              doc="sample set: distorted inputs per train / test photo"),
        "lowlight_train": _f(["train"], types=(list,),
                             doc="lowlight dataset: folders under data.root to train on"),
        "lowlight_test": _f(["test"], types=(list,),
                            doc="lowlight dataset: folders under data.root to test on"),
        "lowlight_test_ev": _f(-2.0, types=(float, list),
                               doc="lowlight dataset: exposure change of the test inputs; a "
                                   "list: test photo i at the (i mod length)-th of them"),
        "lowlight_identity": _f(0.1, types=(float,),
                                doc="lowlight dataset: share of training pairs left unchanged "
                                    "(a photo that needs nothing must come out as it went in)"),
        "brackets_identity": _f(0.0, types=(float,),
                                doc="brackets dataset: share of training pairs that are a "
                                    "bracket's target paired with itself"),
        "brackets_max_luma": _f(None, types=(float,), optional=True,
                                doc="brackets dataset: train only on darker frames whose mean "
                                    "luma is at most this; null: every frame >= 1 EV darker"),
        "val_fraction": _f(None, types=(float,), optional=True,
                           doc="hold out this share of the pairs (whole scenes where the "
                               "dataset knows them) for validation, by a name-stable rule; "
                               "null: the dataset's own split (brackets: 0.2)"),
        "mix": _f([], types=(list,),
                  doc="mix dataset: a list of data sections, each with a 'weight' (its share "
                      "of the training pairs) and the keys of its own dataset"),
        "eval_max_side": _f(None, types=(int,), optional=True,
                            doc="downscale test pairs to this long side (quick runs; not "
                                "the paper protocol)"),
    },
    "train": {
        "batch_size": _f(2),
        "seed": _f(0),
        "loss": {
            "type": _f("l2", choices=("l2", "l1", "psnr"), doc="Eq. 13-14; l1/psnr ablations"),
            "psnr_max_db": _f(80.0, types=(float,),
                              doc="psnr loss: the PSNR at which an image's loss stops "
                                  "improving (80: the ablation's eps 1e-8)"),
            "lambda_enhance": _f(1.0, types=(float,), doc="lambda_H, Eq. 12"),
            "lambda_degrade": _f(1.0, types=(float,), doc="lambda_L, Eq. 12; 0 = no backward loss"),
            "quantize_target": _f(True, doc="degrade Q(x_HQ): round to 1/255, straight-through"),
        },
        "optim": {
            "type": _f("adam", choices=("adam", "adam_jittor"),
                       doc="adam: torch.optim.Adam's update, as the release trains; "
                           "adam_jittor: jt.optim.Adam's (eps outside the bias correction)"),
            "lr": _f(2e-4, types=(float,)),
            "betas": _f([0.9, 0.999], types=(list,)),
            "eps": _f(1e-8, types=(float,), doc="Adam's epsilon (torch's default)"),
            "weight_decay": _f(1e-5, types=(float,)),
            "grad_clip": _f(10.0, types=(float,), optional=True, doc="max gradient norm"),
        },
        "schedule": {
            "unit": _f("epoch", choices=("epoch", "iter")),
            "total": _f(250, doc="epochs or iterations to train"),
            "milestones": _f([100, 200], types=(list,), doc="where the lr is multiplied by gamma"),
            "gamma": _f(0.5, types=(float,)),
        },
        "memory_efficient": _f(True, doc="reversible backward through the IFT: the same "
                               "gradients in about 1/8 of the memory, about 30% slower"),
        "val_every": _f(1000, doc="iterations between validations (0 = only at the end)"),
        "save_every": _f(1000, doc="iterations between checkpoints (0 = only at the end)"),
        "val_limit": _f(None, types=(int,), optional=True,
                        doc="validate on the first N test pairs only; null = all"),
        "val_split": _f("test", choices=("test", "train"),
                        doc="which split of data.dataset validation scores"),
        "log_every": _f(10, doc="iterations between training lines in log.jsonl"),
        "keep_every": _f(0, doc="also keep iter_<N>.pkl every N iterations (0 = only "
                                "latest/best/final)"),
        "cache_images": _f(False, doc="keep decoded training images in memory (small sets)"),
        "ema": _f(0.0, types=(float,),
                  doc="decay of an exponential moving average of the weights (e.g. 0.999), "
                      "which validation scores and best/final.pkl hold; 0 = off"),
        "init": _f(None, types=(str,), optional=True,
                   doc="start a new run from these weights (a jsymnet checkpoint or a shipped "
                       "name); the optimiser, schedule and iteration start fresh"),
        "init_strict": _f(True, doc="train.init: every tensor must match; false loads the "
                                    "matching ones and reports the rest"),
        "tensorboard": _f(True, doc="also write TensorBoard events to <run>/tb if tensorboardX "
                                    "is installed (pip install 'jsymnet[tensorboard]'): the "
                                    "log's scalars and, at each validation, input | output | "
                                    "target of the first 3 validation pairs"),
    },
}


def defaults(schema=SCHEMA):
    """The full default configuration as a plain dict."""
    return {k: defaults(v) if isinstance(v, dict) else copy.deepcopy(v.default)
            for k, v in schema.items()}


def _merge(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# Keys that earlier versions wrote and that no longer do anything: dropped on load, so
# that the configs stored in existing checkpoints and runs still load.
RETIRED_KEYS = {"data.num_workers"}   # jsymnet's datasets are read in the main process


def _validate(cfg, schema, where, prefix=""):
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.') or 'the config'}' must be a mapping, "
                          f"got {cfg!r}")
    out = {}
    for key, value in cfg.items():
        full = prefix + str(key)
        if full in RETIRED_KEYS:
            continue
        if key not in schema:
            close = difflib.get_close_matches(str(key), [str(k) for k in schema], n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else \
                f"; known keys here: {', '.join(schema)}"
            raise ConfigError(f"{where}: unknown key '{full}'{hint}")
        spec = schema[key]
        if isinstance(spec, dict):
            out[key] = _validate(value, spec, where, full + ".")
        else:
            out[key] = spec.check(full, value, where)
    for key, spec in schema.items():
        if key not in out:
            out[key] = defaults(spec) if isinstance(spec, dict) else copy.deepcopy(spec.default)
    return out


def _read_yaml(path, seen=()):
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}: key 'base' must be a file path")
        data = _merge(_read_yaml(path.parent / base, seen + (path.resolve(),)), data)
    return data


def load_config(cfg=None, overrides=None):
    """Validated config from a YAML path, a shipped config's name (``"lol"``), a dict,
    or None (all defaults).

    ``overrides`` is a nested dict applied on top (e.g. from the command line).
    Returns a plain dict with every key of the schema filled in.
    """
    if cfg is None:
        raw, where = {}, "config"
    elif isinstance(cfg, (str, Path)):
        path = resources.resolve_config(cfg)
        if not path.is_file():
            known = resources.config_names()
            close = difflib.get_close_matches(str(cfg), known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else \
                f"; shipped configs: {', '.join(known)}" if known else ""
            raise ConfigError(f"config file not found: {cfg} (a YAML path, or the name of a "
                              f"shipped config){hint}")
        raw, where = _read_yaml(path), str(cfg)
        raw.setdefault("name", path.stem)
    elif isinstance(cfg, dict):
        raw, where = copy.deepcopy(cfg), "config"
    else:
        raise ConfigError(f"a config is a YAML path or a dict, got {type(cfg).__name__}")
    if overrides:
        raw = _merge(raw, overrides)
    cfg = _validate(raw, SCHEMA, where)
    _check_consistency(cfg, where)
    return cfg


SIZE_LIMITS = {"model.ift.num_blocks": 256, "model.subnet.rounds": 64,
               "model.subnet.mid_channels": 4096, "model.subnet.hidden_channels": 4096,
               "model.subnet.reduction": 4096, "model.codec.channels": 4096,
               "model.codec.haar_levels": 8}


def _paper_value(key):
    node = defaults()
    for part in key.split("."):
        node = node[part]
    return node


def _check_consistency(cfg, where):
    model = cfg["model"]
    positive = [("model.ift.num_blocks", model["ift"]["num_blocks"]),
                ("model.subnet.rounds", model["subnet"]["rounds"]),
                ("model.subnet.mid_channels", model["subnet"]["mid_channels"]),
                ("model.subnet.hidden_channels", model["subnet"]["hidden_channels"]),
                ("model.subnet.reduction", model["subnet"]["reduction"]),
                ("model.codec.channels", model["codec"]["channels"]),
                ("model.codec.haar_levels", model["codec"]["haar_levels"])]
    for key, value in positive:
        if value < 1:
            raise ConfigError(f"{where}: key '{key}' must be at least 1, got {value}")
        if value > SIZE_LIMITS[key]:  # a hostile or mistyped file must not exhaust memory
            raise ConfigError(f"{where}: key '{key}' is {value}, more than the "
                              f"{SIZE_LIMITS[key]} jsymnet builds (the paper uses "
                              f"{_paper_value(key)})")
    split = model["ift"]["split"]
    if split is not None and split < 1:
        raise ConfigError(f"{where}: key 'model.ift.split' must be at least 1, got {split}")
    if model["subnet"]["mid_channels"] // model["subnet"]["reduction"] < 1:
        raise ConfigError(f"{where}: key 'model.subnet.reduction' ({model['subnet']['reduction']}) "
                          f"exceeds model.subnet.mid_channels ({model['subnet']['mid_channels']})")
    if len(cfg["data"]["sample_variants"]) != 2 or min(cfg["data"]["sample_variants"]) < 1:
        raise ConfigError(f"{where}: key 'data.sample_variants' must hold two counts >= 1 "
                          f"(per train photo, per test photo)")
    for key in ("crop", "sample_size", "fivek_train_count"):
        if cfg["data"][key] < 1:
            raise ConfigError(f"{where}: key 'data.{key}' must be at least 1, "
                              f"got {cfg['data'][key]}")
    _check_data(cfg["data"], where)
    train = cfg["train"]
    for key in ("batch_size", "log_every"):
        if train[key] < 1:
            raise ConfigError(f"{where}: key 'train.{key}' must be at least 1, got {train[key]}")
    for key in ("val_every", "save_every", "keep_every"):
        if train[key] < 0:
            raise ConfigError(f"{where}: key 'train.{key}' must be 0 or more, got {train[key]}")
    if train["schedule"]["total"] < 1:
        raise ConfigError(f"{where}: key 'train.schedule.total' must be at least 1, "
                          f"got {train['schedule']['total']}")
    if list(train["schedule"]["milestones"]) != sorted(train["schedule"]["milestones"]):
        raise ConfigError(f"{where}: key 'train.schedule.milestones' must be increasing, "
                          f"got {train['schedule']['milestones']}")
    if train["optim"]["lr"] <= 0:
        raise ConfigError(f"{where}: key 'train.optim.lr' must be positive, "
                          f"got {train['optim']['lr']}")
    betas = train["optim"]["betas"]
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ConfigError(f"{where}: key 'train.optim.betas' must hold two numbers in [0, 1), "
                          f"got {betas}")
    checks = [("train.optim.eps", train["optim"]["eps"], "positive", lambda v: v > 0),
              ("train.optim.weight_decay", train["optim"]["weight_decay"], "0 or more",
               lambda v: v >= 0),
              ("train.optim.grad_clip", train["optim"]["grad_clip"], "positive (or null: no "
               "clipping)", lambda v: v is None or v > 0),
              ("train.schedule.gamma", train["schedule"]["gamma"], "positive", lambda v: v > 0),
              ("train.ema", train["ema"], "in [0, 1)", lambda v: 0 <= v < 1),
              ("train.loss.psnr_max_db", train["loss"]["psnr_max_db"], "positive",
               lambda v: v > 0),
              ("train.loss.lambda_enhance", train["loss"]["lambda_enhance"], "0 or more",
               lambda v: v >= 0),
              ("train.loss.lambda_degrade", train["loss"]["lambda_degrade"], "0 or more",
               lambda v: v >= 0)]
    for key, value, meaning, ok in checks:
        if not ok(value):
            raise ConfigError(f"{where}: key '{key}' must be {meaning}, got {value}")


def _check_data(data, where, prefix="data"):
    for key in ("lowlight_identity", "brackets_identity"):
        if not 0.0 <= data[key] <= 1.0:
            raise ConfigError(f"{where}: key '{prefix}.{key}' must be in [0, 1], got {data[key]}")
    if data["val_fraction"] is not None and not 0.0 <= data["val_fraction"] < 1.0:
        raise ConfigError(f"{where}: key '{prefix}.val_fraction' must be in [0, 1), got "
                          f"{data['val_fraction']}")
    if (data["dataset"] == "mix") != bool(data["mix"]):
        raise ConfigError(f"{where}: data.dataset 'mix' and a non-empty data.mix go together "
                          f"(got dataset {data['dataset']!r} with {len(data['mix'])} mix "
                          f"entries)")
    for i, entry in enumerate(data["mix"]):
        name = f"{prefix}.mix[{i}]"
        if not isinstance(entry, dict) or "dataset" not in entry or "weight" not in entry:
            raise ConfigError(f"{where}: {name} must be a mapping with at least 'dataset' and "
                              f"'weight', got {entry!r}")
        weight = entry["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            raise ConfigError(f"{where}: key '{name}.weight' must be a positive number, got "
                              f"{weight!r}")
        if entry["dataset"] == "mix":
            raise ConfigError(f"{where}: {name}: a mix cannot hold another mix")
        _check_data(_mix_part(data, entry, where, name + "."), where, name)


def _mix_part(data, entry, where="config", prefix="data.mix."):
    base = {k: v for k, v in data.items() if k != "mix"}
    part = _validate(_merge(base, {k: v for k, v in entry.items() if k != "weight"}),
                     SCHEMA["data"], where, prefix)
    if "root" in entry and entry["root"] and data.get("root"):  # relative to the mix's root
        part["root"] = str(Path(data["root"]) / entry["root"])
    return part


def mix_parts(data):
    """[(weight, data section)] of a validated ``data`` section with dataset ``mix``: each
    entry's keys over the mix's own data section (so crops and flips agree unless an entry
    says otherwise); an entry's relative ``root`` is under the mix's ``root``
    (``--data-root``)."""
    return [(float(e["weight"]), _mix_part(data, e)) for e in data["mix"]]


def dump_config(cfg):
    """YAML text of a config (for logs and checkpoints)."""
    return yaml.safe_dump(cfg, sort_keys=False)
