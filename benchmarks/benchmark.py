#!/usr/bin/env python
"""Time jsymnet beside the PyTorch reference of the authors' release, on this machine.

Two cases, as in the paper: enhance one 1x3x400x600 image (a LOL frame), and
one training step on a batch of 2 random 180x180 crops through both directions
(loss, backward, gradient clip, Adam). Each framework runs each case in its
own process, on the same random network (the PyTorch worker saves it, jsymnet
loads it through the converter) and the same inputs. After the warm-up (Jittor
compiles its kernels on first use), their timed runs alternate, and the table
gives the medians, the speed-up (PyTorch time / jsymnet time), each process's
peak resident memory and how closely the two agree (max difference of the
enhanced images; relative difference of the first step's loss).

Without torch installed (pip install -e ".[torch]"), or with --no-torch, only
jsymnet is timed.

Memory: by default jsymnet trains with the reversible IFT backward
(train.memory_efficient in the config) and the PyTorch reference splits the
batch into two accumulated halves (--torch-accum 2), because in one piece it
holds every activation of the batch at once. With --backward ordinary jsymnet
does too: add --order sequential so the two processes do not run at the same
time. docs/benchmarks.md has the figures.

--device cuda runs both on the GPU (torch's CUDA build and Jittor's).

Examples:
  python benchmarks/benchmark.py                       # both cases, 1 warm-up + 5 runs
  python benchmarks/benchmark.py --cases train --backward ordinary --order sequential
  python benchmarks/benchmark.py --no-torch --repeat 3 --json bench.json
  python benchmarks/benchmark.py --nchw                # and the channels-first layout beside it
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    from jsymnet.cli import EXIT_FAILED, EXIT_OK, add_set_option, config_file, set_overrides
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/lol.yaml",
                   help="jsymnet model config; the release layout (default: %(default)s)")
    add_set_option(p, "train.memory_efficient=false")
    p.add_argument("--cases", nargs="+", default=["enhance", "train"],
                   choices=["enhance", "train"], help="what to time (default: both)")
    p.add_argument("--size", nargs=2, type=int, default=[400, 600], metavar=("H", "W"),
                   help="enhance input size (default: 400 600)")
    p.add_argument("--crop", type=int, default=180, help="training crop (default: 180)")
    p.add_argument("--batch", type=int, default=2, help="training batch (default: 2)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per framework (default: 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (default: 1)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for both frameworks (default: all cores)")
    p.add_argument("--backward", default="config", choices=["config", "reversible", "ordinary"],
                   help="jsymnet's training backward; 'config' follows train.memory_efficient "
                        "(default: %(default)s)")
    p.add_argument("--torch-accum", type=int, default=2,
                   help="the reference's training batch as this many accumulated parts "
                        "(default: %(default)s)")
    p.add_argument("--torch-malloc", default="system", choices=["system", "tuned"],
                   help="the reference's memory allocator policy: glibc's default, as PyTorch "
                        "users run it, or jsymnet's tuning (see jsymnet/utils/malloc_tuning.py)"
                        " (default: %(default)s)")
    p.add_argument("--no-torch", action="store_true", help="time jsymnet only")
    p.add_argument("--nchw", action="store_true",
                   help="also time jsymnet with N x C x H x W features (JSYMNET_LAYOUT=nchw, "
                        "the CPU layout before channels-last), in the same run")
    p.add_argument("--order", default="alternate", choices=["alternate", "sequential"],
                   help="interleave the frameworks' runs, or run one after the other "
                        "(default: %(default)s)")
    p.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = p.parse_args(argv)
    overrides = set_overrides(p, args.set)
    if args.repeat < 1 or args.warmup < 0:
        p.error("--repeat must be at least 1 and --warmup at least 0")
    if args.batch % args.torch_accum:
        p.error(f"--batch {args.batch} does not split into --torch-accum {args.torch_accum} parts")

    from benchlib.harness import BenchmarkError, format_table, run_case, torch_available
    from jsymnet.config import ConfigError, load_config
    from jsymnet.engine.step import backward_mode
    from jsymnet.utils.fileio import atomic_write_text

    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as e:
        p.error(str(e))
    config = config_file(cfg) if overrides else args.config  # the workers read a file
    backward = backward_mode(cfg["train"], args.backward)
    from benchlib.harness import NCHW
    frameworks = ["jsymnet"] + ([NCHW] if args.nchw else [])
    if not args.no_torch:
        if torch_available():
            frameworks.append("pytorch")
        else:
            print("torch is not installed: timing jsymnet only "
                  "(pip install -e '.[torch]' for the side-by-side table)")
    if "pytorch" in frameworks and cfg["model"]["codec"]["type"] != "vgg":
        p.error("the PyTorch reference is the release layout: use a VGG-codec config such as "
                "configs/lol.yaml, or --no-torch")

    cases = []
    try:
        for case in args.cases:
            shape = [1, 3, *args.size] if case == "enhance" else [args.batch, 3, args.crop,
                                                                 args.crop]
            print(f"{case} on {'x'.join(map(str, shape))}: {' and '.join(frameworks)}, "
                  f"{args.warmup} warm-up + {args.repeat} runs each, {args.order}", flush=True)
            cases.append(run_case(case, shape, config, args.repeat, args.warmup,
                                  args.device, backward, args.torch_accum, args.threads,
                                  frameworks, args.order, torch_malloc=args.torch_malloc,
                                  log=lambda msg: print(msg, flush=True)))
    except BenchmarkError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    print()
    print(format_table(cases))
    if args.json:
        atomic_write_text(args.json, json.dumps(cases, indent=1))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
