"""Finding (low, high) image pairs on disk: the dataset layouts of docs/design.md#datasets.

Pairs are matched by file stem (``12.png`` pairs with ``12.jpg``). A stem in one
folder and not the other, or a stem that appears twice in one folder, is an
error that lists the offending names. A folder that is not there is a
:class:`DatasetNotFoundError` whose message shows the expected layout and
where the data comes from.
"""
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import JsymnetError
from .image_io import is_image_file

LOL_URL = "https://daooshee.github.io/BMVC2018website/ (LOL, Wei et al. 2018)"
FIVEK_URL = ("https://data.csail.mit.edu/graphics/fivek/ (MIT-Adobe FiveK, Expert C targets); "
             "the paper's distorted inputs: https://sites.google.com/view/distort-and-recover/")
# Folder names accepted for the two sides of a FiveK-style pair folder.
FIVEK_INPUT_NAMES = ("input", "low", "distorted")
FIVEK_TARGET_NAMES = ("expertC", "expert_c", "ExpertC", "target", "high", "gt")
MAX_LISTED = 20
LOL_PAPER_TRAIN = 400   # paper: 400 train / 100 test of LOL's 500 pairs (split not published)

LAYOUTS = {
    "lol": (
        "LOL layout (--data-root ROOT):\n"
        "  ROOT/our485/low/*.png   ROOT/our485/high/*.png   485 training pairs\n"
        "  ROOT/eval15/low/*.png   ROOT/eval15/high/*.png   15 test pairs\n"
        "With data.lol_split: paper, all 500 pairs are pooled and sorted by name:\n"
        "first 400 train, last 100 test.\n"
        f"Get it from {LOL_URL}."),
    "fivek": (
        "FiveK layout (--data-root ROOT), either\n"
        "  ROOT/input/*.jpg  ROOT/expertC/*.jpg          all 5000 pairs; sorted by name,\n"
        "                                                  first 4500 train, the rest test\n"
        "or an explicit split, as tools/make_pairs.py writes it:\n"
        "  ROOT/train/input/  ROOT/train/expertC/  ROOT/test/input/  ROOT/test/expertC/\n"
        f"(input folder names accepted: {', '.join(FIVEK_INPUT_NAMES)}; target: "
        f"{', '.join(FIVEK_TARGET_NAMES)}).\n"
        f"Get it from {FIVEK_URL},\n"
        "or synthesise inputs from any folder of good photos:\n"
        "  python tools/make_pairs.py --targets PHOTOS_DIR --out ROOT"),
    "brackets": (
        "Brackets layout (--data-root ROOT): ROOT/*.jpg, frames sorted by name, in which\n"
        "consecutive frames are exposure brackets of one tripod scene (SICE part 1, as\n"
        "DATA_ROOT/sice_brackets holds it). The brackets, their targets and the\n"
        "held-out scenes are found by the rules of jsymnet/data/brackets.py."),
    "folder": (
        "Folder pair layout: --low DIR --high DIR, two folders of images whose file\n"
        "stems match (low/12.png pairs with high/12.png or high/12.jpg)."),
}


class DatasetNotFoundError(JsymnetError, FileNotFoundError):
    """A dataset folder is missing; the message shows the expected layout."""


class PairingError(JsymnetError, ValueError):
    """The low and high folders do not pair up; the message lists the names."""


@dataclass(frozen=True)
class Pair:
    name: str
    low: Path
    high: Path


def natural_key(text):
    """Sort key that orders digits by value: ``2 < 10``, ``a0999 < a1000``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


def held_out(key, fraction, seed=0):
    """True when the item named ``key`` (a photo's or a scene's name) belongs to the held-out
    ``fraction``: a name-stable rule (SHA-256 of seed and name), so that adding or removing
    other items never moves an item across the split."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"a held-out fraction is in [0, 1), got {fraction}")
    digest = hashlib.sha256(f"jsymnet-holdout:{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2.0 ** 64 < fraction


def _listing(names):
    names = sorted(names, key=natural_key)
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" ... ({len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else "")


def _not_found(path, kind, what):
    return DatasetNotFoundError(f"{what} not found: {path}\n{LAYOUTS[kind]}")


def images_by_stem(folder, kind="folder"):
    """{stem: path} of the image files in ``folder``; a repeated stem is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise _not_found(folder, kind, "image folder")
    found, dupes = {}, set()
    for path in sorted(folder.iterdir()):
        if is_image_file(path):
            if path.stem in found:
                dupes.add(path.stem)
            found[path.stem] = path
    if dupes:
        raise PairingError(f"{folder}: several files share a name and differ only in "
                           f"extension: {_listing(dupes)}; keep one of each")
    if not found:
        raise _not_found(folder, kind, "no images in folder; images")
    return found


def match_pairs(low_dir, high_dir, kind="folder"):
    """Sorted list of :class:`Pair` from two folders matched by file stem."""
    low = images_by_stem(low_dir, kind)
    high = images_by_stem(high_dir, kind)
    only_low = set(low) - set(high)
    only_high = set(high) - set(low)
    if only_low or only_high:
        parts = []
        if only_low:
            parts.append(f"{len(only_low)} in {low_dir} have no match in {high_dir}: "
                         f"{_listing(only_low)}")
        if only_high:
            parts.append(f"{len(only_high)} in {high_dir} have no match in {low_dir}: "
                         f"{_listing(only_high)}")
        raise PairingError("low/high images do not pair up by name; " + "; ".join(parts))
    return [Pair(s, low[s], high[s]) for s in sorted(low, key=natural_key)]


def _first_existing(root, names):
    for name in names:
        if (Path(root) / name).is_dir():
            return Path(root) / name
    return None


def _fivek_side_dirs(root):
    return _first_existing(root, FIVEK_INPUT_NAMES), _first_existing(root, FIVEK_TARGET_NAMES)


def lol_pairs(root, split="test", lol_split="standard"):
    """LOL pairs: standard our485/eval15, or the paper's 400/100 split of all 500."""
    root = Path(root)
    if not root.is_dir():
        raise _not_found(root, "lol", "LOL dataset folder")
    if lol_split not in ("standard", "paper"):
        raise ValueError(f"lol_split must be 'standard' or 'paper', got {lol_split!r}")
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be train, test or all, got {split!r}")
    subsets = {"train": ["our485"], "test": ["eval15"], "all": ["our485", "eval15"]}
    if lol_split == "paper":
        subsets = {s: ["our485", "eval15"] for s in subsets}
    pairs = []
    for sub in subsets[split]:
        if not (root / sub / "low").is_dir() or not (root / sub / "high").is_dir():
            raise _not_found(root / sub, "lol", "LOL subset folder (with low/ and high/)")
        pairs += match_pairs(root / sub / "low", root / sub / "high", "lol")
    names = [p.name for p in pairs]
    if len(set(names)) != len(names):
        raise PairingError(f"{root}: the same image name appears in our485 and eval15")
    if lol_split == "paper":
        pairs = sorted(pairs, key=lambda p: natural_key(p.name))
        n_train = LOL_PAPER_TRAIN
        if len(pairs) < n_train + 1:
            raise PairingError(f"{root}: the paper split needs the 500 LOL pairs, found "
                               f"{len(pairs)}")
        pairs = {"train": pairs[:n_train], "test": pairs[n_train:], "all": pairs}[split]
    return pairs


def fivek_pairs(root, split="test", train_count=4500):
    """FiveK-style pairs: flat input/expertC folders split by sorted name, or train/ and test/."""
    root = Path(root)
    if not root.is_dir():
        raise _not_found(root, "fivek", "FiveK dataset folder")
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be train, test or all, got {split!r}")
    low_dir, high_dir = _fivek_side_dirs(root)
    if low_dir is not None and high_dir is not None:
        pairs = match_pairs(low_dir, high_dir, "fivek")
        if split == "all":
            return pairs
        if len(pairs) <= train_count:
            raise PairingError(
                f"{root}: the flat FiveK layout is split by name into the first {train_count} "
                f"(train) and the rest (test), but it holds only {len(pairs)} pairs; use "
                f"ROOT/train/... and ROOT/test/... folders for a smaller set\n{LAYOUTS['fivek']}")
        return pairs[:train_count] if split == "train" else pairs[train_count:]
    subs = ["train", "test"] if split == "all" else [split]
    pairs = []
    for sub in subs:
        low_dir, high_dir = _fivek_side_dirs(root / sub)
        if low_dir is None or high_dir is None:
            raise _not_found(root / sub, "fivek",
                             "FiveK input and target folders (input/ and expertC/)")
        pairs += match_pairs(low_dir, high_dir, "fivek")
    return pairs


def folder_pairs(low, high):
    """Pairs from any two folders (``--low DIR --high DIR``)."""
    if low is None or high is None:
        raise DatasetNotFoundError("the folder dataset needs both --low DIR and --high DIR\n"
                                   + LAYOUTS["folder"])
    return match_pairs(low, high, "folder")
