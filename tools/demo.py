#!/usr/bin/env python
"""Smoke demo: enhance one underexposed photo and say what was done.

With no IMAGE, a photo bundled with scikit-image is made a low-light capture
(-2 EV with sensor noise, jsymnet.data.lowlight) and then enhanced, so the demo
needs no data and no download. Uses --weights (a jsymnet checkpoint), else the
shipped default model weights/jsymnet_default.pkl.

Example:  python tools/demo.py --out demo.png
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


DEMO_EV = -2.0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", nargs="?", help="an underexposed photo (default: a bundled one)")
    p.add_argument("--weights",
                   help="jsymnet checkpoint (default: weights/jsymnet_default.pkl)")
    p.add_argument("--out", default="demo_enhanced.png", help="side-by-side output (default: %(default)s)")
    p.add_argument("--max-side", type=int, default=256,
                   help="downscale so the long side is at most this (default: %(default)s)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = p.parse_args(argv)

    import jsymnet
    import numpy as np
    from jsymnet.cli import EXPECTED_ERRORS, report
    from jsymnet.data.image_io import read_image, resize_max_side, write_image
    from jsymnet.data.sample import skimage_data_dir
    from jsymnet.data.lowlight import evaluation_input
    from jsymnet.inference import load_weights, run_rgb

    device = jsymnet.use_device(args.device)
    target = None
    if args.image:
        low = resize_max_side(read_image(args.image), args.max_side)
        what = args.image
    else:
        target = resize_max_side(read_image(skimage_data_dir() / "coffee.png"), args.max_side)
        low = evaluation_input(target, "coffee", DEMO_EV)
        what = f"scikit-image's coffee.png as a low-light capture ({DEMO_EV:+g} EV, with noise)"

    try:
        model, model_text = load_weights(args.weights)
    except EXPECTED_ERRORS as exc:
        return report(exc)
    n_params = sum(p.numel() for p in model.trainable_parameters())

    t = time.perf_counter()
    y = run_rgb(model, low)
    elapsed = time.perf_counter() - t
    panels = [low, y] + ([target] if target is not None else [])
    write_image(args.out, np.concatenate(panels, axis=1))

    print(f"input : {what} ({low.shape[1]}x{low.shape[0]})")
    print(f"model : {model_text}; {n_params:,} trainable parameters")
    print(f"device: {device}; enhance took {elapsed:.2f} s (first run includes kernel compilation)")
    if target is not None:
        from jsymnet.metrics import psnr
        print(f"PSNR vs the original photo: input {psnr(low, target):.2f} dB -> "
              f"enhanced {psnr(y, target):.2f} dB")
    print(f"wrote {args.out} (input | enhanced{' | original' if target is not None else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
