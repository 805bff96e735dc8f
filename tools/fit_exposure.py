#!/usr/bin/env python
"""Fit the global exposure stage (jsymnet/models/exposure.py) of a network: the default
model's last step.

Runs the network (as photos are enhanced: two shifts, the whole photo) over the training
side of the default model's data, never a held-out photo:

  brackets   every training-scene bracket pair of DATA_ROOT/sice_brackets (darker frame,
             best frame), and each bracket's best frame with itself
  bsds       every other BSDS500 train + val photo, as it is and at two seeded exposure
             cuts in [-5, -0.5] EV (the synthesis of jsymnet/data/lowlight.py)
  urban/sun  every other training photo of DATA_ROOT/urban100 and DATA_ROOT/sun80, as it is

and for each output the best linear-light gain against its target (in stops, as
tools/compare.py measures the exposure error). The stage is fitted to those gains from
the thumbnails of input and output, and written with the network into OUTPUT
(model.exposure: gain). --folds K first reports the stage's exposure error
cross-validated over K folds of whole scenes, to choose its options on the training side.

  python tools/fit_exposure.py --data-root DATA_ROOT --weights runs/average.pkl \\
      -o weights/jsymnet_default.pkl
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

EV_RANGE = (-5.0, -0.5)     # the range stage 1 synthesises (jsymnet/data/lowlight.py)
CUTS = 2                    # synthetic captures of each photo
SEED = 0


def training_items(root):
    """(kind, group, input, target) of the training side: groups are whole scenes (for the
    folds); inputs are read lazily."""
    from jsymnet.data.brackets import bracket_pairs, pair_scenes
    from jsymnet.data.datasets import HOLDOUT_SEED, lowlight_targets, read_pair
    from jsymnet.data.image_io import read_image
    from jsymnet.data.lowlight import evaluation_input
    from jsymnet.data.pairs import held_out
    brackets = os.path.join(root, "sice_brackets")
    scene = pair_scenes(brackets)
    for pair in bracket_pairs(brackets, "train", seed=HOLDOUT_SEED, identity=True):
        yield ("brackets" if pair.low != pair.high else "good"), f"scene {scene[pair.name]}", \
            lambda p=pair: read_pair(p)
    def as_is(path):
        return lambda: (read_image(path),) * 2

    def cut(path, name, ev):
        return lambda: (lambda high: (evaluation_input(high, name, ev), high))(read_image(path))
    rng = np.random.default_rng(SEED)
    for pair in lowlight_targets(os.path.join(root, "bsds500"), ["train", "val"])[::2]:
        yield "good", pair.name, as_is(pair.high)
        for _ in range(CUTS):
            yield "synthetic", pair.name, cut(pair.high, pair.name, float(rng.uniform(*EV_RANGE)))
    for folder in ("urban100", "sun80"):
        kept = [p for p in lowlight_targets(root, [folder])
                if not held_out(p.name, 0.2, HOLDOUT_SEED)]
        for pair in kept[::2]:
            yield "good", pair.name, as_is(pair.high)


def collect(model, root):
    """(kinds, groups, features, stops) over :func:`training_items`."""
    from tqdm import tqdm
    from jsymnet.inference import run_rgb
    from jsymnet.metrics import exposure_error
    from jsymnet.models.exposure import features, thumbnail
    items = list(training_items(root))
    kinds, groups, t_in, t_out, stops = [], [], [], [], []
    for kind, group, read in tqdm(items, desc="network outputs", unit="img"):
        low, high = read()
        out = run_rgb(model, low)
        kinds.append(kind)
        groups.append(group)
        t_in.append(thumbnail(low))
        t_out.append(thumbnail(out))
        stops.append(-exposure_error(out, high)[0])   # the gain the output needs
    return np.array(kinds), np.array(groups), features(np.stack(t_in), np.stack(t_out)), \
        np.array(stops)


def cross_validate(stage, kinds, groups, f, stops, folds):
    """Lines reporting, per kind of photo, the mean |exposure error| in stops before and
    after the stage, each fold's stage fitted on the other folds (whole scenes)."""
    rng = np.random.default_rng(SEED)
    units = sorted(set(groups))
    fold = dict(zip(units, rng.integers(0, folds, len(units))))
    which = np.array([fold[g] for g in groups])
    predicted = np.zeros(len(stops))
    for k in range(folds):
        stage.fit(f[which != k], stops[which != k])
        predicted[which == k] = stage.predict(f[which == k])
    lines = []
    for kind in sorted(set(kinds)):
        m = kinds == kind
        err, before = np.abs(stops[m] - predicted[m]), np.abs(stops[m])
        lines.append(f"{kind:10s} {m.sum():4d} photos: mean |error| {before.mean():.3f} -> "
                     f"{err.mean():.3f} stops; within 1/3 stop {np.mean(before <= 1/3):.0%} "
                     f"-> {np.mean(err <= 1/3):.0%}")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--data-root", required=True, metavar="DATA_ROOT",
                   help="holds sice_brackets/, bsds500/, urban100/ and sun80/")
    p.add_argument("--weights", default=None, help="the network (default: the shipped model)")
    p.add_argument("-o", "--output", required=True, help="the checkpoint to write")
    p.add_argument("--threshold", type=float, default=None, help="exposure_threshold (stops)")
    p.add_argument("--hidden", type=int, default=None, help="exposure_hidden")
    p.add_argument("--folds", type=int, default=0, help="report a K-fold cross-validation first")
    args = p.parse_args(argv)
    from jsymnet import JsymnetError
    from jsymnet.checkpoint import save_checkpoint
    from jsymnet.config import load_config
    from jsymnet.inference import get_model
    from jsymnet.models import build_model
    from jsymnet.models.state import load_state, state_to_numpy
    try:
        net = get_model(args.weights)
        net.exposure = None                  # the network alone is what the stage corrects
        section = {"type": "gain"}
        section.update({k: v for k, v in (("exposure_threshold", args.threshold),
                                          ("exposure_hidden", args.hidden)) if v is not None})
        cfg = load_config({**net.config, "model": {**net.config["model"], "exposure": section}})
        model = build_model(cfg, load_codec_weights=False)
        load_state(model, state_to_numpy(net.state_dict()), strict=False,
                   where=str(args.weights or "the default model"))
        kinds, groups, f, stops = collect(net, args.data_root)
        if args.folds:
            print("\n".join(cross_validate(model.exposure, kinds, groups, f, stops, args.folds)))
        model.exposure.fit(f, stops)
        save_checkpoint(args.output, model, source={"exposure_fitted_on": len(stops),
                                                    "network": str(args.weights or "default")})
    except JsymnetError as exc:
        p.exit(2, f"fit_exposure.py: error: {exc}\n")
    print(f"wrote {args.output}: the network and its exposure stage, fitted on {len(stops)} "
          f"training photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
