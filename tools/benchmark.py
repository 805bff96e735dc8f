#!/usr/bin/env python
"""Time the network on this machine: enhance, and one training step (both directions).

Defaults follow the paper: enhance a 1x3x400x600 image (a LOL frame), and a
training step on a batch of 2 random 180x180 crops through both directions
with backward and the Adam update. Each case runs in a fresh process, after
warm-up runs (Jittor compiles its kernels on the first); the median is printed
with the process's peak resident memory. The codec uses random weights (speed
does not depend on them).

Example:  python tools/benchmark.py --repeat 5
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/lol.yaml", help="model config (default: %(default)s)")
    p.add_argument("--cases", nargs="+", default=["enhance", "train"],
                   choices=["enhance", "train"], help="what to time (default: both)")
    p.add_argument("--size", nargs=2, type=int, default=[400, 600], metavar=("H", "W"),
                   help="enhance input size (default: 400 600)")
    p.add_argument("--crop", type=int, default=180, help="training crop (default: 180)")
    p.add_argument("--batch", type=int, default=2, help="training batch (default: 2)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per case (default: 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (default: 1)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--memory-efficient", action="store_true",
                   help="train with the reversible IFT backward (jsymnet/engine/reversible.py)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = p.parse_args(argv)

    from jsymnet.benchmark import format_table, run_case
    from jsymnet.utils.fileio import atomic_write_text

    results = []
    for case in args.cases:
        size = args.size if case == "enhance" else (args.crop, args.crop)
        batch = 1 if case == "enhance" else args.batch
        print(f"timing {case} on {batch}x3x{size[0]}x{size[1]} "
              f"({args.warmup} warm-up + {args.repeat} runs) ...", flush=True)
        results.append(run_case(case, args.config, size, batch, args.repeat, args.warmup,
                                args.device, args.memory_efficient))
    print(format_table(results))
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=1))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
