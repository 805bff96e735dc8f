#!/usr/bin/env python
"""How much 4 x 4 block grid a model prints on real photos.

A Haar codec of L levels codes 2^L x 2^L blocks (jsymnet/models/codec.py), so an error the
network makes in one band over a flat area repeats with that period: a faint lattice on
skies and walls, visible at 200% zoom, that costs little PSNR but much SSIM and LPIPS.
This prints, for each set and method, the median over the set's images of

    grid = RMS of losses.block_pattern(img - GaussianBlur(img, sigma), period, window)

(the part of the image's high-pass, away from its border, that repeats every ``period`` pixels within each
``window`` x ``window`` square: a natural photo has no preferred phase, so what remains is
the grid; the high-pass keeps a smooth ramp from reading as a pattern), x 1000, beside the
same figure of the input and the target. An output with a grid well above its input's has
printed one.

Sets are tools/compare.py's (the same images, held out the same way):
  python tools/grid_check.py --fivek ../shared/data/fivek_dpe --bsds ../shared/data/bsds500/test \\
      --model default=weights/jsymnet_default.pkl --model new=runs/x/final.pkl --phases 1
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from compare import (bracket_items, bsds_items, model_method, model_methods,  # noqa: E402
                     pair_items)
from jsymnet.phases import DEFAULT_PHASES, check_phases  # noqa: E402

HIGHPASS_SIGMA = 2.0    # px: wider than a 4 x 4 block, narrower than a window
BORDER = 8              # px left out on each side: where the blur sees the mirrored border


def grid_rms(img, period, window):
    """RMS of the period-``period`` pattern of ``img``'s (H x W x 3, [0, 1]) high-pass,
    :data:`BORDER` pixels in from each side (a multiple of any period up to 8, so the
    phases stay the image's)."""
    import jittor as jt
    from jsymnet.losses import block_pattern
    img = np.asarray(img, np.float32)
    high = (img - cv2.GaussianBlur(img, (0, 0), HIGHPASS_SIGMA))[BORDER:-BORDER, BORDER:-BORDER]
    pattern = block_pattern(jt.array(np.ascontiguousarray(high.transpose(2, 0, 1))[None]),
                            period, window)
    return float(np.sqrt(np.mean(np.square(pattern.numpy()))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fivek", help="folder with low/ and high/ pairs")
    p.add_argument("--bsds", help="folder of well-exposed photos, fed as they are (set bsds@good)")
    p.add_argument("--brackets", help="folder of exposure brackets: the held-out scenes' pairs")
    p.add_argument("--model", action="append", default=[], metavar="NAME=CHECKPOINT",
                   help="a jsymnet checkpoint (repeatable; default: default=the default model)")
    p.add_argument("--phases", type=int, default=DEFAULT_PHASES, metavar="K",
                   help="passes of every --model (jsymnet/phases.py; default: %(default)s, "
                        "jsymnet's)")
    p.add_argument("--period", type=int, default=4,
                   help="the grid's period, 2 ** model.codec.haar_levels (default: %(default)s)")
    p.add_argument("--window", type=int, default=32,
                   help="square over which a phase's mean is taken (default: %(default)s)")
    p.add_argument("--limit", type=int, default=30, help="first N images of each set")
    args = p.parse_args(argv)
    if not (args.fivek or args.bsds or args.brackets):
        p.error("give at least one of --fivek, --bsds, --brackets")
    if args.period < 1 or args.window % args.period:
        p.error("--window must be a multiple of --period")

    from jsymnet import JsymnetError
    from jsymnet.cli import EXIT_OK, report
    try:
        check_phases(args.phases)
        methods = model_methods(args.model, args.phases, p.error) or \
            {"default": model_method(None, args.phases)}
        sets = []
        if args.fivek:
            sets.append(("fivek", pair_items(args.fivek, args.limit)))
        if args.bsds:
            sets.append(("bsds@good", bsds_items(args.bsds, None, args.limit)))
        if args.brackets:
            sets.append(("brackets", bracket_items(args.brackets, args.limit)))
        names = ["input", "target"] + list(methods)
        print(f"grid RMS x 1000 (period {args.period}, window {args.window}), median over "
              f"each set")
        print("| set | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 1) + "|")
        for label, items in sets:
            values = {n: [] for n in names}
            count = 0
            for _, low, high in items:
                values["input"].append(grid_rms(low, args.period, args.window))
                values["target"].append(grid_rms(high, args.period, args.window))
                for name, fn in methods.items():
                    values[name].append(grid_rms(fn(low), args.period, args.window))
                count += 1
            print(f"| {label} ({count}) | " + " | ".join(
                f"{1000 * np.median(values[n]):.2f}" for n in names) + " |", flush=True)
        return EXIT_OK
    except JsymnetError as e:
        return report(e)


if __name__ == "__main__":
    sys.exit(main())
