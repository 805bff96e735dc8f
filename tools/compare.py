#!/usr/bin/env python
"""Compare models with classical baselines on the same images: the default model's report card.

Methods (every one a function of the input image alone):

  input      no change
  gamma      a global gamma that brings the mean luminance to mid-grey (0.5)
  exposure   a linear-light gain that brings the median luminance to mid-grey (18% linear)
  clahe      CLAHE on the lightness of CIELAB (OpenCV, clip 2.0, 8 x 8 tiles)
  and every --model NAME=CHECKPOINT, through jsymnet's one inference path.

Sets:
  bsds@good  with --good, the --bsds photos themselves as inputs (no harm is the best score)
  bsds@EV    --bsds ROOT/test photos, inputs synthesised at EV stops with noise
             (jsymnet.data.lowlight.evaluation_input, seeded by name: the same for every method)
  NAME@good  each --good-folder's held-out photos (the share --holdout of them, by the rule
             the training set uses, jsymnet.data.pairs.held_out) fed as they are
  brackets   with --brackets, the held-out scenes' real pairs (jsymnet/data/brackets.py:
             each darker frame against its bracket's best frame)
  fivek      the --fivek pairs (FOLDER/low, FOLDER/high matched by name)
  NAME       each --lol folder's photos (no target; lol_low, lime_low, ...): mean luminance,
             and a sheet (one row a photo, one column a method) written to OUT/NAME_sheet.png;
             with --brackets also the darkest frame of each held-out bracket (set
             brackets_dark)

With --synthesis-sheet, OUT/synthesis_sheet.png shows training inputs drawn from
the first --bsds photos (and synthesis_sheet.txt their parameters).

Scores (release convention): PSNR / SSIM (/ LPIPS with --lpips); the exposure error, the
linear-light gain that best matches an output to its target in stops (negative: too
dark; median and share within +-1/3 stop), with the PSNR the output scores after that
gain; and for each --model, the difference of its mean PSNR from the best classical
baseline's (gamma, exposure, clahe) with a 95% bootstrap interval, resampling images or,
for the bracket pairs, whole scenes (pairs of one scene are not independent).

Every set is scored whole; --limit N (the first N of each set) is for smoke runs only,
and the tables then say so.

Writes OUT/compare.csv (every image, method and score), OUT/compare.md (the tables),
the sheets; prints the tables.

Example (the model card's report card):
  python tools/compare.py --bsds DATA_ROOT/bsds500/test --good --fivek DATA_ROOT/fivek_dpe \\
      --lol DATA_ROOT/lol_low --model sample=weights/jsymnet_sample.pkl \\
      --model default=weights/jsymnet_default.pkl --out results/compare
"""
import argparse
import csv
import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from jsymnet.data.image_io import LUMA_709  # noqa: E402
from jsymnet.shifts import DEFAULT_SHIFTS, check_shifts  # noqa: E402

LOWLIGHT_RANGE = (0.3, 0.6)   # mean luminance of a well-exposed output (target sets)
MID_GREY = 0.5            # sRGB mean the gamma baseline aims at
MID_GREY_LINEAR = 0.18    # linear-light median the exposure baseline aims at
CLAHE_CLIP, CLAHE_TILES = 2.0, 8


def luminance(img):
    """Mean BT.709 luma of an sRGB image (the brightness figure of the LOL rows)."""
    return float((np.asarray(img, np.float32) @ LUMA_709).mean())


def gamma_to_mid_grey(img):
    """x ** g with g chosen (bisection) so that the mean luma is 0.5."""
    y = np.clip(img @ LUMA_709, 1e-4, 1.0)
    lo, hi = 0.05, 5.0
    for _ in range(40):
        g = (lo * hi) ** 0.5
        if (y ** g).mean() > MID_GREY:
            lo = g
        else:
            hi = g
    return np.power(np.clip(img, 0.0, 1.0), (lo * hi) ** 0.5).astype(np.float32)


def exposure_to_mid_grey(img):
    """Linear-light gain so that the median linear luma is 0.18, then back to sRGB."""
    from jsymnet.data.image_io import linear_gain, srgb_to_linear
    median = float(np.median(srgb_to_linear(np.clip(img, 0.0, 1.0)) @ LUMA_709))
    return linear_gain(img, MID_GREY_LINEAR / max(median, 1e-4)).astype(np.float32)


def clahe_lightness(img):
    """OpenCV CLAHE on the L channel of CIELAB."""
    u8 = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(u8, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=(CLAHE_TILES, CLAHE_TILES))
    lab[..., 0] = clahe.apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).astype(np.float32) / 255.0


BASELINES = {"input": lambda x: x, "gamma": gamma_to_mid_grey,
             "exposure": exposure_to_mid_grey, "clahe": clahe_lightness}


def model_method(path, shifts=DEFAULT_SHIFTS):
    """The checkpoint at ``path`` (None: the default model) through run_rgb, ``shifts``
    its own."""
    from jsymnet.inference import get_model, run_rgb
    model = get_model(path)
    return lambda x: run_rgb(model, x, shifts=shifts)


def model_methods(specs, shifts, error):
    """{NAME: method} of ``--model NAME=CHECKPOINT`` specs; ``error(message)`` (the
    parser's) for a malformed one."""
    methods = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            error(f"--model takes NAME=CHECKPOINT, got {spec!r}")
        methods[name] = model_method(path, shifts)
    return methods


def bsds_items(folder, ev, limit):
    """(name, input, target) of the photos in ``folder``, named and synthesised exactly as
    the lowlight dataset's test split names and synthesises them; ``ev=None``: the photo
    itself is the input (a well-exposed photo, which any change can only harm)."""
    from pathlib import Path
    from jsymnet.data.datasets import lowlight_targets
    from jsymnet.data.image_io import read_image
    from jsymnet.data.lowlight import evaluation_input
    folder = Path(folder).resolve()
    for pair in lowlight_targets(folder.parent, [folder.name])[:limit]:
        high = read_image(pair.high)
        yield pair.name, (high if ev is None else evaluation_input(high, pair.name, ev)), high


def good_items(folder, fraction, limit):
    """(name, photo, photo) of the held-out share of a folder of well-exposed photos, named
    ``<folder>/<stem>`` as the lowlight dataset names them (so the split is the training's)."""
    from pathlib import Path
    from jsymnet.data.datasets import HOLDOUT_SEED, lowlight_targets
    from jsymnet.data.image_io import read_image
    from jsymnet.data.pairs import held_out
    folder = Path(folder).resolve()
    pairs = [p for p in lowlight_targets(folder.parent, [folder.name])
             if held_out(p.name, fraction, HOLDOUT_SEED)]
    for pair in pairs[:limit]:
        photo = read_image(pair.high)
        yield pair.name, photo, photo


def bracket_items(folder, limit):
    """(name, darker frame, best frame) of the held-out bracket scenes."""
    from jsymnet.data.brackets import bracket_pairs
    from jsymnet.data.datasets import HOLDOUT_SEED, read_pair
    for pair in bracket_pairs(folder, "test", seed=HOLDOUT_SEED)[:limit]:
        low, high = read_pair(pair)
        yield pair.name, low, high


def darkest_frames(folder):
    """{name: path}: the darkest frame of each held-out bracket (a real low-light photo)."""
    from jsymnet.data import brackets
    from jsymnet.data.datasets import HOLDOUT_SEED
    return brackets.darkest_frames(folder, "test", seed=HOLDOUT_SEED)


def pair_items(folder, limit):
    from jsymnet.data.datasets import read_pair
    from jsymnet.data.pairs import folder_pairs
    for pair in folder_pairs(os.path.join(folder, "low"), os.path.join(folder, "high"))[:limit]:
        low, high = read_pair(pair)
        yield pair.name, low, high


def score_set(label, items, methods, rows, progress=True, lpips=False, groups=None):
    """Every method on every (name, input, target) item; one row each. ``groups``
    ({name: unit}) names what the bootstrap resamples (default: the image itself)."""
    from tqdm import tqdm
    from jsymnet import metrics
    from jsymnet.data.image_io import to_uint8
    for name, low, high in tqdm(list(items), desc=label, unit="img", disable=not progress):
        target = to_uint8(high)
        for method, fn in methods.items():
            out = to_uint8(fn(low))
            psnr, ssim = metrics.psnr_ssim(out, target)
            stops, gained = metrics.exposure_error(out / 255.0, target / 255.0)
            rows.append({"set": label, "image": name, "method": method, "psnr": psnr,
                         "group": (groups or {}).get(name, name),
                         "ssim": ssim, "luminance": luminance(out / 255.0),
                         "lpips": metrics.lpips(out, high) if lpips else float("nan"),
                         "exposure": stops,
                         "psnr_exposed": metrics.psnr(to_uint8(gained), target)})


def lowlight_sheet(label, photos, methods, out_dir, rows, height=200):
    """Score real low-light photos without targets (``photos``: {name: path}) by the mean
    luminance of each method's output, and draw OUT/<label>_sheet.png."""
    from jsymnet.data.image_io import read_image, to_uint8, write_image
    from jsymnet.data.pairs import natural_key
    from jsymnet.evaluation import labelled, panel_sheet
    sheet = []
    for name in sorted(photos, key=natural_key):
        low = read_image(photos[name])
        panels = []
        for method, fn in methods.items():
            out = fn(low)
            lum = luminance(out)
            rows.append({"set": label, "image": name, "method": method, "psnr": float("nan"),
                         "group": name,
                         "ssim": float("nan"), "luminance": lum, "lpips": float("nan"),
                         "exposure": float("nan"), "psnr_exposed": float("nan")})
            panels.append(labelled(to_uint8(out), f"{name} {method} L={lum:.2f}", height))
        sheet.append(panels)
    write_image(os.path.join(out_dir, f"{label}_sheet.png"), panel_sheet(sheet))


def synthesis_sheet(folder, out_dir, count=4, draws=5, height=160):
    """OUT/synthesis_sheet.png: ``count`` photos (rows), the photo and ``draws`` random
    training inputs of it (columns), each labelled with its parameters."""
    from jsymnet.data.image_io import read_image, to_uint8, write_image
    from jsymnet.data.lowlight import describe_params, underexpose
    from jsymnet.data.pairs import images_by_stem, natural_key
    from jsymnet.evaluation import labelled, panel_sheet
    photos = images_by_stem(folder)
    rows, lines = [], []
    for name in sorted(photos, key=natural_key)[:count]:
        high = read_image(photos[name])
        panels = [labelled(to_uint8(high), f"{name} target", height)]
        for k in range(draws):
            low, params = underexpose(high, np.random.default_rng([k, len(rows)]))
            short = "unchanged" if params["identity"] else \
                f"ev {params['ev']:+.1f} shot {params['shot']:.0e}"
            panels.append(labelled(to_uint8(low), short, height))
            lines.append(f"{name} draw {k}: {describe_params(params)}")
        rows.append(panels)
    write_image(os.path.join(out_dir, "synthesis_sheet.png"), panel_sheet(rows))
    return lines


def psnr_cell(sel):
    """The table cell of one set and method: mean PSNR / mean SSIM (/ mean LPIPS where it
    was computed). An output identical to its target has an infinite PSNR: the mean is over
    the others, and the cell counts them."""
    finite = [r["psnr"] for r in sel if np.isfinite(r["psnr"])]
    ssim = np.mean([r["ssim"] for r in sel])
    lp = [r["lpips"] for r in sel if np.isfinite(r.get("lpips", float("nan")))]
    tail = f" / {np.mean(lp):.3f}" if lp else ""
    if not finite:
        return f"identical / {ssim:.3f}{tail}"
    same = len(sel) - len(finite)
    return f"{np.mean(finite):.2f} / {ssim:.3f}{tail}" + (f" ({same} identical)" if same
                                                           else "")


CLASSICAL = ("gamma", "exposure", "clahe")   # the baselines a model must beat
BOOTSTRAP_DRAWS, BOOTSTRAP_SEED = 2000, 0
STOP_TOLERANCE = 1.0 / 3.0                   # an exposure this close counts as right


def bootstrap_interval(diff, groups, draws=BOOTSTRAP_DRAWS, seed=BOOTSTRAP_SEED):
    """The 95% percentile interval of the mean of ``diff`` (one value per image), resampling
    the units of ``groups`` (one label per image) with replacement: images of one unit
    (the pairs of one bracket scene) are drawn together, so their correlation widens the
    interval as it should."""
    diff, groups = np.asarray(diff, np.float64), np.asarray(groups)
    units = {g: diff[groups == g] for g in dict.fromkeys(groups.tolist())}
    sums = np.array([v.sum() for v in units.values()])
    counts = np.array([len(v) for v in units.values()])
    pick = np.random.default_rng(seed).integers(0, len(units), (draws, len(units)))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _scored(rows, s, m):
    return {r["image"]: r for r in rows if r["set"] == s and r["method"] == m
            and np.isfinite(r["ssim"])}


def differences(rows, methods):
    """Markdown: for each set with targets and each model, its mean PSNR less the best
    classical baseline's (by mean PSNR on that set), with the 95% bootstrap interval.
    Images where either output is identical to its target (infinite PSNR) are left out."""
    models = [m for m in methods if m not in BASELINES]
    lines = ["| set | model | best baseline | difference (dB) | 95% interval | images |",
             "|---|---|---|---|---|---|"]
    for s in dict.fromkeys(r["set"] for r in rows):
        base = {b: _scored(rows, s, b) for b in CLASSICAL}
        if not models or not any(base.values()):
            continue
        best = max(base, key=lambda b: np.mean([r["psnr"] for r in base[b].values()
                                                if np.isfinite(r["psnr"])] or [-np.inf]))
        for m in models:
            ours = _scored(rows, s, m)
            names = [n for n in ours if n in base[best] and np.isfinite(ours[n]["psnr"])
                     and np.isfinite(base[best][n]["psnr"])]
            diff = [ours[n]["psnr"] - base[best][n]["psnr"] for n in names]
            lo, hi = bootstrap_interval(diff, [ours[n]["group"] for n in names])
            lines.append(f"| {s} | {m} | {best} | {np.mean(diff):+.2f} | [{lo:+.2f}, {hi:+.2f}] "
                         f"| {len(names)} |")
    return "\n".join(lines) + "\n"


def exposure_table(rows, methods):
    """Markdown: per set with targets and method, the median exposure error in stops, the
    share within +-1/3 stop, and the mean PSNR after the best linear-light gain."""
    lines = ["| set | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for s in dict.fromkeys(r["set"] for r in rows):
        cells = []
        for m in methods:
            sel = [r for r in _scored(rows, s, m).values() if np.isfinite(r["exposure"])]
            if not sel:
                break
            stops = np.array([r["exposure"] for r in sel])
            exposed = [r["psnr_exposed"] for r in sel if np.isfinite(r["psnr_exposed"])]
            after = f"{np.mean(exposed):.2f}" if exposed else "identical"
            cells.append(f"{np.median(stops):+.2f} / {np.mean(np.abs(stops) <= STOP_TOLERANCE):.0%}"
                         f" / {after}")
        if len(cells) == len(methods):
            lines.append(f"| {s} ({len(sel)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table(rows, methods):
    sets = list(dict.fromkeys(r["set"] for r in rows))
    lines = ["| set | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for s in sets:
        cells = []
        for m in methods:
            sel = [r for r in rows if r["set"] == s and r["method"] == m]
            if all(not np.isfinite(r["psnr"]) and not np.isfinite(r["ssim"]) for r in sel):
                lum = [r["luminance"] for r in sel]
                inside = sum(LOWLIGHT_RANGE[0] <= v <= LOWLIGHT_RANGE[1] for v in lum)
                cells.append(f"L {np.mean(lum):.3f} ({inside}/{len(lum)} in range)")
            else:
                cells.append(psnr_cell(sel))
        n = len({r["image"] for r in rows if r["set"] == s})
        lines.append(f"| {s} ({n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bsds", help="folder of well-exposed test photos (BSDS500 test)")
    p.add_argument("--ev", type=float, nargs="+", default=[-1.0, -2.0, -3.0, -4.0],
                   help="exposure changes of the --bsds inputs (default: %(default)s)")
    p.add_argument("--good", action="store_true",
                   help="also score the --bsds photos themselves as inputs (set bsds@good): "
                        "what each method does to a photo that needs no change")
    p.add_argument("--good-folder", action="append", default=[], metavar="DIR",
                   help="a folder of well-exposed photos whose held-out share is fed as it is "
                        "(set <folder>@good; repeatable)")
    p.add_argument("--holdout", type=float, default=0.2,
                   help="the held-out share of each --good-folder, as data.val_fraction holds "
                        "it out of training (default: %(default)s)")
    p.add_argument("--brackets", help="folder of exposure brackets (sice_brackets): its held-out "
                                      "scenes' real pairs")
    p.add_argument("--fivek", help="folder with low/ and high/ pairs")
    p.add_argument("--lol", action="append", default=[], metavar="DIR",
                   help="folder of real low-light photos without targets (repeatable: "
                        "lol_low, lime_low)")
    p.add_argument("--model", action="append", default=[], metavar="NAME=CHECKPOINT",
                   help="a jsymnet checkpoint to compare (repeatable)")
    p.add_argument("--shifts", "--phases", type=int, default=DEFAULT_SHIFTS, metavar="K",
                   help="passes of every --model, averaged over shifts of its codec's block "
                        "grid (jsymnet/shifts.py; default: %(default)s, jsymnet's; 1: the "
                        "network alone)")
    p.add_argument("--synthesis-sheet", action="store_true",
                   help="also write OUT/synthesis_sheet.png: --bsds photos and random "
                        "training inputs drawn from them (jsymnet/data/lowlight.py)")
    p.add_argument("--lpips", nargs="*", metavar="SET", default=None,
                   help="also score LPIPS (VGG, v0.1; make its weights once with "
                        "tools/get_lpips.py) on these sets (default with no names: fivek "
                        "brackets); a third number in each cell")
    p.add_argument("--limit", type=int,
                   help="first N images of each set only: a smoke run, never a figure to "
                        "report (the tables then say so)")
    p.add_argument("--out", default="results/compare", help="output folder (default: %(default)s)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = p.parse_args(argv)
    if not (args.bsds or args.fivek or args.lol or args.brackets or args.good_folder):
        p.error("give at least one of --bsds, --good-folder, --brackets, --fivek, --lol")
    return args, p


def score_sets(args, methods, rows):
    """Every asked-for set, scored by every method, into ``rows``."""
    from jsymnet.data.brackets import pair_scenes
    lpips_sets = set(args.lpips or ["fivek", "brackets"]) if args.lpips is not None else set()
    if lpips_sets:
        from jsymnet.metrics import load_lpips_weights
        load_lpips_weights()        # fail now, with the fix, not after an hour
    if args.synthesis_sheet and args.bsds:
        from jsymnet.utils.fileio import atomic_write_text
        lines = synthesis_sheet(args.bsds, args.out)
        atomic_write_text(os.path.join(args.out, "synthesis_sheet.txt"), "\n".join(lines) + "\n")
    if args.good and args.bsds:
        score_set("bsds@good", bsds_items(args.bsds, None, args.limit), methods, rows)
    for ev in (args.ev if args.bsds else []):
        score_set(f"bsds@{ev:+g}", bsds_items(args.bsds, ev, args.limit), methods, rows)
    for folder in args.good_folder:
        score_set(f"{os.path.basename(os.path.normpath(folder))}@good",
                  good_items(folder, args.holdout, args.limit), methods, rows)
    if args.brackets:
        score_set("brackets", bracket_items(args.brackets, args.limit), methods, rows,
                  lpips="brackets" in lpips_sets, groups=pair_scenes(args.brackets))
    if args.fivek:
        score_set("fivek", pair_items(args.fivek, args.limit), methods, rows,
                  lpips="fivek" in lpips_sets)
    for folder in args.lol:
        from jsymnet.data.pairs import images_by_stem
        lowlight_sheet(os.path.basename(os.path.normpath(folder)), images_by_stem(folder),
                       methods, args.out, rows)
    if args.brackets:
        lowlight_sheet("brackets_dark", darkest_frames(args.brackets), methods, args.out, rows)


FIELDS = ["set", "image", "group", "method", "psnr", "ssim", "luminance", "lpips", "exposure",
          "psnr_exposed"]


def report_text(rows, methods, limit=None):
    """The three tables of a run, as Markdown."""
    slice_note = (f"**Smoke run: the first {limit} images of each set only (--limit); not a "
                  f"figure to report.**\n\n" if limit else "")
    return (slice_note + "PSNR (dB) / SSIM (/ LPIPS), release convention; sets without "
            "targets: mean luminance (BT.709) and how many outputs fall in 0.3-0.6\n\n"
            + table(rows, methods) + "\nExposure error: median stops (negative: too dark) / "
            "share within 1/3 stop / PSNR after the best linear-light gain\n\n"
            + exposure_table(rows, methods) + "\nEach model against the best classical "
            "baseline of each set: mean PSNR difference, 95% bootstrap interval\n\n"
            + differences(rows, methods))


def main(argv=None):
    args, parser = parse_args(argv)
    from jsymnet import JsymnetError, use_device
    from jsymnet.cli import EXIT_OK, python_handles_interrupts, report
    from jsymnet.utils.fileio import atomic_write_text
    python_handles_interrupts()
    rows = []
    try:
        use_device(args.device)
        check_shifts(args.shifts)
        methods = dict(BASELINES)
        methods.update(model_methods(args.model, args.shifts, parser.error))
        os.makedirs(args.out, exist_ok=True)
        score_sets(args, methods, rows)
    except JsymnetError as exc:
        return report(exc)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(os.path.join(args.out, "compare.csv"), buf.getvalue())
    text = report_text(rows, list(methods), args.limit)
    atomic_write_text(os.path.join(args.out, "compare.md"), text)
    print(text)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
