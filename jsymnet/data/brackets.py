"""Real exposure brackets as low-light / normal-light pairs (SICE, ``sice_brackets``).

A bracket is a run of frames of one scene shot from a tripod at several
exposures, from far too dark to far too bright. The frames of one bracket are
aligned to the pixel, so a darker frame and the bracket's well-exposed frame
are a real pair: real sensor noise and a real camera response, the kind of
pair LOL is. The folder ships frames only, sorted by name, with no scene
list; the rules below find the brackets, choose the targets and split the
scenes. Each rule is one function, and the hand-labelled boundaries in
``tests/test_brackets.py`` hold the first two to the pictures.

1. **Signature** (:func:`signature`): the frame's luma (BT.709 weights on the
   sRGB values) at 128 x 128, *rank-normalised*: each pixel replaced by its
   rank among the frame's pixels. An exposure change is a monotone map of
   the pixel values, so two frames of one bracket have nearly the same ranks
   (except where one of them clips); another scene does not.
2. **Brackets** (:func:`group_brackets`): frames are taken in name order; a
   frame joins the open bracket when its phase correlation
   (``cv2.phaseCorrelate``, Hanning window) with one of the bracket's frames
   finds a shift under :data:`ALIGN_SHIFT` pixels with a peak of at least
   :data:`ALIGN_PEAK`, else it opens a new bracket; then consecutive brackets
   holding an aligned pair of frames are joined (an almost white frame in the
   middle of a bracket matches nothing and would cut it in two). A tripod bracket is
   aligned, a new scene is not, and nor is the same view framed again (a
   shift of several pixels), which would make a blurred pair.
3. **Scenes** (:func:`group_scenes`): consecutive brackets whose targets
   show the same place, however framed (ORB features of the rank-normalised
   frames, 256 x 256, matched with a RANSAC homography: at least
   :data:`SCENE_INLIERS` inliers; other scenes give under 25), are one scene,
   so that the split never puts one place on both sides (joining too much is
   safe: a scene only grows).
4. **Target** (:func:`choose_target`): the frame with the lowest
   ``|mean luma - 0.45| + 2 * clipped share`` (clipped: a pixel whose
   largest channel is at least 250/255, or whose luma is at most 5/255), the
   camera's best exposure of the scene.
5. **Pairs** (:func:`bracket_pairs`): every frame at least :data:`MIN_EV_GAP`
   stop darker than its target, measured as the ratio of mean linear luma over
   the pixels the target does not clip, is paired with the target, unless the
   two are shifted by more than :data:`PAIR_SHIFT` pixel at full size (phase
   correlation of their signatures: a tripod nudged between frames; about 5%
   of the pairs), since a shifted pair teaches the network to blur. Frames
   brighter than that are not used: the model enhances underexposure.
6. **Held out** (:func:`~jsymnet.data.pairs.held_out`): a scene goes to the
   test split when the name-stable hash of its first frame's name falls under
   ``fraction`` (20% by default), so adding frames or scenes never moves an
   existing scene across the split.

Finding the brackets reads every frame once (about 10 s for 1400 frames);
the result is cached under ``~/.cache/jsymnet/brackets`` keyed on the
folder's file names, sizes and modification times.
"""
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..utils.fileio import atomic_write_text
from .image_io import LUMA_709, read_image
from .pairs import Pair, held_out, images_by_stem, natural_key
from .image_io import srgb_to_linear

BRACKETS_VERSION = 6        # bump when a rule below changes: it keys the cache
SIGNATURE_SIZE = 128
ALIGN_SHIFT = 1.0           # pixels at SIGNATURE_SIZE (4 px of a 512 px frame)
ALIGN_PEAK = 0.15
SCENE_SIZE = 256            # rule 3 works on 256 x 256 frames
SCENE_FEATURES = 1000       # ORB keypoints a frame
SCENE_INLIERS = 30          # homography inliers that make two frames one place
SCENE_RANSAC_PX = 5.0
TARGET_LUMA = 0.45          # mean sRGB luma of a well-exposed photo
CLIP_WEIGHT = 2.0
CLIP_HIGH = 250 / 255
CLIP_LOW = 5 / 255
MIN_EV_GAP = 1.0            # stops
PAIR_SHIFT = 0.5            # pixels at full size: a pair shifted more would teach blur


@dataclass(frozen=True)
class FrameStats:
    """What the rules need of one frame: its rank signature, mean luma and clipped share."""
    signature: np.ndarray
    mean_luma: float
    clipped: float


def _square(rgb, size):
    """An H x W (x 3) image resized to ``size`` x ``size`` (area averaging)."""
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)


def luma(rgb):
    """BT.709 luma of sRGB values (H x W x 3 -> H x W)."""
    return rgb @ LUMA_709


def signature(y):
    """Rank-normalised H x W luma: each pixel's rank among the frame's, in (0, 1]; equal
    values share their mean rank (a clipped sky is one flat rank, not a ramp)."""
    from scipy.stats import rankdata
    return (rankdata(y, method="average").reshape(y.shape) / y.size).astype(np.float64)


def frame_stats(path):
    rgb = read_image(path)
    y = luma(rgb)
    small = _square(y, SIGNATURE_SIZE)
    clipped = (rgb.max(axis=2) >= CLIP_HIGH) | (y <= CLIP_LOW)
    return FrameStats(signature(small), float(y.mean()), float(clipped.mean()))


_WINDOW = {}


def phase_match(a, b):
    """(shift in pixels, peak) of the phase correlation of two signatures."""
    if a.shape not in _WINDOW:
        _WINDOW[a.shape] = cv2.createHanningWindow(a.shape[::-1], cv2.CV_64F)
    (dx, dy), peak = cv2.phaseCorrelate(a, b, _WINDOW[a.shape])
    return float(np.hypot(dx, dy)), float(peak)


def aligned(a, b):
    """True when two signatures are one tripod view (rule 2)."""
    shift, peak = phase_match(a, b)
    return shift < ALIGN_SHIFT and peak >= ALIGN_PEAK


def _merge_runs(groups, related):
    """Join consecutive groups (lists of indices) while ``related(i, j)`` holds for some
    frame ``i`` of the one and ``j`` of the next."""
    out = []
    for group in groups:
        if out and any(related(i, j) for i in out[-1] for j in group):
            out[-1] = out[-1] + group
        else:
            out.append(list(group))
    return out


def group_brackets(signatures):
    """Rule 2: lists of consecutive frame indices, one list per bracket. A frame joins the
    open bracket when it is aligned with one of its frames; then consecutive brackets with
    an aligned pair of frames are joined, so that one uninformative frame (almost all
    clipped) in the middle of a bracket does not cut it in two."""
    brackets = []
    for j, sig in enumerate(signatures):
        if brackets and any(aligned(signatures[k], sig) for k in reversed(brackets[-1])):
            brackets[-1].append(j)
        else:
            brackets.append([j])
    return _merge_runs(brackets, lambda i, j: aligned(signatures[i], signatures[j]))


def target_score(stats):
    """Rule 4's score (lower is better exposed)."""
    return abs(stats.mean_luma - TARGET_LUMA) + CLIP_WEIGHT * stats.clipped


def choose_target(frames):
    """Rule 4: the index in ``frames`` (a list of :class:`FrameStats`) of the target."""
    return int(np.argmin([target_score(f) for f in frames]))


def _orb_view(path):
    """ORB keypoints and descriptors of a frame's rank-normalised 256 px luma."""
    y = luma(_square(read_image(path), SCENE_SIZE))
    img = np.clip(signature(y) * 255, 0, 255).astype(np.uint8)
    return cv2.ORB_create(SCENE_FEATURES).detectAndCompute(img, None)


def same_place(view_a, view_b):
    """Rule 3's test: the RANSAC inliers of a homography between two frames' ORB matches
    reach :data:`SCENE_INLIERS` (the same place, however it is framed or exposed)."""
    (ka, da), (kb, db) = view_a, view_b
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        return False
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    if len(matches) < SCENE_INLIERS:
        return False
    src = np.float32([ka[m.queryIdx].pt for m in matches])
    dst = np.float32([kb[m.trainIdx].pt for m in matches])
    _, mask = cv2.findHomography(src, dst, cv2.RANSAC, SCENE_RANSAC_PX)
    return mask is not None and int(mask.sum()) >= SCENE_INLIERS


def group_scenes(target_paths):
    """Rule 3: lists of consecutive bracket indices, one list per scene: consecutive
    brackets whose targets show the same place (:func:`same_place`). Joining too much only
    makes a scene larger; it never leaks a place across the split."""
    views = [_orb_view(p) for p in target_paths]
    return _merge_runs([[b] for b in range(len(views))],
                       lambda a, b: same_place(views[a], views[b]))


def ev_gap(frame, target):
    """Stops by which the RGB image ``frame`` is darker than ``target`` (rule 5): log2 of
    the ratio of their mean linear luma over the pixels the target does not clip."""
    frame, target = _square(frame, SIGNATURE_SIZE), _square(target, SIGNATURE_SIZE)
    keep = target.max(axis=2) < CLIP_HIGH
    if keep.mean() < 0.05:
        keep[:] = True
    lf = float(srgb_to_linear(luma(frame))[keep].mean())
    lt = float(srgb_to_linear(luma(target))[keep].mean())
    return float(np.log2(max(lt, 1e-6) / max(lf, 1e-6)))


def pair_shift(frame, target):
    """Pixels by which two full-size RGB frames of a bracket are shifted (rule 5)."""
    return phase_match(signature(luma(frame)), signature(luma(target)))[0]


def list_frames(root):
    """The image files of a bracket folder in name order (the layout error if none)."""
    return sorted(images_by_stem(root, "brackets").values(), key=lambda p: natural_key(p.name))


def _cache_path(frames):
    key = hashlib.sha1(json.dumps(
        [BRACKETS_VERSION] + [(p.name, p.stat().st_size, int(p.stat().st_mtime))
                              for p in frames]).encode()).hexdigest()[:16]
    base = Path(os.environ.get("JSYMNET_CACHE", Path.home() / ".cache" / "jsymnet"))
    return base / "brackets" / f"{frames[0].parent.name}-{key}.json"


def find_scenes(root, use_cache=True):
    """Rules 1-5 over a folder: a list of scenes, each a list of brackets, each a dict
    ``{"frames": [names], "target": name, "pairs": [(name, ev_gap, mean luma)]}``;
    cached."""
    frames = list_frames(root)
    cache = _cache_path(frames)
    if use_cache and cache.is_file():
        return json.loads(cache.read_text())
    stats = [frame_stats(p) for p in frames]
    sigs = [s.signature for s in stats]
    brackets = group_brackets(sigs)
    targets = [b[choose_target([stats[i] for i in b])] for b in brackets]
    scenes = []
    for scene in group_scenes([frames[t] for t in targets]):
        out = []
        for b in scene:
            t = targets[b]
            target = read_image(frames[t])      # each file read once here
            pairs = []
            for i in brackets[b]:
                if i == t:
                    continue
                frame = read_image(frames[i])
                gap = ev_gap(frame, target)
                if gap >= MIN_EV_GAP and pair_shift(frame, target) <= PAIR_SHIFT:
                    pairs.append((frames[i].name, round(gap, 3), round(stats[i].mean_luma, 4)))
            out.append({"frames": [frames[i].name for i in brackets[b]],
                        "target": frames[t].name, "pairs": pairs})
        scenes.append(out)
    if use_cache:
        atomic_write_text(cache, json.dumps(scenes))
    return scenes


def bracket_pairs(root, split, fraction=0.2, seed=0, identity=False):
    """The split's :class:`Pair` list: (darker frame, target) of every bracket of every
    scene on that side of the split (rule 6); ``identity=True`` adds (target, target)
    once per bracket, for the share of pairs that must come out unchanged.

    ``split``: ``train``, ``test`` or ``all``. Pair names are ``<frame stem>@<target
    stem>``, so a score names both frames.
    """
    root = Path(root)
    out = []
    for bracket in brackets_in_split(root, split, fraction, seed):
        target = root / bracket["target"]
        for name, _, _ in bracket["pairs"]:
            out.append(Pair(pair_name(name, target), root / name, target))
        if identity:
            out.append(Pair(pair_name(target, target), target, target))
    return out


def pair_name(frame, target):
    """``<frame stem>@<target stem>``: the name of a bracket pair."""
    return f"{Path(frame).stem}@{Path(target).stem}"


def pair_scenes(root):
    """{pair name: scene index} of every pair :func:`bracket_pairs` can make of ``root``,
    identity pairs included: pairs of one scene share their place, so a resampling or a
    fold must take them together."""
    return {pair_name(frame, bracket["target"]): k
            for k, scene in enumerate(find_scenes(root)) for bracket in scene
            for frame in [bracket["target"]] + [name for name, *_ in bracket["pairs"]]}


def brackets_in_split(root, split, fraction=0.2, seed=0):
    """The brackets (dicts of :func:`find_scenes`) of the scenes on one side of rule 6."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be train, test or all, got {split!r}")
    return [bracket for scene in find_scenes(root)
            if split == "all" or held_out(Path(scene[0]["frames"][0]).stem, fraction, seed)
            == (split == "test")
            for bracket in scene]


def darkest_frames(root, split="test", fraction=0.2, seed=0):
    """{stem: path} of the darkest paired frame of each bracket in the split: real low-light
    photos of scenes the model never trained on."""
    root = Path(root)
    return {Path(name).stem: root / name
            for name, *_ in (max(b["pairs"], key=lambda p: p[1])
                            for b in brackets_in_split(root, split, fraction, seed)
                            if b["pairs"])}


__all__ = ["ALIGN_PEAK", "ALIGN_SHIFT", "BRACKETS_VERSION", "FrameStats", "MIN_EV_GAP",
           "SCENE_INLIERS", "aligned", "bracket_pairs", "brackets_in_split", "choose_target",
           "darkest_frames", "ev_gap", "find_scenes", "pair_name", "pair_scenes",
           "frame_stats", "group_brackets", "group_scenes", "list_frames", "luma",
           "phase_match", "same_place", "signature", "target_score"]
