#!/usr/bin/env python
"""How much a model's brightness depends on the context its channel attention sees.

Every RSCA's channel attention gates its features by a mean over the whole input
(jsymnet/models/rram.py). A model trained on crops sees crop means; at inference,
jsymnet.inference gives it the whole photo's (exactly, tiled or not). Where the two differ,
as in a night photo whose lamps are a small part of each crop but weigh in the photo's mean,
the model can brighten less on the whole photo than it learnt to on crops.

For each photo of each --folder (real low-light photos without targets: lol_low, lime_low),
this prints the mean luminance (BT.709) of the input, of the model's output on the whole
photo, and of its output on independent --tile x --tile tiles (each tile's attention sees
only that tile, as in training; the photo is cropped to whole tiles first). Both outputs go
through jsymnet.inference.run_rgb, the one inference path.

  python tools/attention_context.py ../shared/data/lime_low ../shared/data/lol_low
  python tools/attention_context.py ../shared/data/lime_low --weights runs/x/final.pkl --tile 256
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from compare import LOWLIGHT_RANGE, luminance  # noqa: E402  (the report card's own figures)


def tiled_independently(model, img, tile):
    """``img`` (H x W x 3, whole tiles) run tile by tile, each tile on its own."""
    from jsymnet.inference import run_rgb
    out = np.empty_like(img)
    for i in range(0, img.shape[0], tile):
        for j in range(0, img.shape[1], tile):
            out[i:i + tile, j:j + tile] = run_rgb(
                model, np.ascontiguousarray(img[i:i + tile, j:j + tile]))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", help="folders of photos")
    p.add_argument("--weights", default=None,
                   help="jsymnet checkpoint (default: weights/jsymnet_default.pkl)")
    p.add_argument("--tile", type=int, default=128,
                   help="independent tile size (default: 128, the training crop of the "
                        "default model's stages 1 and 2)")
    args = p.parse_args(argv)

    from jsymnet.data.image_io import read_image
    from jsymnet.data.pairs import images_by_stem, natural_key
    from jsymnet.inference import load_weights, run_rgb
    model = load_weights(args.weights)[0]
    t = args.tile
    counts = {"whole": 0, "tiles": 0}
    total = 0
    print(f"{'photo':28s} {'size':>10s} {'input':>6s} {'whole':>6s} {'tiles ' + str(t):>9s}")
    for folder in args.folders:
        photos = images_by_stem(folder)
        for stem in sorted(photos, key=natural_key):
            path = photos[stem]
            img = read_image(path)
            h, w = img.shape[0] // t * t, img.shape[1] // t * t
            if not h or not w:
                print(f"{path}: smaller than one {t} x {t} tile, skipped")
                continue
            img = np.ascontiguousarray(img[:h, :w])
            lum = {"input": luminance(img), "whole": luminance(run_rgb(model, img)),
                   "tiles": luminance(tiled_independently(model, img, t))}
            total += 1
            for k in counts:
                counts[k] += LOWLIGHT_RANGE[0] <= lum[k] <= LOWLIGHT_RANGE[1]
            name = os.path.join(os.path.basename(os.path.normpath(folder)), path.name)
            print(f"{name:28s} {f'{w}x{h}':>10s} {lum['input']:6.3f} {lum['whole']:6.3f} "
                  f"{lum['tiles']:9.3f}", flush=True)
    if not total:
        print("no photos found")
        return 2
    print(f"in {LOWLIGHT_RANGE[0]}-{LOWLIGHT_RANGE[1]}: whole {counts['whole']} of {total}, "
          f"tiles {counts['tiles']} of {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
