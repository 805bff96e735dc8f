"""The bracket rules of jsymnet/data/brackets.py, held to the pictures.

The hand labels below were read off contact sheets of ../shared/data/sice_brackets
(frames 1-120, 700-770 and 1260-1330, ten thumbnails a row): the first frame of each
bracket, and the brackets that show one place framed again (the same building or
temple from a moved tripod). The rules must find exactly these. A synthetic bracket
(one photo at five exposures, then another photo) checks the same rules without
the shared data.
"""
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA
from jsymnet.data import brackets as B
from jsymnet.data.pairs import held_out

# First frames of the brackets, as seen on the sheets.
HAND_BRACKET_STARTS = {
    (1, 120): [1, 2, 9, 18, 27, 34, 43, 50, 57, 64, 71, 78, 87, 96, 114],
    (700, 770): [702, 712, 717, 726, 736, 746, 756, 766],
    (1260, 1330): [1262, 1269, 1288, 1305, 1322],
}
# Brackets that show one place: 78 and 87 are the same temple with the sun behind it,
# framed twice (and 71 is that temple from nearer); 717 and 726 the same tower block.
HAND_SAME_PLACE = [(78, 87), (717, 726)]
# Consecutive brackets of different places: a dark field and a window; two views of
# the campus with other buildings; a white room and a reception counter.
HAND_OTHER_PLACE = [(2, 9), (736, 746), (746, 756), (1269, 1288), (1288, 1305)]
# Bracket -> its well-exposed frame: the frame a person picks on the sheet.
HAND_TARGETS = {2: 5, 18: 23, 43: 46}


def _number(name):
    return int(Path(name).stem)


@pytest.fixture(scope="module")
def scenes():
    root = SHARED_DATA / "sice_brackets"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    return B.find_scenes(root)


def test_brackets_match_the_hand_labels(scenes):
    starts = [_number(b["frames"][0]) for s in scenes for b in s]
    for (lo, hi), expected in HAND_BRACKET_STARTS.items():
        assert [x for x in starts if lo <= x <= hi] == expected


def test_scenes_match_the_hand_labels(scenes):
    scene_of = {_number(b["frames"][0]): k for k, s in enumerate(scenes) for b in s}
    for a, b in HAND_SAME_PLACE:
        assert scene_of[a] == scene_of[b], (a, b)
    for a, b in HAND_OTHER_PLACE:
        assert scene_of[a] != scene_of[b], (a, b)


def test_targets_and_pairs_follow_the_rules(scenes):
    bracket = {_number(b["frames"][0]): b for s in scenes for b in s}
    for start, target in HAND_TARGETS.items():
        assert _number(bracket[start]["target"]) == target
    gaps = [g for s in scenes for b in s for _, g, _ in b["pairs"]]
    assert len(gaps) > 400 and min(gaps) >= B.MIN_EV_GAP
    # a pair's frames are of one bracket, and never the target itself
    for s in scenes:
        for b in s:
            assert all(n in b["frames"] and n != b["target"] for n, *_ in b["pairs"])


def test_held_out_scenes_are_whole_and_about_a_fifth(scenes, shared_data):
    root = shared_data / "sice_brackets"
    train = B.bracket_pairs(root, "train")
    test = B.bracket_pairs(root, "test")
    train_files = {p.low for p in train} | {p.high for p in train}
    test_files = {p.low for p in test} | {p.high for p in test}
    assert not train_files & test_files
    share = len(test) / (len(train) + len(test))
    assert 0.1 < share < 0.3, share
    # the split is a function of each scene's first frame alone
    for s in scenes:
        side = held_out(Path(s[0]["frames"][0]).stem, 0.2)
        names = {f"{Path(n).stem}@{Path(b['target']).stem}" for b in s for n, *_ in b["pairs"]}
        assert names <= {p.name for p in (test if side else train)}


def _write(path, rgb):
    import cv2
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1] * 255).round().astype(np.uint8))


def test_rules_on_a_synthetic_bracket(tmp_path):
    """One photo at -4, -2, 0, -1.3 and +1 EV (in linear light), then another photo: two brackets of
    two places, the target the 0 EV frame, and the frames >= 1 EV darker paired with it."""
    from skimage import data
    from jsymnet.data.image_io import linear_to_srgb, srgb_to_linear
    a = data.astronaut()[::2, ::2].astype(np.float32) / 255
    b = data.coffee()[:256, :256].astype(np.float32) / 255
    a = a[:256, :256]
    evs = [-4, -2, 0, -1.3, 1]
    for k, ev in enumerate(evs):
        _write(tmp_path / f"{k + 1:04d}.jpg", linear_to_srgb(srgb_to_linear(a) * 2.0 ** ev))
    for k, ev in enumerate([0, -3]):
        _write(tmp_path / f"{k + 6:04d}.jpg", linear_to_srgb(srgb_to_linear(b) * 2.0 ** ev))
    scenes = B.find_scenes(tmp_path, use_cache=False)
    brackets = [b for s in scenes for b in s]
    assert [b["frames"] for b in brackets] == [[f"{k:04d}.jpg" for k in range(1, 6)],
                                               ["0006.jpg", "0007.jpg"]]
    assert len(scenes) == 2
    assert brackets[0]["target"] == "0003.jpg"
    gaps = {n: g for n, g, _ in brackets[0]["pairs"]}
    assert set(gaps) == {"0001.jpg", "0002.jpg", "0004.jpg"}
    assert gaps["0001.jpg"] == pytest.approx(4.0, abs=0.5)
    assert gaps["0004.jpg"] == pytest.approx(1.3, abs=0.3)
    assert [n for n, *_ in brackets[1]["pairs"]] == ["0007.jpg"]
