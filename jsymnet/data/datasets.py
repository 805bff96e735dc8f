"""Paired datasets as ``jittor.dataset.Dataset`` (docs/design.md#datasets).

:class:`PairedImageDataset` serves (low, high) pairs as float32 3 x H x W
arrays in [0, 1]. In training mode it takes a random crop and random
vertical flip, horizontal flip and transpose (each p = 0.5), the same for
both images of a pair. The randomness comes from ``(seed, epoch, index)``,
so a sample is the same whichever process or order asks for it (a resumed or
an MPI run sees the same pairs). Batches are formed by the trainer
(:class:`jsymnet.engine.schedule.BatchOrder`), not by Jittor's loader.

:data:`~jsymnet.registry.DATASETS` holds the dataset names (lol, fivek, folder,
sample, lowlight, brackets, mix): each entry lists its pairs for a split, names the
class that serves them and declares its own ``data`` keys. :func:`dataset_pairs`
resolves a name and a split to the list of pairs; :func:`build_dataset` wraps it
from a config. A new dataset is one :func:`register_dataset`, in this module or in
any module of this folder or of your own: the config's keys and choices and
``tools/test.py --dataset`` read the registry.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from jittor.dataset import Dataset

from .brackets import bracket_pairs
from .image_io import image_size, read_image, resize_max_side
from .lowlight import LowLightRanges, evaluation_input, underexpose
from .pairs import (DatasetNotFoundError, Pair, PairingError, fivek_pairs, folder_pairs,
                    held_out, images_by_stem, lol_pairs, natural_key)
from .sample import ensure_sample_set
from ..config import ConfigError, Field
from ..registry import DATASETS


@dataclass(frozen=True)
class DatasetKind:
    """What a dataset name means: how to list its pairs, and which class serves them.

    ``list_pairs(split, data)`` returns the split's list of
    :class:`~jsymnet.data.pairs.Pair`; ``data`` is the config's ``data`` section
    with the command line's folders in it (:func:`with_folders`). ``cls`` wraps
    the pairs, with ``keywords``: each a keyword of ``cls`` -> the key of ``data``
    that gives its value.
    """
    list_pairs: Callable
    cls: type
    keywords: dict = field(default_factory=dict)
    holds_out: bool = False    # list_pairs applies data.val_fraction itself (by scene, by part)

    @property
    def file_pairs(self):
        """True when each pair is two image files (what ``tools/test.py`` scores);
        False when ``cls`` synthesises the inputs."""
        return not self.cls.synthesises_input


def register_dataset(name, cls=None, holds_out=False, options=None, check=None, **keywords):
    """``@register_dataset(name, cls, options={key: Field}, keyword="data_key")`` on a
    ``list_pairs(split, data)`` function (see :class:`DatasetKind`) adds dataset
    ``name``. ``options``: the ``data`` keys it reads, declared here (they join the
    config schema); ``check(data, where)``: relations between them; ``cls`` defaults to
    :class:`PairedImageDataset`."""
    def deco(list_pairs):
        DATASETS.register(name, DatasetKind(list_pairs, cls or PairedImageDataset, keywords,
                                            holds_out), options=options, check=check)
        return list_pairs
    return deco


def with_folders(data, root=None, low=None, high=None):
    """``data`` with the command line's folders in place of the config's: ``root``
    (``--data-root``) and a ``--low`` / ``--high`` pair, which then serves the test split
    too (the config's ``val_low`` / ``val_high`` are set aside)."""
    out = dict(data)
    if root:
        out["root"] = root
    if low or high:
        out.update(low=low or out.get("low"), high=high or out.get("high"),
                   val_low=None, val_high=None)
    return out


HOLDOUT_SEED = 0   # the held-out rule's seed: the same split whatever train.seed is


def split_pairs(kind, split, data):
    """``kind.list_pairs`` with ``data.val_fraction`` applied: a pair is on the test side
    when :func:`~jsymnet.data.pairs.held_out` says so of its name (of the photo, for
    synthesised inputs), on the train side otherwise."""
    pairs = kind.list_pairs(split, data)
    fraction = data.get("val_fraction")
    if kind.holds_out or not fraction or split == "all":
        return pairs
    want_test = split == "test"
    return [p for p in pairs if held_out(p.name, fraction, HOLDOUT_SEED) == want_test]


def file_pair_datasets():
    """Names of the datasets whose pairs are image files on both sides (``tools/test.py``)."""
    return [name for name, kind in DATASETS.items() if kind.file_pairs]


def dataset_pairs(name, split="test", root=None, low=None, high=None, data_cfg=None):
    """The list of :class:`~jsymnet.data.pairs.Pair` for a dataset and split.

    ``data_cfg`` is the config's ``data`` section (for the LOL split, FiveK
    train count and sample-set options); defaults are used when it is None.
    An unknown ``name`` is a :class:`~jsymnet.registry.RegistryError` (also a
    ``ValueError``) that lists the known ones.
    """
    from ..config import data_section, load_config
    kind = DATASETS.get(name)
    data_cfg = data_section(data_cfg or load_config()["data"], name)
    return split_pairs(kind, split, with_folders(data_cfg, root, low, high))


def _size_mismatch(pair, low_size, high_size):
    return (f"pair {pair.name}: {pair.low} is {low_size[0]}x{low_size[1]} but {pair.high} is "
            f"{high_size[0]}x{high_size[1]}")


def check_pair_sizes(pairs):
    """Refuse, from the headers and before any work, pairs whose two images differ in size."""
    bad = []
    for pair in pairs:
        low, high = image_size(pair.low), image_size(pair.high)
        if low is not None and high is not None and low != high:
            bad.append(_size_mismatch(pair, low, high))
    if bad:
        more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise PairingError(f"{len(bad)} pair(s) whose low and high images differ in size (a "
                           f"pair must be one scene at one size; fix or remove them):\n  "
                           + "\n  ".join(bad[:10]) + more)


def read_pair(pair, max_side=None):
    """(low, high) RGB float32 H x W x 3 of a pair; sizes must agree."""
    low, high = read_image(pair.low), read_image(pair.high)
    if low.shape != high.shape:
        raise PairingError(_size_mismatch(pair, low.shape[1::-1], high.shape[1::-1])
                           + "; a pair must have one size")
    return resize_max_side(low, max_side), resize_max_side(high, max_side)


def augment_pair(low, high, rng, crop=None, vflip=True, hflip=True, transpose=True):
    """The same random crop and flips/transpose for both H x W x C images
    (docs/design.md#training)."""
    if crop:
        h, w = low.shape[:2]
        if h < crop or w < crop:
            raise ValueError(f"image {w}x{h} is smaller than the training crop {crop}; lower "
                             f"data.crop in the config")
        top = int(rng.integers(0, h - crop + 1))
        left = int(rng.integers(0, w - crop + 1))
        low = low[top:top + crop, left:left + crop]
        high = high[top:top + crop, left:left + crop]
    if vflip and rng.random() < 0.5:
        low, high = low[::-1], high[::-1]
    if hflip and rng.random() < 0.5:
        low, high = low[:, ::-1], high[:, ::-1]
    if transpose and rng.random() < 0.5:
        low, high = low.transpose(1, 0, 2), high.transpose(1, 0, 2)
    return np.ascontiguousarray(low), np.ascontiguousarray(high)


class PairedImageDataset(Dataset):
    """(low, high) pairs as float32 3 x H x W; ``train=True`` adds crop and flips.

    ``pairs`` is a list of :class:`~jsymnet.data.pairs.Pair`. Images are read
    on demand (``cache=True`` keeps them in memory after the first read).
    """
    synthesises_input = False   # each pair's input is its ``low`` file

    def __init__(self, pairs, train=False, crop=None, vflip=True, hflip=True, transpose=True,
                 seed=0, max_side=None, cache=False):
        super().__init__()
        if not pairs:
            raise ValueError("a dataset needs at least one pair")
        self.pairs = list(pairs)
        self.train = train
        self.crop = crop if train else None
        self.flips = (vflip, hflip, transpose) if train else (False, False, False)
        self.seed = seed
        self.max_side = max_side
        self._cache = {} if cache else None
        self.set_attrs(total_len=len(self.pairs))

    @property
    def names(self):
        return [p.name for p in self.pairs]

    def num_pairs(self):
        """How many pairs."""
        return len(self.pairs)

    def __len__(self):   # pairs, not Jittor's batches: the trainer forms the batches
        return len(self.pairs)

    def _read(self, index):
        return read_pair(self.pairs[index], self.max_side)

    def load(self, index):
        """What is read from disk for item ``index`` (here the (low, high) H x W x 3 float32
        pair), before augmentation; kept in memory with ``cache=True``."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        item = self._read(index)
        if self._cache is not None:
            self._cache[index] = item
        return item

    def pair(self, index):
        """(low, high) H x W x 3 float32 of item ``index``, augmented when training."""
        low, high = self.load(index)
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch_id, index])
            low, high = augment_pair(low, high, rng, self.crop, *self.flips)
        return low, high

    def __getitem__(self, index):
        low, high = self.pair(index)
        return low.transpose(2, 0, 1).copy(), high.transpose(2, 0, 1).copy()


class LowLightDataset(PairedImageDataset):
    """Well-exposed photos as targets, their inputs synthesised by :mod:`.lowlight`.

    ``pairs`` are :class:`~jsymnet.data.pairs.Pair` whose ``low`` and ``high``
    are the same photo (:func:`lowlight_targets`); only that photo is read.
    Training (``train=True``): each item is a random crop and flip of a photo
    and a fresh random low-light capture of that crop, both drawn from
    ``(seed, epoch, index)``, so that 300 photos give a new pair every time
    and a resumed run sees exactly the pairs it would have seen. Testing: the
    fixed input of each photo at exposure ``test_ev`` (seeded by its name); with a list of
    exposures, photo ``i`` is tested at ``test_ev[i % len(test_ev)]``, so that a short
    validation covers every exposure the model is trained for.
    """
    synthesises_input = True

    def __init__(self, pairs, test_ev=-2.0, identity=0.1, highlights=0.0, **kwargs):
        super().__init__(pairs, **kwargs)
        self.test_ev = test_ev
        self.ranges = LowLightRanges(identity=identity, highlights=highlights)

    def _read(self, index):
        return resize_max_side(read_image(self.pairs[index].high), self.max_side)

    def pair(self, index):
        high = self.load(index)
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch_id, index])
            high = augment_pair(high, high, rng, self.crop, *self.flips)[0]
            return underexpose(high, rng, self.ranges)[0], high
        ev = self.test_ev[index % len(self.test_ev)] if isinstance(self.test_ev, (list, tuple)) \
            else self.test_ev
        return evaluation_input(high, self.pairs[index].name, float(ev), self.seed,
                                self.ranges), high


IDENTITY_STREAM = 0x1D     # keeps the identity draw apart from the crop and flip draws
MIX_STREAM = 0x4D49


class BracketsDataset(PairedImageDataset):
    """Real bracket pairs (:mod:`.brackets`): (darker frame, the bracket's target).

    Frames are shared by many pairs (one target serves every darker frame of its
    bracket), so ``cache=True`` keeps each decoded *file* once, as 8-bit. With
    ``identity`` > 0, that share of training items is the target paired with itself,
    drawn from ``(seed, epoch, index)`` like the crops.
    """

    def __init__(self, pairs, identity=0.0, **kwargs):
        super().__init__(pairs, **kwargs)
        self.identity = identity
        self._files = {} if self._cache is not None else None
        self._cache = None

    def _file(self, path):
        if self._files is not None and path in self._files:
            img = self._files[path]
        else:
            img = np.round(resize_max_side(read_image(path), self.max_side) * 255).astype(np.uint8)
            if self._files is not None:
                self._files[path] = img
        return img.astype(np.float32) / 255.0

    def _read(self, index):
        pair = self.pairs[index]
        low, high = self._file(pair.low), self._file(pair.high)
        if low.shape != high.shape:
            raise PairingError(_size_mismatch(pair, low.shape[1::-1], high.shape[1::-1]))
        return low, high

    def pair(self, index):
        low, high = super().pair(index)
        if self.train and self.identity:
            rng = np.random.default_rng([self.seed, self.epoch_id, index, IDENTITY_STREAM])
            if rng.random() < self.identity:
                low = high
        return low, high


class MixDataset:
    """Several datasets drawn from by weight: the default model's real + synthetic mix.

    Training: item ``i`` of epoch ``e`` picks part ``c`` with probability ``weight_c``
    and a uniform item of it, from ``(seed, e, i)``; the part augments that item as its
    epoch ``e * len + i``, so every draw is fresh and a pure function of (seed, epoch,
    index): resume stays exact. An epoch is the parts' pair counts added up. Testing:
    every part's test items, interleaved part by part, so that a ``val_limit`` covers all.
    """
    synthesises_input = True   # not a folder of file pairs for tools/test.py

    def __init__(self, parts, train=False, seed=0):
        self.parts = [d for _, d in parts]
        weights = np.asarray([w for w, _ in parts], np.float64)
        self.weights = weights / weights.sum()
        self.train, self.seed, self.epoch_id = train, seed, 0
        sizes = [d.num_pairs() for d in self.parts]
        self.length = int(sum(sizes))
        if not train:  # round-robin over the parts' test items
            self.order = [(c, k) for k in range(max(sizes)) for c, n in enumerate(sizes)
                          if k < n]

    @property
    def pairs(self):
        return [p for d in self.parts for p in d.pairs]

    @property
    def names(self):
        if self.train:
            return [p.name for p in self.pairs]
        return [self.parts[c].names[j] for c, j in self.order]

    def num_pairs(self):
        return self.length

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        if not self.train:
            c, j = self.order[index]
            return self.parts[c][j]
        rng = np.random.default_rng([self.seed, self.epoch_id, index, MIX_STREAM])
        c = int(rng.choice(len(self.parts), p=self.weights))
        part = self.parts[c]
        j = int(rng.integers(part.num_pairs()))
        part.epoch_id = self.epoch_id * self.length + index
        return part[j]


def lowlight_targets(root, folders):
    """A :class:`Pair` (low = high = the photo) named ``<folder>/<stem>`` for each photo in
    ``root/<folder>``, folder by folder, sorted by name."""
    if root is None:
        raise DatasetNotFoundError("no folder given for the lowlight dataset: pass --data-root "
                                   "ROOT (or set data.root in the config); ROOT holds one "
                                   "folder of well-exposed photos per split name in "
                                   "data.lowlight_train / data.lowlight_test")
    out = []
    for folder in folders:
        photos = images_by_stem(Path(root) / folder)
        out += [Pair(f"{folder}/{n}", photos[n], photos[n])
                for n in sorted(photos, key=natural_key)]
    return out


def build_dataset(cfg, split="train", root=None, low=None, high=None, **kwargs):
    """A paired dataset from a validated config (``data`` and ``train`` sections): the
    registered class of ``data.dataset`` (see :data:`DATASETS`) over its pairs."""
    data = cfg["data"]
    kind = DATASETS.get(data["dataset"])
    train = split == "train"
    if data["dataset"] == "mix":
        from ..config import mix_parts
        parts = [(w, build_dataset({**cfg, "data": part}, split, **kwargs))
                 for w, part in mix_parts(data)]
        return MixDataset(parts, train=train, seed=cfg["train"]["seed"])
    opts = dict(train=train, crop=data["crop"], vflip=data["vflip"], hflip=data["hflip"],
                transpose=data["transpose"], seed=cfg["train"]["seed"],
                max_side=None if train else data["eval_max_side"])
    opts.update({keyword: data[key] for keyword, key in kind.keywords.items()})
    opts.update(kwargs)
    return kind.cls(split_pairs(kind, split, with_folders(data, root, low, high)), **opts)


# ---- the datasets: list_pairs(split, data) each, and the data keys each reads --------

def _dataset_root(name, data):
    """The folder of dataset ``name``: data.root (--data-root, else the config's)."""
    root = data.get("root")
    if root is None:
        from .pairs import LAYOUTS
        raise DatasetNotFoundError(f"no folder given for the {name} dataset: pass --data-root "
                                   f"ROOT (or set data.root in the config)\n{LAYOUTS[name]}")
    return root


@register_dataset("lol", options={
    "lol_split": Field("standard", choices=("standard", "paper"),
                       doc="standard: our485/eval15; paper: 400/100 of all 500 by name")})
def _lol_pairs(split, data):
    return lol_pairs(_dataset_root("lol", data), split, data["lol_split"])


@register_dataset("fivek", options={
    "fivek_train_count": Field(4500, low=1,
                               doc="flat FiveK layout: first N by name train, rest test")})
def _fivek_pairs(split, data):
    return fivek_pairs(_dataset_root("fivek", data), split, data["fivek_train_count"])


def _folder(doc):
    return Field(None, types=(str,), optional=True, doc=doc)


@register_dataset("folder", options={
    "low": _folder("folder dataset: low-light images"),
    "high": _folder("folder dataset: target images"),
    "val_low": _folder("folder dataset: low-light images of the validation pairs"),
    "val_high": _folder("folder dataset: targets of the validation pairs")})
def _folder_pairs(split, data):
    """The low/high pairs; the test split is data.val_low/val_high where given."""
    if split == "test" and data.get("val_low"):
        return folder_pairs(data["val_low"], data.get("val_high"))
    return folder_pairs(data.get("low"), data.get("high"))


def _check_sample(data, where):
    if len(data["sample_variants"]) != 2 or min(data["sample_variants"]) < 1:
        raise ConfigError(f"{where}: key 'data.sample_variants' must hold two counts >= 1 "
                          f"(per train photo, per test photo)")


@register_dataset("sample", check=_check_sample, options={
    "sample_size": Field(320, low=1, doc="sample set: long side of the photos, pixels"),
    "sample_variants": Field([4, 2], types=(list,),
                             doc="sample set: distorted inputs per train / test photo")})
def _sample_pairs(split, data):
    root = ensure_sample_set(data["sample_size"], tuple(data["sample_variants"]))
    return fivek_pairs(root, split)


@register_dataset("lowlight", LowLightDataset, test_ev="lowlight_test_ev",
                  identity="lowlight_identity", highlights="lowlight_highlights", options={
    "lowlight_train": Field(["train"], types=(list,),
                            doc="lowlight dataset: folders under data.root to train on"),
    "lowlight_test": Field(["test"], types=(list,),
                           doc="lowlight dataset: folders under data.root to test on"),
    "lowlight_test_ev": Field(-2.0, types=(float, list),
                              doc="lowlight dataset: exposure change of the test inputs; a "
                                  "list: test photo i at the (i mod length)-th of them"),
    "lowlight_identity": Field(0.1, types=(float,), low=0.0, high=1.0,
                               doc="lowlight dataset: share of training pairs left unchanged "
                                   "(a photo that needs nothing must come out as it went in)"),
    "lowlight_highlights": Field(0.0, types=(float,), low=0.0, high=1.0,
                                 doc="lowlight dataset: share of the synthesised inputs whose "
                                     "brightest parts keep their light (lamps, windows: "
                                     "jsymnet.data.lowlight); 0: off")})
def _lowlight_pairs(split, data):
    folders = {"train": data["lowlight_train"], "test": data["lowlight_test"],
               "all": list(data["lowlight_train"]) + list(data["lowlight_test"])}
    if split not in folders:
        raise ValueError(f"split must be train, test or all, got {split!r}")
    return lowlight_targets(data.get("root"), folders[split])


@register_dataset("brackets", BracketsDataset, holds_out=True, identity="brackets_identity",
                  options={
    "brackets_identity": Field(0.0, types=(float,), low=0.0, high=1.0,
                               doc="brackets dataset: share of training pairs that are a "
                                   "bracket's target paired with itself")})
def _brackets_pairs(split, data):
    fraction = 0.2 if data.get("val_fraction") is None else data["val_fraction"]
    return bracket_pairs(_dataset_root("brackets", data), split, fraction, HOLDOUT_SEED)


@register_dataset("mix", MixDataset, holds_out=True, options={   # each part holds out its own
    "mix": Field([], types=(list,),
                 doc="mix dataset: a list of data sections, each with a 'weight' (its share "
                     "of the training pairs) and the keys of its own dataset")})
def _mix_pairs(split, data):
    from ..config import mix_parts
    return [p for _, part in mix_parts(data) for p in dataset_pairs(part["dataset"], split,
                                                                    data_cfg=part)]


__all__ = ["BracketsDataset", "DATASETS", "DatasetKind", "LowLightDataset", "MixDataset",
           "PairedImageDataset", "augment_pair", "build_dataset", "check_pair_sizes", "dataset_pairs", "file_pair_datasets",
           "lowlight_targets", "read_pair", "register_dataset", "with_folders"]
