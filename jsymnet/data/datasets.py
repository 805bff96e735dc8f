"""Paired datasets as ``jittor.dataset.Dataset`` (SPEC sections 5 and 7).

:class:`PairedImageDataset` serves (low, high) pairs as float32 3 x H x W
arrays in [0, 1]. In training mode it takes a random crop and random
vertical flip, horizontal flip and transpose (each p = 0.5), the same for
both images of a pair. The randomness comes from ``(seed, epoch, index)``,
so a run is reproducible whatever the number of workers.

:func:`dataset_pairs` resolves a dataset name (lol, fivek, folder, sample)
and a split to the list of pairs; :func:`build_dataset` wraps it from a config.
:class:`LowLightDataset` (``lowlight``) is the same dataset with one hook
changed: it reads only the target photo and synthesises the input.
"""
from pathlib import Path

import numpy as np
from jittor.dataset import Dataset

from .image_io import image_size, read_image, resize_max_side
from .lowlight import evaluation_input, underexpose
from .pairs import (DatasetNotFoundError, Pair, PairingError, fivek_pairs, folder_pairs,
                    images_by_stem, lol_pairs, natural_key)
from .sample import ensure_sample_set

DATASETS = ("lol", "fivek", "folder", "sample", "lowlight")


def dataset_pairs(name, split="test", root=None, low=None, high=None, data_cfg=None):
    """The list of :class:`~jsymnet.data.pairs.Pair` for a dataset and split.

    ``data_cfg`` is the config's ``data`` section (for the LOL split, FiveK
    train count and sample-set options); defaults are used when it is None.
    """
    from ..config import load_config
    data_cfg = data_cfg or load_config()["data"]
    if name == "folder":
        return folder_pairs(low or data_cfg.get("low"), high or data_cfg.get("high"))
    if name == "sample":
        root = ensure_sample_set(data_cfg["sample_size"], tuple(data_cfg["sample_variants"]))
        return fivek_pairs(root, split)
    root = root or data_cfg.get("root")
    if name not in ("lol", "fivek"):
        raise ValueError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    if root is None:
        from .pairs import LAYOUTS
        raise DatasetNotFoundError(f"no folder given for the {name} dataset: pass --data-root "
                                   f"ROOT (or set data.root in the config)\n{LAYOUTS[name]}")
    if name == "lol":
        return lol_pairs(root, split, data_cfg["lol_split"])
    return fivek_pairs(root, split, data_cfg["fivek_train_count"])


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
    """The same random crop and flips/transpose for both H x W x C images (SPEC 5)."""
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

    def __init__(self, pairs, train=False, crop=None, vflip=True, hflip=True, transpose=True,
                 seed=0, max_side=None, cache=False, batch_size=1, shuffle=None,
                 num_workers=0):
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
        self._shuffle_rng = np.random.default_rng(seed)
        self.set_attrs(total_len=len(self.pairs), batch_size=batch_size,
                       shuffle=train if shuffle is None else shuffle, num_workers=num_workers)

    @property
    def names(self):
        return [p.name for p in self.pairs]

    def num_pairs(self):
        """How many pairs (``len()`` of a Jittor dataset counts batches)."""
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
    fixed input of each photo at exposure ``test_ev`` (seeded by its name).
    """

    def __init__(self, pairs, test_ev=-2.0, **kwargs):
        super().__init__(pairs, **kwargs)
        self.test_ev = test_ev

    def _read(self, index):
        return resize_max_side(read_image(self.pairs[index].high), self.max_side)

    def pair(self, index):
        high = self.load(index)
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch_id, index])
            high = augment_pair(high, high, rng, self.crop, *self.flips)[0]
            return underexpose(high, rng)[0], high
        return evaluation_input(high, self.pairs[index].name, self.test_ev, self.seed), high


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
    """A paired dataset from a validated config (``data`` and ``train`` sections)."""
    data = cfg["data"]
    train = split == "train"
    opts = dict(train=train, crop=data["crop"], vflip=data["vflip"], hflip=data["hflip"],
                transpose=data["transpose"], seed=cfg["train"]["seed"],
                max_side=None if train else data["eval_max_side"],
                batch_size=cfg["train"]["batch_size"] if train else 1,
                num_workers=data["num_workers"])
    if data["dataset"] == "lowlight":
        cls, opts["test_ev"] = LowLightDataset, data["lowlight_test_ev"]
        pairs = lowlight_targets(root or data["root"],
                                 data["lowlight_train" if train else "lowlight_test"])
    else:
        cls, pairs = PairedImageDataset, dataset_pairs(data["dataset"], split, root, low, high,
                                                       data)
    opts.update(kwargs)
    return cls(pairs, **opts)


__all__ = ["DATASETS", "LowLightDataset", "PairedImageDataset", "augment_pair", "build_dataset",
           "check_pair_sizes", "dataset_pairs", "lowlight_targets", "read_pair"]
