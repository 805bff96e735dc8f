"""Evaluate a jsymnet checkpoint on a test set: enhanced images, per-image CSV, summary.

Examples:
  python tools/test.py --dataset sample                     # offline, no download
  python tools/test.py --dataset lol --data-root data/LOL --weights lol.pkl
  python tools/test.py --dataset fivek --data-root data/FiveK --weights fivek.pkl
  python tools/test.py --dataset folder --low DIR --high DIR --weights model.pkl
  python tools/test.py -c configs/lol.yaml --set data.eval_max_side=512 --weights lol.pkl

Scores follow the paper's release convention (docs/design.md#evaluation) unless
--y-channel, --crop-border or --gt-mean say otherwise; the convention is
printed with the results.
"""
import argparse
import sys
from pathlib import Path

from . import EXIT_OK, add_import_option, add_set_option, import_modules, set_overrides
from ..shifts import EVAL_SHIFTS


def parse_args(argv=None):
    from ..data.datasets import file_pair_datasets
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=file_pair_datasets(), default=None,
                   help="test set (default: the config's data.dataset, else 'sample': "
                        "pairs made from photos bundled with scikit-image)")
    p.add_argument("--data-root", help="dataset folder for lol/fivek (default: config's "
                                       "data.root)")
    p.add_argument("--low", help="folder dataset: low-light input images")
    p.add_argument("--high", help="folder dataset: target images (names match --low)")
    p.add_argument("--split", default="test", choices=("train", "test", "all"),
                   help="which part of the dataset (default: test)")
    p.add_argument("--weights", default=None,
                   help="jsymnet checkpoint (.pkl; convert release .pth files with "
                        "tools/convert_weights.py). Default: weights/jsymnet_default.pkl if it "
                        "exists. 'random' = untrained network from --config (smoke test only)")
    p.add_argument("-c", "--config", help="YAML config: data options (and the network for "
                                    "--weights random)")
    add_set_option(p, "data.eval_max_side=512")
    add_import_option(p)
    p.add_argument("--out", default=None, help="output folder (default: results/<dataset>)")
    p.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"),
                   help="where to run (default: auto = CUDA if available)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N pairs")
    p.add_argument("--max-side", type=int, default=None,
                   help="downscale pairs to this long side first (quick runs; NOT the paper "
                        "protocol)")
    p.add_argument("--sheet", type=int, default=4,
                   help="images in the comparison sheet comparison.png (default 4; 0 = none)")
    g = p.add_argument_group("metric convention (default: the paper's release convention)")
    g.add_argument("--y-channel", action="store_true", help="score the BT.601 Y channel only")
    g.add_argument("--crop-border", type=int, default=0, help="drop N pixels on each side")
    g.add_argument("--gt-mean", action="store_true",
                   help="scale each output to the target's mean gray level first")
    p.add_argument("--lpips", action="store_true",
                   help="also score LPIPS (VGG, v0.1), the texture measure PSNR misses; make "
                        "its weights once with tools/get_lpips.py")
    p.add_argument("--shifts", "--phases", type=int, default=EVAL_SHIFTS, metavar="K",
                   help="average each output over K one-pixel shifts of the codec's block "
                        "grid, as jsymnet.enhance does by default (jsymnet/shifts.py; "
                        "default: %(default)s, the network alone: the paper's protocol)")
    p.add_argument("--strip-metadata", action="store_true",
                   help="write images/ without the inputs' EXIF (GPS included), XMP and DPI "
                        "(kept by default; the ICC profile always stays)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    args.overrides = set_overrides(p, args.set)
    return args


def main(argv=None):
    args = parse_args(argv)
    import jsymnet  # prepares Jittor (before any jittor import)
    from jsymnet import evaluation, metrics
    from jsymnet.config import load_config
    from . import EXPECTED_ERRORS, report

    try:
        import_modules(args.imports)
        jsymnet.use_device(args.device)
        cfg = load_config(args.config, args.overrides)
        configured = args.config or "dataset" in args.overrides.get("data", {})
        dataset = args.dataset or (cfg["data"]["dataset"] if configured else "sample")
        if args.low or args.high:
            dataset = args.dataset or "folder"
        convention = metrics.Convention(args.y_channel, args.crop_border, args.gt_mean)
        out = args.out or str(Path("results") / dataset)
        summary = evaluation.run(dataset, out, weights=args.weights, config=cfg,
                               root=args.data_root, low=args.low, high=args.high,
                               split=args.split, limit=args.limit, max_side=args.max_side,
                               convention=convention, sheet_count=args.sheet,
                               progress=not args.no_progress, lpips=args.lpips,
                               strip_metadata=args.strip_metadata, shifts=args.shifts)
    except EXPECTED_ERRORS as exc:
        return report(exc)
    print(summary.table())
    print(f"wrote {out}/: images/, results.csv, summary.txt, summary.json"
          + (", comparison.png" if args.sheet else ""))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
