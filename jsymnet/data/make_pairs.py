"""Build a FiveK-style train/test pair folder from a folder of target photos
(docs/design.md#datasets).

Used by ``tools/make_pairs.py``. Each target gets an underexposed input from
:func:`jsymnet.data.synthesis.distort` (seeded by its file stem), so rerunning
on the same photos rebuilds the same pairs. Images are written as PNG.
"""
import math
from pathlib import Path

from .image_io import read_image, resize_max_side, write_image
from .pairs import images_by_stem, natural_key
from .synthesis import describe_operators, distort
from ..utils.fileio import atomic_write_text


def split_names(names, test_count=None, test_fraction=0.1):
    """(train, test) of names sorted naturally; the last ones are test."""
    names = sorted(names, key=natural_key)
    if test_count is None:
        if not 0.0 <= test_fraction < 1.0:
            raise ValueError(f"test fraction must be in [0, 1), got {test_fraction}")
        test_count = math.ceil(len(names) * test_fraction) if test_fraction else 0
    if not 0 <= test_count < len(names):
        raise ValueError(f"test count {test_count} must be less than the {len(names)} photos")
    cut = len(names) - test_count
    return names[:cut], names[cut:]


def write_pair(out_dir, split, name, target, seed=0):
    """Synthesise the input of ``target`` (seeded by ``name``) and write both images as
    ``out_dir/split/{input,expertC}/<name>.png``; returns (their relative paths, the
    operators line for ``operators.txt``)."""
    low, ops = distort(target, name, seed=seed)
    rels = []
    for side, img in (("input", low), ("expertC", target)):
        rel = f"{split}/{side}/{name}.png"
        write_image(Path(out_dir) / rel, img)
        rels.append(rel)
    return rels, f"{split}/{name}: {describe_operators(ops)}"


def make_pairs(targets_dir, out_dir, test_count=None, test_fraction=0.1, max_side=None,
               seed=0, progress=True):
    """Write ``out_dir/{train,test}/{input,expertC}/<stem>.png``; returns the counts."""
    from tqdm import tqdm
    photos = images_by_stem(targets_dir, "fivek")
    train, test = split_names(photos, test_count, test_fraction)
    out_dir = Path(out_dir)
    log = []
    jobs = [("train", n) for n in train] + [("test", n) for n in test]
    for split, name in tqdm(jobs, desc="synthesise", unit="img", disable=not progress):
        target = resize_max_side(read_image(photos[name]), max_side)
        log.append(write_pair(out_dir, split, name, target, seed)[1])
    atomic_write_text(out_dir / "operators.txt", "\n".join(log) + "\n")
    return {"train": len(train), "test": len(test)}
