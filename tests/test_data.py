"""Image I/O, pairing and layouts, augmentation, input synthesis and the sample set."""
import os
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from jsymnet.data import (DatasetNotFoundError, ImageReadError, PairedImageDataset,
                          PairingError, augment_pair, dataset_pairs, distort, fivek_pairs,
                          lol_pairs, match_pairs, read_image, write_image)
from jsymnet.data import sample as sample_mod
from jsymnet.data.make_pairs import make_pairs
from jsymnet.data.synthesis import DEFAULT_RANGES, name_seed


def rand_rgb(h=6, w=9, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)


def save_png(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


# ---- reading and writing -------------------------------------------------------------

def test_rgb_png_round_trip(tmp_path):
    rgb = rand_rgb()
    img = read_image(save_png(tmp_path / "a.png", rgb))
    assert img.dtype == np.float32 and img.shape == (6, 9, 3)
    assert np.array_equal(np.round(img * 255).astype(np.uint8), rgb)
    write_image(tmp_path / "b.png", img)
    assert np.array_equal(np.array(Image.open(tmp_path / "b.png")), rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temp files


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = rand_rgb()[..., 0]
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png")
    assert img.shape == (6, 9, 3)
    assert np.array_equal(img[..., 0], img[..., 2])
    assert np.allclose(img[..., 1], gray / 255.0, atol=1e-7)


def test_16bit_gray_and_rgb_keep_their_precision(tmp_path):
    rng = np.random.default_rng(1)
    rgb16 = rng.integers(0, 65536, (5, 7, 3)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[..., ::-1])  # OpenCV writes BGR
    img = read_image(tmp_path / "c16.png")
    assert np.allclose(img, rgb16 / 65535.0, atol=1e-7)
    gray16 = rgb16[..., 0]
    cv2.imwrite(str(tmp_path / "g16.png"), gray16)
    img = read_image(tmp_path / "g16.png")
    assert img.shape == (5, 7, 3) and np.allclose(img[..., 1], gray16 / 65535.0, atol=1e-7)


def test_rgba_alpha_dropped_with_warning_or_returned(tmp_path):
    rgba = np.concatenate([rand_rgb(), np.full((6, 9, 1), 255, np.uint8)], axis=2)
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    with pytest.warns(RuntimeWarning, match="alpha channel is not fully opaque"):
        img = read_image(tmp_path / "t.png")
    assert np.array_equal(np.round(img * 255).astype(np.uint8), rgba[..., :3])
    img, alpha = read_image(tmp_path / "t.png", return_alpha=True)
    assert alpha.shape == (6, 9) and alpha[0, 0] == 0.0 and alpha[1, 1] == 1.0
    rgba[0, 0, 3] = 255  # opaque alpha: dropped silently
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "o.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(tmp_path / "o.png").shape == (6, 9, 3)
    assert read_image(tmp_path / "t.png", return_alpha=True)[1] is not None
    assert read_image(save_png(tmp_path / "n.png", rand_rgb()), return_alpha=True)[1] is None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    rgb = rand_rgb(4, 7, seed=orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    Image.fromarray(rgb).save(path, exif=exif)
    expected = np.array(ImageOps.exif_transpose(Image.open(path)))
    img = read_image(path)
    assert img.shape == expected.shape
    assert np.array_equal(np.round(img * 255).astype(np.uint8), expected)
    if orientation in (5, 6, 7, 8):
        assert img.shape[:2] == (7, 4)


def test_unreadable_and_missing_files_are_clear_errors(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a PNG file at all")
    with pytest.raises(ImageReadError, match="broken.png.*not a readable image"):
        read_image(bad)
    with pytest.raises(ImageReadError, match="image not found"):
        read_image(tmp_path / "nope.png")


def test_write_failure_leaves_previous_file(tmp_path):
    path = save_png(tmp_path / "keep.xyz.png", rand_rgb())
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_image(path, np.zeros((2, 2, 2, 2)))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.xyz.png"]


# ---- pairing and layouts ------------------------------------------------------------

def make_folder(root, names, ext=".png", seed=0, size=(6, 9)):
    for i, n in enumerate(names):
        save_png(root / f"{n}{ext}", rand_rgb(*size, seed=seed + i))
    return root


def test_pairs_match_by_stem_across_extensions(tmp_path):
    make_folder(tmp_path / "low", ["10", "2", "1"])
    make_folder(tmp_path / "high", ["1", "2", "10"], ext=".jpg")
    (tmp_path / "low" / "notes.txt").write_text("ignored")
    pairs = match_pairs(tmp_path / "low", tmp_path / "high")
    assert [p.name for p in pairs] == ["1", "2", "10"]  # natural order
    assert pairs[2].high.name == "10.jpg"


def test_mismatched_names_list_both_sides(tmp_path):
    make_folder(tmp_path / "low", ["a", "b", "c"])
    make_folder(tmp_path / "high", ["a", "c", "d", "e"])
    with pytest.raises(PairingError) as err:
        match_pairs(tmp_path / "low", tmp_path / "high")
    msg = str(err.value)
    assert "1 in" in msg and ": b" in msg and "2 in" in msg and "d, e" in msg


def test_duplicate_stems_are_an_error(tmp_path):
    make_folder(tmp_path / "low", ["a"])
    make_folder(tmp_path / "low", ["a"], ext=".jpg")
    make_folder(tmp_path / "high", ["a"])
    with pytest.raises(PairingError, match="differ only in extension: a"):
        match_pairs(tmp_path / "low", tmp_path / "high")


def test_missing_folder_shows_layout(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="our485/low"):
        lol_pairs(tmp_path / "LOL")
    with pytest.raises(DatasetNotFoundError, match="(?s)expertC.*make_pairs"):
        fivek_pairs(tmp_path)  # exists, but no input/expertC folders
    with pytest.raises(DatasetNotFoundError, match="--data-root"):
        dataset_pairs("lol", root=None)


def test_lol_standard_and_paper_splits(tmp_path):
    names = [str(i) for i in range(1, 501)]
    train, test = names[:485], names[485:]
    for sub, part in (("our485", train), ("eval15", test)):
        for side in ("low", "high"):
            folder = tmp_path / sub / side
            folder.mkdir(parents=True)
            for n in part:  # 1 x 1 images: pairing only
                cv2.imwrite(str(folder / f"{n}.png"), np.zeros((1, 1, 3), np.uint8))
    assert len(lol_pairs(tmp_path, "train")) == 485
    assert [p.name for p in lol_pairs(tmp_path, "test")] == test
    paper_test = lol_pairs(tmp_path, "test", "paper")
    assert [p.name for p in paper_test] == names[400:]
    assert len(lol_pairs(tmp_path, "train", "paper")) == 400


def test_fivek_flat_split_by_sorted_name_and_explicit_split(tmp_path):
    names = [f"a{i:04d}" for i in range(1, 8)]
    make_folder(tmp_path / "flat" / "input", names)
    make_folder(tmp_path / "flat" / "expertC", names)
    assert [p.name for p in fivek_pairs(tmp_path / "flat", "train", train_count=5)] == names[:5]
    assert [p.name for p in fivek_pairs(tmp_path / "flat", "test", train_count=5)] == names[5:]
    with pytest.raises(PairingError, match="holds only 7 pairs"):
        fivek_pairs(tmp_path / "flat", "test")  # default 4500
    for split, part in (("train", names[:4]), ("test", names[4:])):
        make_folder(tmp_path / "split" / split / "low", part)
        make_folder(tmp_path / "split" / split / "target", part)
    assert [p.name for p in fivek_pairs(tmp_path / "split", "test")] == names[4:]


# ---- datasets and augmentation ------------------------------------------------------

def half_pairs(tmp_path, n=3, size=(20, 24)):
    """Pairs whose high image is exactly half the low image, to check the ops match."""
    for i in range(n):
        low = (rand_rgb(*size, seed=i) // 2) * 2
        save_png(tmp_path / "low" / f"{i}.png", low)
        save_png(tmp_path / "high" / f"{i}.png", low // 2)
    return match_pairs(tmp_path / "low", tmp_path / "high")


def test_training_crop_and_flips_are_the_same_for_both_images(tmp_path):
    ds = PairedImageDataset(half_pairs(tmp_path), train=True, crop=8, seed=3)
    seen = set()
    for i in range(3):
        low, high = ds[i]
        assert low.shape == (3, 8, 8) and high.shape == (3, 8, 8) and low.dtype == np.float32
        assert np.allclose(high * 255, np.round(low * 255) // 2, atol=1e-4)
        seen.add(low.tobytes())
    assert len(seen) == 3
    # seeded: same seed and epoch -> same sample; a new epoch -> a different one
    again = PairedImageDataset(half_pairs(tmp_path), train=True, crop=8, seed=3)
    assert np.array_equal(again[1][0], ds[1][0])
    again.epoch_id = 1
    assert not np.array_equal(again[1][0], ds[1][0])


def test_augmentation_uses_every_op(tmp_path):
    ds = PairedImageDataset(half_pairs(tmp_path, n=1, size=(8, 8)), train=True, crop=8)
    base = ds.load(0)[0].transpose(2, 0, 1)
    variants = set()
    for epoch in range(40):
        ds.epoch_id = epoch
        variants.add(ds[0][0].tobytes())
    # 8 distinct results of vflip x hflip x transpose on a random 8x8 image
    assert len(variants) == 8 and base.tobytes() in variants


def test_a_dataset_counts_pairs_and_leaves_batching_to_the_trainer(tmp_path):
    """Batches come from engine.schedule.BatchOrder; len() is the pairs, not batches."""
    ds = PairedImageDataset(half_pairs(tmp_path, n=5), train=True, crop=8)
    assert len(ds) == ds.num_pairs() == 5
    low, high = ds[4]
    assert low.shape == high.shape == (3, 8, 8) and low.dtype == np.float32


def test_crop_larger_than_image_and_size_mismatch_are_errors(tmp_path):
    ds = PairedImageDataset(half_pairs(tmp_path, n=1, size=(6, 9)), train=True, crop=8)
    with pytest.raises(ValueError, match="smaller than the training crop 8"):
        ds[0]
    save_png(tmp_path / "l2" / "x.png", rand_rgb(6, 9))
    save_png(tmp_path / "h2" / "x.png", rand_rgb(6, 8))
    ds = PairedImageDataset(match_pairs(tmp_path / "l2", tmp_path / "h2"))
    with pytest.raises(ValueError, match="a pair must have one size"):
        ds[0]


def test_datasets_are_looked_up_by_name(tmp_path):
    from jsymnet.config import load_config
    from jsymnet.data.datasets import DATASETS, LowLightDataset, file_pair_datasets
    assert file_pair_datasets() == ["lol", "fivek", "folder", "sample", "brackets"]
    assert DATASETS.get("lowlight").cls is LowLightDataset
    with pytest.raises(ValueError, match="unknown dataset 'lol2'; known: .*did you mean 'lol'"):
        dataset_pairs("lol2", root=tmp_path)
    half_pairs(tmp_path)
    data = load_config({"data": {"low": str(tmp_path / "low")}})["data"]
    assert [p.name for p in dataset_pairs("folder", high=str(tmp_path / "high"),
                                          data_cfg=data)] == ["0", "1", "2"]
    data = load_config({"data": {"lowlight_test": ["low", "high"]}})["data"]
    pairs = dataset_pairs("lowlight", "test", root=tmp_path, data_cfg=data)
    assert [p.name for p in pairs] == ["low/0", "low/1", "low/2", "high/0", "high/1", "high/2"]
    assert all(p.low == p.high for p in pairs)  # the targets; the dataset makes the inputs
    with pytest.raises(DatasetNotFoundError, match="lowlight dataset: pass --data-root"):
        dataset_pairs("lowlight", "train", data_cfg=data)


def test_a_new_dataset_is_one_registration(tmp_path, monkeypatch):
    """Registering a dataset is all it takes: the config accepts it, build_dataset serves it."""
    from jsymnet.config import load_config
    from jsymnet.data.datasets import DATASETS, DatasetKind, build_dataset
    pairs = half_pairs(tmp_path)
    seen = []

    def halves(split, data):     # list_pairs(split, data): the folders are in data
        seen.append((split, data["root"], data["crop"]))
        return pairs

    for table in ("_items", "_options", "_checks"):   # registered for this test only
        monkeypatch.setattr(DATASETS, table, dict(getattr(DATASETS, table)))
    DATASETS.register("halves", DatasetKind(halves, PairedImageDataset))
    cfg = load_config({"data": {"dataset": "halves", "crop": 8}})
    train, test = build_dataset(cfg, "train"), build_dataset(cfg, "test", root="R")
    assert seen == [("train", None, 8), ("test", "R", 8)]
    assert train.names == test.names == ["0", "1", "2"] and train.train and not test.train
    assert tuple(train[0][0].shape) == (3, 8, 8)


# ---- synthesis, make_pairs, the sample set ------------------------------------------

def test_synthesis_is_deterministic_per_name_and_darkens():
    target = np.random.default_rng(0).uniform(0.2, 0.9, (16, 16, 3)).astype(np.float32)
    a, ops_a = distort(target, "a0001")
    b, ops_b = distort(target, "a0001")
    assert np.array_equal(a, b) and ops_a == ops_b
    c, ops_c = distort(target, "a0002")
    assert not np.array_equal(a, c)
    assert name_seed("a0001") == name_seed("a0001", 0) != name_seed("a0001", 1)
    # stable across processes and versions: not Python's salted hash()
    assert name_seed("a0001") == int.from_bytes(
        __import__("hashlib").sha256(b"jsymnet-synthesis:0:a0001").digest()[:8], "little")
    for i in range(30):
        low, ops = distort(target, f"img{i}")
        names = [op for op, _ in ops]
        assert names.count("exposure") == 1 and 2 <= len(names) <= 4
        for op, v in ops:
            lo, hi = getattr(DEFAULT_RANGES, "exposure_ev" if op == "exposure" else op)
            assert all(lo <= x <= hi for x in (v if isinstance(v, tuple) else (v,)))
        assert low.mean() < target.mean() and 0.0 <= low.min() and low.max() <= 1.0


def test_make_pairs_builds_a_fivek_folder(tmp_path):
    make_folder(tmp_path / "photos", [f"p{i}" for i in range(5)], size=(10, 14))
    counts = make_pairs(tmp_path / "photos", tmp_path / "out", progress=False)
    assert counts == {"train": 4, "test": 1}
    test = fivek_pairs(tmp_path / "out", "test")
    assert [p.name for p in test] == ["p4"]
    target = read_image(test[0].high)
    assert np.array_equal(target, read_image(tmp_path / "photos" / "p4.png"))
    first = test[0].low.read_bytes()
    make_pairs(tmp_path / "photos", tmp_path / "out2", progress=False)
    assert (tmp_path / "out2" / "test" / "input" / "p4.png").read_bytes() == first


def test_sample_set_builds_offline_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv(sample_mod.CACHE_ENV, str(tmp_path))
    for photo in sample_mod.SAMPLE_TRAIN + sample_mod.SAMPLE_TEST:  # bundled in the wheel
        assert (sample_mod.skimage_data_dir() / photo).is_file()
    folder = sample_mod.ensure_sample_set(size=40, variants=(2, 1))
    test = fivek_pairs(folder, "test")
    train = fivek_pairs(folder, "train")
    assert [p.name for p in test] == ["chelsea_0", "coffee_0"]
    assert len(train) == 8
    low, high = read_image(test[0].low), read_image(test[0].high)
    assert max(high.shape[:2]) == 40 and low.shape == high.shape and low.mean() < high.mean()
    stamp = os.stat(test[0].low).st_mtime_ns
    assert sample_mod.ensure_sample_set(size=40, variants=(2, 1)) == folder
    assert os.stat(test[0].low).st_mtime_ns == stamp  # cached, not rebuilt
    test[0].low.unlink()
    sample_mod.ensure_sample_set(size=40, variants=(2, 1))  # incomplete -> rebuilt
    assert np.array_equal(read_image(test[0].low), low)
