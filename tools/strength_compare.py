#!/usr/bin/env python
"""How to turn an enhancement down (or up): the strength methods compared on real numbers.

A strength s makes a result between the input x (s = 0) and the network's output y
(s = 1). Four ways are measured, each at s = 0, 0.25, ... 2:

  feature  D(E(x) + s (IFT(E(x)) - E(x))): interpolating the features the invertible
           transform moves, computed here through the model's own codec and IFT
  srgb     x + s (y - x) on the sRGB values
  linear   the same blend in linear light: srgb(lin(x) + s (lin(y) - lin(x)))
  stops    a per-pixel exposure in stops: srgb(lin(y) * ((lin(x) + e) / (lin(y) + e)) ** (1 - s))

Scores, on the BSDS500 test photos at --ev stops (inputs synthesised with noise as the
training's are) and on the held-out bracket scenes' real pairs:

  exposure  PSNR of the result against the best pure exposure change of y (a linear-light
            gain fitted to it): how much the result looks like the final picture, only
            darker or brighter (no tone, colour or noise change of its own)
  truth     BSDS500 only: PSNR against the clean photo at (1 - s) * EV stops, the real
            intermediate exposure
  chroma    mean shift of the linear-light chromaticity against y, x 100 (colour cast)
  monotone  share of photos whose mean luminance rises with s over the whole grid
  clipped   share of pixels at 0 or 1 in some channel, beyond what y itself has (s > 1)

Writes OUT/strength.csv and OUT/strength.md (and prints the table); with --sheet, OUT/
strength_sheet.jpg shows one photo's series for each method.

  python tools/strength_compare.py --bsds ../shared/data/bsds500/test \\
      --brackets ../shared/data/sice_brackets --limit 20 --out results/strength
"""
import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
METHODS = ("feature", "srgb", "linear", "stops")
STOPS_EPS = 1e-3     # linear-light offset of the stops method (keeps black pixels finite)
CHROMA_MIN_LUMA = 0.01


def blend(method, x, y, s, features=None):
    """The strength-``s`` result of ``method`` (the reference formulas of the docstring)."""
    from jsymnet.data.image_io import linear_to_srgb, srgb_to_linear
    if method == "feature":
        return features(s)
    if method == "srgb":
        return np.clip(x + s * (y - x), 0.0, 1.0)
    lx, ly = srgb_to_linear(x), srgb_to_linear(y)
    if method == "linear":
        return linear_to_srgb(lx + s * (ly - lx))
    return linear_to_srgb(ly * ((lx + STOPS_EPS) / (ly + STOPS_EPS)) ** (1.0 - s))


def feature_path(model, x):
    """``s -> D(E(x) + s (IFT(E(x)) - E(x)))``, clipped, for one H x W x 3 image."""
    import jittor as jt
    from jsymnet.models.stages import EAGER
    h, w = x.shape[:2]
    ph, pw = model.padding(h, w)
    chw = np.pad(x.transpose(2, 0, 1), ((0, 0), (0, ph), (0, pw)), mode="edge")
    with jt.no_grad():
        f = model.encoder(jt.array(np.ascontiguousarray(chw)[None]))
        g = model.ift(f, False, EAGER)
        f, g = f.numpy(), g.numpy()

    def at(s):
        with jt.no_grad():
            out = model.decoder(jt.array(f + s * (g - f))).numpy()[0]
        return np.clip(out[:, :h, :w].transpose(1, 2, 0), 0.0, 1.0)
    return at


def psnr(a, b):
    mse = float(np.mean((np.asarray(a, np.float64) - b) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def exposure_fit(result, y):
    """``y`` under the linear-light gain that best matches ``result`` (least squares)."""
    from jsymnet.data.image_io import linear_to_srgb, srgb_to_linear
    lr, ly = srgb_to_linear(result).ravel(), srgb_to_linear(y).ravel()
    gain = float(lr @ ly) / max(float(ly @ ly), 1e-12)
    return linear_to_srgb(srgb_to_linear(y) * gain)


def chromaticity(img):
    from jsymnet.data.image_io import LUMA_709, srgb_to_linear
    lin = srgb_to_linear(img)
    total = lin.sum(axis=2, keepdims=True)
    return lin / np.maximum(total, 1e-6), lin @ LUMA_709


def chroma_shift(result, y):
    cr, lum_r = chromaticity(result)
    cy, lum_y = chromaticity(y)
    keep = (lum_r > CHROMA_MIN_LUMA) & (lum_y > CHROMA_MIN_LUMA)
    return 100.0 * float(np.abs(cr - cy)[keep].mean()) if keep.any() else float("nan")


def clipped(img):
    return float(((img <= 0.0) | (img >= 1.0)).any(axis=2).mean())


def truth_at(target, ev, s):
    from jsymnet.data.image_io import linear_to_srgb, srgb_to_linear
    return linear_to_srgb(srgb_to_linear(target) * 2.0 ** ((1.0 - s) * ev))


def score_items(label, items, model, rows, ev=None):
    from tqdm import tqdm
    from jsymnet.data.image_io import LUMA_709
    from jsymnet.inference import run_rgb
    for name, x, target in tqdm(list(items), desc=label, unit="img"):
        y = run_rgb(model, x)
        features = feature_path(model, x)
        for method in METHODS:
            for s in STRENGTHS:
                r = blend(method, x, y, s, features).astype(np.float32)
                rows.append({"set": label, "image": name, "method": method, "s": s,
                             "luma": float((r @ LUMA_709).mean()),
                             "exposure": psnr(r, exposure_fit(r, y)),
                             "truth": psnr(r, truth_at(target, ev, s)) if ev is not None
                             else float("nan"),
                             "chroma": chroma_shift(r, y),
                             "clipped": clipped(r) - clipped(y)})


def table(rows):
    """Markdown: per set and method, each score at each s (means), and the monotone share."""
    lines = []
    sets = list(dict.fromkeys(r["set"] for r in rows))
    head = " | ".join(f"s={s:g}" for s in STRENGTHS)
    for label in sets:
        sel = [r for r in rows if r["set"] == label]
        has_truth = not np.isnan(sel[0]["truth"])
        lines += [f"\n**{label}** ({len({r['image'] for r in sel})} photos): exposure PSNR dB"
                  + (" / truth PSNR dB" if has_truth else "") + " / chroma shift x100;"
                  " last columns: monotone luminance share, extra clipped share at s=2",
                  f"| method | {head} | monotone | clipped@2 |",
                  "|---" * (len(STRENGTHS) + 3) + "|"]
        for method in METHODS:
            cells = []
            for s in STRENGTHS:
                rs = [r for r in sel if r["method"] == method and r["s"] == s]
                cell = f"{np.mean([r['exposure'] for r in rs]):.1f}"
                if has_truth:
                    cell += f" / {np.mean([r['truth'] for r in rs]):.1f}"
                cell += f" / {np.nanmean([r['chroma'] for r in rs]):.2f}"
                cells.append(cell)
            images = sorted({r["image"] for r in sel})
            mono = np.mean([np.all(np.diff([r["luma"] for r in sel if r["image"] == im
                                            and r["method"] == method]) > 0)
                            for im in images])
            clip2 = np.mean([r["clipped"] for r in sel if r["method"] == method
                             and r["s"] == STRENGTHS[-1]])
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {mono:.2f} | {clip2:.3f} |")
    return "\n".join(lines)


def sheet(model, x, out_path, height=160):
    """One photo's strength series, a row per method (JPEG)."""
    import cv2
    from jsymnet.data.image_io import to_uint8
    from jsymnet.inference import run_rgb
    y = run_rgb(model, x)
    features = feature_path(model, x)
    scale = height / x.shape[0]
    size = (max(1, round(x.shape[1] * scale)), height)
    rows = [np.concatenate([cv2.resize(to_uint8(blend(m, x, y, s, features)), size,
                                       interpolation=cv2.INTER_AREA) for s in STRENGTHS], axis=1)
            for m in METHODS]
    img = np.concatenate(rows, axis=0)
    from jsymnet.utils.fileio import atomic_path
    with atomic_path(out_path) as tmp:
        cv2.imwrite(str(tmp), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bsds", help="BSDS500 test folder (bsds500/test)")
    p.add_argument("--ev", type=float, nargs="+", default=[-2.0, -4.0],
                   help="exposure of the BSDS500 inputs, stops (default: -2 -4)")
    p.add_argument("--brackets", help="the sice_brackets folder: held-out real pairs")
    p.add_argument("--weights", default=None, help="jsymnet checkpoint (default: the shipped one)")
    p.add_argument("--limit", type=int, default=20, help="photos per set (default: 20)")
    p.add_argument("--sheet", action="store_true", help="write OUT/strength_sheet.jpg")
    p.add_argument("--out", default="results/strength", help="output folder")
    args = p.parse_args(argv)
    if not (args.bsds or args.brackets):
        p.error("give --bsds and/or --brackets")
    import jsymnet  # noqa: F401  (prepares Jittor)
    from compare import bsds_items, bracket_items
    from jsymnet.inference import get_model
    from jsymnet.utils.fileio import atomic_path, atomic_write_text
    model = get_model(args.weights)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for ev in (args.ev if args.bsds else []):
        score_items(f"bsds@{ev:g}", bsds_items(args.bsds, ev, args.limit), model, rows, ev)
    if args.brackets:
        score_items("brackets", bracket_items(args.brackets, args.limit), model, rows)
    with atomic_path(os.path.join(args.out, "strength.csv")) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    text = table(rows)
    atomic_write_text(os.path.join(args.out, "strength.md"), text + "\n")
    print(text)
    if args.sheet:
        first = next(iter(bracket_items(args.brackets, 1) if args.brackets
                          else bsds_items(args.bsds, args.ev[-1], 1)))
        sheet(model, first[1], os.path.join(args.out, "strength_sheet.jpg"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
