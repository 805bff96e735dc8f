"""YAML configuration: one schema, defaults, and validation that names the bad key.

A config file may start from another with ``base: other.yaml`` (a path
relative to the file); its keys then override the base's, section by section.
Every key must be in the schema (:func:`schema`: :data:`BASE_SCHEMA` and the options
of the registered parts); a value of the wrong type or outside its
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
    """One leaf of the schema: its default, accepted types, choices and limits.

    ``choices`` is a tuple, or a function that returns them when a value is checked
    (a registry's ``names``). Limits, for numbers: ``low`` / ``high`` inclusive,
    ``gt`` / ``lt`` exclusive; ``high`` alone is a size that a hostile or mistyped
    file must not exceed (so that it cannot exhaust memory).
    """

    def __init__(self, default, types=None, choices=None, optional=False, doc="",
                 low=None, high=None, gt=None, lt=None, meaning=None):
        self.default = default
        self.types = types or (type(default),)
        self.choices = choices
        self.optional = optional
        self.doc = doc
        self.low, self.high, self.gt, self.lt = low, high, gt, lt
        self.meaning = meaning   # overrides the limits' wording ("positive (or null: ...)")

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
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self._check_limits(key, value, where)
        return value

    def _check_limits(self, key, value, where):
        if self.low is None and self.gt is None and self.high is None and self.lt is None:
            return
        if self.high is not None and self.low is not None and self.low >= 1 and \
                value > self.high:
            raise ConfigError(f"{where}: key '{key}' is {value}, more than the {self.high} "
                              f"jsymnet builds (the default is {self.default})")
        ok = ((self.low is None or value >= self.low) and (self.gt is None or value > self.gt)
              and (self.high is None or value <= self.high)
              and (self.lt is None or value < self.lt))          # NaN fails every limit
        if not ok:
            raise ConfigError(f"{where}: key '{key}' must be {self.wording()}, got {value}")

    def wording(self):
        """The limits in words: "at least 1", "positive", "in [0, 1)"."""
        if self.meaning:
            return self.meaning
        lo = f"[{self.low}" if self.low is not None else f"({self.gt}" if self.gt is not None \
            else None
        hi = f"{self.high}]" if self.high is not None else f"{self.lt})" if self.lt is not None \
            else None
        if lo and hi and not (self.low is not None and self.low >= 1 and self.lt is None):
            return f"in {lo}, {hi}"
        if self.gt == 0:
            return "positive"
        if self.low == 0:
            return "0 or more"
        if self.low is not None:
            return f"at least {self.low}"
        return f"more than {self.gt}" if self.gt is not None else \
            f"at most {self.high}" if self.high is not None else f"less than {self.lt}"


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


# The sections and keys that belong to no part. The parts' own keys (a codec's, a
# subnet's, a dataset's, a loss's, an optimiser's) are declared where each part is
# registered (:mod:`jsymnet.registry`) and added by :func:`schema`.
BASE_SCHEMA = {
    "name": _f("jsymnet", doc="run name"),
    "model": {
        "codec": {},
        "ift": {
            "num_blocks": _f(8, low=1, high=256, doc="invertible blocks (docs/design.md#ift)"),
            "split": _f(None, types=(int,), optional=True, low=1,
                        doc="channels of x1; null = half of the codec's channels"),
            "clamp": _f(1.0, types=(float,), doc="c in s = c * (2 sigmoid(H) - 1)"),
        },
        "subnet": {},
        "exposure": {},
    },
    "data": {
        "root": _f(None, types=(str,), optional=True, doc="dataset folder"),
        "crop": _f(180, low=1, doc="training crop size"),
        "vflip": _f(True), "hflip": _f(True), "transpose": _f(True),
        "val_fraction": _f(None, types=(float,), optional=True, low=0.0, lt=1.0,
                           doc="hold out this share of the pairs (whole scenes where the "
                               "dataset knows them) for validation, by a name-stable rule; "
                               "null: the dataset's own split (brackets: 0.2)"),
        "eval_max_side": _f(None, types=(int,), optional=True, low=1,
                            doc="downscale test pairs to this long side (quick runs; not "
                                "the paper protocol)"),
    },
    "train": {
        "batch_size": _f(2, low=1),
        "seed": _f(0),
        "loss": {
            "lambda_enhance": _f(1.0, types=(float,), low=0.0, doc="lambda_H, Eq. 12"),
            "lambda_degrade": _f(1.0, types=(float,), low=0.0,
                                 doc="lambda_L, Eq. 12; 0 = no backward loss"),
            "quantize_target": _f(True, doc="degrade Q(x_HQ): round to 1/255, straight-through"),
        },
        "optim": {
            "grad_clip": _f(10.0, types=(float,), optional=True, gt=0.0,
                            meaning="positive (or null: no clipping)", doc="max gradient norm"),
        },
        "schedule": {
            "unit": _f("epoch", choices=("epoch", "iter")),
            "total": _f(250, low=1, doc="epochs or iterations to train"),
            "milestones": _f([100, 200], types=(list,), doc="where the lr is multiplied by gamma"),
            "gamma": _f(0.5, types=(float,), gt=0.0),
        },
        "memory_efficient": _f(True, doc="reversible backward through the IFT: the same "
                               "gradients in about 1/8 of the memory, about 30% slower"),
        "val_every": _f(1000, low=0, doc="iterations between validations (0 = only at the end)"),
        "save_every": _f(1000, low=0,
                         doc="iterations between checkpoints (0 = only at the end)"),
        "val_limit": _f(None, types=(int,), optional=True, low=1,
                        doc="validate on the first N test pairs only; null = all"),
        "val_split": _f("test", choices=("test", "train"),
                        doc="which split of data.dataset validation scores"),
        "log_every": _f(10, low=1, doc="iterations between training lines in log.jsonl"),
        "keep_every": _f(0, low=0, doc="also keep iter_<N>.pkl every N iterations (0 = only "
                                       "latest/best/final)"),
        "cache_images": _f(False, doc="keep decoded training images in memory (small sets)"),
        "ema": _f(0.0, types=(float,), low=0.0, lt=1.0,
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

# Where each registry's parts go: (section path, registry, type key, default part, doc).
PART_SECTIONS = (
    (("model", "codec"), "CODECS", "type", "vgg",
     "vgg: frozen VGG-16 conv1_1/conv1_2 (docs/design.md#codec); haar: wavelet ablation"),
    (("model", "subnet"), "SUBNETS", "type", "rram",
     "F, G, H of each block: RRAM (paper) or a Table 2 ablation"),
    (("model", "exposure"), "EXPOSURES", "type", "none",
     "none: the network's output (the paper); gain: the default model's global exposure "
     "stage, fitted by tools/fit_exposure.py (jsymnet/models/exposure.py)"),
    (("data",), "DATASETS", "dataset", "lol",
     "lowlight: well-exposed photos, inputs synthesised on the fly"),
    (("train", "loss"), "LOSSES", "type", "l2", "Eq. 13-14; l1/psnr ablations"),
    (("train", "optim"), "OPTIMIZERS", "type", "adam",
     "adam: torch.optim.Adam's update, as the release trains; adam_jittor: "
     "jt.optim.Adam's (eps outside the bias correction)"),
)
_PARTS = {path: (table, type_key) for path, table, type_key, _, _ in PART_SECTIONS}


def _at(tree, path):
    """The node of nested dicts ``tree`` at ``path`` ({} where a level is missing)."""
    for part in path:
        tree = tree.get(part, {}) if isinstance(tree, dict) else {}
    return tree


def schema():
    """The whole schema: :data:`BASE_SCHEMA` with, in each part's section, its ``type`` key
    (the registered names) and every registered part's options (:mod:`jsymnet.registry`).
    Registering a part is all it takes to make its name and its keys valid."""
    out = copy.deepcopy(BASE_SCHEMA)
    for path, _, type_key, default, doc in PART_SECTIONS:
        table = _table(path)
        node = _at(out, path)
        fixed = dict(node)
        node.clear()
        node[type_key] = _f(default, choices=table.names, doc=doc)
        for key, field in table.options().items():
            if key in fixed or key == type_key:
                raise ConfigError(f"{table.kind} option {key!r} is a key of "
                                  f"'{'.'.join(path)}' already; give the option another name")
            node[key] = field
        node.update(fixed)
    return out


def _table(path):
    from . import registry
    return getattr(registry, _PARTS[tuple(path)][0])


def part_of(cfg_section, path):
    """(registry, chosen name) of a validated section at ``path`` (``("model", "subnet")``)."""
    return _table(path), cfg_section[_PARTS[tuple(path)][1]]


def defaults(schema_=None):
    """The full default configuration (of ``schema_``, a part of :func:`schema`) as a plain
    dict."""
    if schema_ is None:
        schema_ = schema()
    return {k: defaults(v) if isinstance(v, dict) else copy.deepcopy(v.default)
            for k, v in schema_.items()}


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
    Returns a plain dict with every key filled in: the fixed ones and those of the parts
    the config chooses (and any other key it gave).
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
    _drop_retired(raw, where)
    full = schema()
    cfg = _validate(raw, full, where)
    _check_consistency(cfg, where, full)
    return _chosen_only(cfg, raw)


# Options of experiments that did not ship, removed from the code, with the value that
# meant "off". Checkpoints written before their removal store every option, so a file
# holding one at that value still loads; one that turned it on names the commit that
# holds the code, the last before their removal (weights/MODEL_CARD.md, "Tried and not
# shipped", names the commit that added each).
RETIRED_IN = "2438e75"
RETIRED = {("model", "ift", "swap"): False, ("data", "crop_zoom"): 1.0,
           ("data", "brackets_max_luma"): None, ("data", "brackets_zoom_noise"): False,
           ("train", "loss", "psnr_floor_db"): None}


def _drop_retired(raw, where):
    """Remove the :data:`RETIRED` options at their "off" values from a raw config (and
    from each ``data.mix`` part); one set to anything else is a :class:`ConfigError`."""
    sections = [(path, raw) for path in RETIRED]
    mix = raw.get("data", {}).get("mix") if isinstance(raw.get("data"), dict) else None
    for part in mix if isinstance(mix, list) else []:
        if isinstance(part, dict):
            sections += [(path, {"data": part}) for path in RETIRED if path[0] == "data"]
    for path, tree in sections:
        node = tree
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or path[-1] not in node:
            continue
        if node[path[-1]] != RETIRED[path]:
            raise ConfigError(f"{where}: key '{'.'.join(path)}' belonged to an experiment that "
                              f"was not shipped and has been removed (its code is in commit "
                              f"{RETIRED_IN}); remove the key, or check out that commit")
        del node[path[-1]]


def _chosen_only(cfg, raw):
    """``cfg`` with each part section holding the keys the raw config gave and the
    defaults of the part it chooses, not the defaults of every registered part: a config
    written by a process that imported a part of its own (``--import``) still loads where
    that part is unknown, unless it uses it."""
    for path, *_ in PART_SECTIONS:
        _at(cfg, path[:-1])[path[-1]] = chosen_keys(_at(cfg, path), path, set(_at(raw, path)))
    return cfg


def chosen_keys(section, path, explicit=()):
    """A validated part ``section`` (at ``path``) reduced to the keys that are no part's,
    the type key, the options of the part it chooses and the ``explicit`` keys (those a
    config wrote)."""
    table, name = part_of(section, path)
    keep = set(_at(BASE_SCHEMA, path)) | set(table.options(name)) | set(explicit) \
        | {_PARTS[tuple(path)][1]}
    if path == ("data",) and name == "mix":   # its entries inherit the keys of their datasets
        for entry in section.get("mix") or []:
            if isinstance(entry, dict) and entry.get("dataset") in table:
                keep |= set(table.options(entry["dataset"]))
    return {k: v for k, v in section.items() if k in keep}


def network(cfg):
    """What defines the network of a validated ``cfg``: its ``model`` section with each
    part section reduced to the options of the part it chooses (:func:`chosen_keys`), so
    two configs that differ only in the options of parts they do not use (an older file
    stores every part's) describe the same network."""
    model = copy.deepcopy(cfg["model"])
    for path, *_ in PART_SECTIONS:
        if path[0] == "model":
            _at(model, path[1:-1])[path[-1]] = chosen_keys(_at(cfg, path), path)
    return model


def data_section(data, dataset):
    """The validated ``data`` section ``data`` made for ``dataset`` (its keys kept, the
    new dataset's filled with their defaults): what a command that scores another
    dataset than the config's uses."""
    if dataset == data.get("dataset"):
        return data
    out = _validate(dict(data, dataset=dataset), schema()["data"], "config", "data.")
    return chosen_keys(out, ("data",), set(data))


def _check_consistency(cfg, where, full):
    """What one key's field cannot say: relations between keys, and each chosen part's
    own check (registered with it)."""
    for path, *_ in PART_SECTIONS:
        _check_part(_at(cfg, path), path, where)
    _check_data(cfg["data"], where, full)
    train = cfg["train"]
    if list(train["schedule"]["milestones"]) != sorted(train["schedule"]["milestones"]):
        raise ConfigError(f"{where}: key 'train.schedule.milestones' must be increasing, "
                          f"got {train['schedule']['milestones']}")


def _check_data(data, where, full, prefix="data"):
    if data["dataset"] != "mix":
        return   # data.mix belongs to the mix dataset: another one ignores it
    if not data.get("mix"):
        raise ConfigError(f"{where}: data.dataset 'mix' needs the datasets it mixes: a "
                          f"non-empty data.mix, each entry with 'dataset' and 'weight'")
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
        part = _mix_part(data, entry, where, name + ".", full)
        _check_part(part, ("data",), where)
        _check_data(part, where, full, name)


def _check_part(section, path, where):
    """The check the chosen part of ``section`` registered (relations between its keys)."""
    table, name = part_of(section, path)
    table.check(name, section, where)


def _mix_part(data, entry, where="config", prefix="data.mix.", full=None):
    base = {k: v for k, v in data.items() if k != "mix"}
    merged = _merge(base, {k: v for k, v in entry.items() if k != "weight"})
    part = chosen_keys(_validate(merged, (full or schema())["data"], where, prefix), ("data",),
                       set(merged))
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
