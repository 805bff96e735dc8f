#!/usr/bin/env python
"""Build a FiveK-style pair folder from any folder of good photos (Distort-and-Recover style).

Each photo is the target; its underexposed input is synthesised by random
global operators seeded from the file name (jsymnet/data/synthesis.py has the
operators and ranges). Output, ready for `tools/test.py --dataset fivek`:

  OUT/train/input/  OUT/train/expertC/  OUT/test/input/  OUT/test/expertC/

Photos are sorted by name; the last --test-count (or --test-fraction) go to test.

Example:
  python tools/make_pairs.py --targets ~/photos --out data/my_pairs --max-side 512
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", required=True, help="folder of target (well-exposed) photos")
    p.add_argument("--out", required=True, help="output folder")
    split = p.add_mutually_exclusive_group()
    split.add_argument("--test-count", type=int, default=None,
                       help="photos (last by name) that go to test")
    split.add_argument("--test-fraction", type=float, default=0.1,
                       help="fraction of photos for test when --test-count is not given "
                            "(default 0.1, FiveK's 500 of 5000)")
    p.add_argument("--max-side", type=int, default=None,
                   help="downscale targets to this long side first (default: keep size)")
    p.add_argument("--seed", type=int, default=0, help="base seed (with the name) for the "
                                                       "distortions")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from jsymnet.cli import EXIT_OK, report
    from jsymnet.data.make_pairs import make_pairs
    from jsymnet.data import DatasetNotFoundError, ImageReadError
    try:
        counts = make_pairs(args.targets, args.out, args.test_count, args.test_fraction,
                            args.max_side, args.seed)
    except (DatasetNotFoundError, ImageReadError, ValueError) as exc:
        return report(exc)
    print(f"wrote {counts['train']} train and {counts['test']} test pairs to {args.out} "
          f"(operators per image in {args.out}/operators.txt)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
