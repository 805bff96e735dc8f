"""The embedded sample set: offline pairs from photos that ship with scikit-image.

The scikit-image wheel bundles a few colour photographs in
``skimage/data/`` (no download: they are files in the installed package,
unlike the ones its ``skimage.data`` fetches with pooch). jsymnet downscales
them to ``data.sample_size`` on the long side and synthesises underexposed
inputs with :mod:`jsymnet.data.synthesis`, several variants per photo.

The split is by photo, fixed, so no scene is in both: the two motorcycle
views (a stereo pair) and astronaut, rocket train; chelsea and coffee test.

Pairs are cached in ``$JSYMNET_CACHE`` (default ``~/.cache/jsymnet``) under
a folder named after the synthesis version and size, in the FiveK
train/test layout, built in a temporary folder and renamed into place; a
missing or incomplete cache is rebuilt.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

from .image_io import read_image, resize_max_side
from .make_pairs import write_pair
from .synthesis import SYNTHESIS_VERSION

SAMPLE_TRAIN = ("astronaut.png", "motorcycle_left.png", "motorcycle_right.png", "rocket.jpg")
SAMPLE_TEST = ("chelsea.png", "coffee.png")
SAMPLE_SEED = 0
CACHE_ENV = "JSYMNET_CACHE"


def skimage_data_dir():
    """The folder of photos inside the installed scikit-image package."""
    try:
        import skimage
    except ImportError:
        raise ImportError("the sample set needs scikit-image: pip install scikit-image") from None
    return Path(skimage.__file__).parent / "data"


def cache_root():
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "jsymnet")


def sample_dir(size, variants):
    return cache_root() / f"sample-v{SYNTHESIS_VERSION}-{size}px-{variants[0]}x{variants[1]}"


def _manifest(size, variants):
    return {"synthesis_version": SYNTHESIS_VERSION, "size": size, "variants": list(variants),
            "seed": SAMPLE_SEED, "train": list(SAMPLE_TRAIN), "test": list(SAMPLE_TEST)}


def _complete(folder, size, variants):
    try:
        info = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if {k: info.get(k) for k in _manifest(size, variants)} != _manifest(size, variants):
        return False
    return all(Path(folder / rel).is_file() for rel in info.get("files", [])) and \
        bool(info.get("files"))


def build_sample_set(out_dir, size=320, variants=(4, 2)):
    """Write the sample pairs into ``out_dir/{train,test}/{input,expertC}``; returns the file list.

    ``variants`` = (distorted inputs per training photo, per test photo).
    """
    src = skimage_data_dir()
    out_dir = Path(out_dir)
    files, log = [], []
    for split, photos, n in (("train", SAMPLE_TRAIN, variants[0]), ("test", SAMPLE_TEST,
                                                                     variants[1])):
        for photo in photos:
            path = src / photo
            if not path.is_file():
                raise FileNotFoundError(f"scikit-image's bundled photo {path} is missing; "
                                        f"reinstall scikit-image")
            target = resize_max_side(read_image(path), size)
            for k in range(n):
                rels, line = write_pair(out_dir, split, f"{Path(photo).stem}_{k}", target,
                                        SAMPLE_SEED)
                files += rels
                log.append(line)
    (out_dir / "operators.txt").write_text("\n".join(log) + "\n")
    info = dict(_manifest(size, variants), files=files)
    (out_dir / "manifest.json").write_text(json.dumps(info, indent=1))
    return files


def ensure_sample_set(size=320, variants=(4, 2)):
    """The cached sample set folder, built (atomically) if missing or incomplete."""
    folder = sample_dir(size, variants)
    if _complete(folder, size, variants):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        build_sample_set(tmp, size, variants)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not _complete(folder, size, variants):  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
