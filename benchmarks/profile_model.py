#!/usr/bin/env python
"""Show where jsymnet spends its time: one enhance or training step under Jittor's profiler.

After a warm-up run (compilation is not counted), one run of the case is
profiled and its kernels grouped by kind: oneDNN convolutions (forward and
backward), convolutions Jittor runs itself, fused element-wise kernels,
reductions, slicing / concatenation. Use it to check what a change to the
model or to jt.flags does to the balance.

``--onednn`` instead runs the case once with oneDNN's verbose mode and groups
oneDNN's own time: convolutions by direction, reorders of activations and of
weights (how much of it only moves memory between layouts).
``--layout nchw`` runs the features N x C x H x W (what every CPU run did before
channels-last), for a before/after on the same machine.

Examples:
  python benchmarks/profile_model.py --case enhance --size 400 600
  python benchmarks/profile_model.py --case train --size 180 180 --batch 2 --backward ordinary
  python benchmarks/profile_model.py --case enhance --onednn --layout nchw
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    from jsymnet.cli import EXIT_OK, add_set_option, set_overrides
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", default="enhance", choices=["enhance", "train"])
    p.add_argument("--config", default="configs/lol.yaml", help="model config (default: %(default)s)")
    add_set_option(p, "model.subnet.rounds=2")
    p.add_argument("--size", nargs=2, type=int, default=[400, 600], metavar=("H", "W"),
                   help="input size (default: 400 600)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default: 1)")
    p.add_argument("--backward", default="config", choices=["config", "reversible", "ordinary"],
                   help="training backward; 'config' follows train.memory_efficient")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--top", type=int, default=0,
                   help="also list the N most expensive kernels by name")
    p.add_argument("--onednn", action="store_true",
                   help="group oneDNN's primitives (verbose mode) instead of Jittor's kernels")
    p.add_argument("--layout", default=None, choices=["auto", "nchw", "nhwc"],
                   help="feature layout (default: JSYMNET_LAYOUT, else auto: channels-last "
                        "on the CPU with oneDNN)")
    args = p.parse_args(argv)
    overrides = set_overrides(p, args.set)
    if args.layout:
        os.environ["JSYMNET_LAYOUT"] = args.layout

    from jsymnet.config import ConfigError, load_config
    from jsymnet.engine.step import backward_mode
    from benchlib.profiling import format_summary, profile

    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as e:
        p.error(str(e))
    backward = backward_mode(cfg["train"], args.backward)
    shape = [args.batch, 3, *args.size]
    what = args.case + (f" ({backward} backward)" if args.case == "train" else "")
    from jsymnet.models import layout
    print(f"profiling {what} on {'x'.join(map(str, shape))}, features "
          f"{layout.active().name.upper()} (1 warm-up run first) ...", flush=True)
    if args.onednn:
        from benchlib.onednn import cpu_model, format_shares, isa
        from benchlib.profiling import onednn_profile
        wall, groups = onednn_profile(args.case, shape, cfg if overrides else args.config,
                                      backward, device=args.device)
        print(f"{cpu_model()}; oneDNN ISA: {isa()}")
        print(format_shares(groups))
        print(f"wall clock (verbose run): {wall:.2f} s")
        return EXIT_OK
    wall, summary, report = profile(args.case, shape, cfg if overrides else args.config,
                                    backward, device=args.device)
    print(format_summary(wall, summary))
    if args.top:
        col = {k: i for i, k in enumerate(report[0])}
        rows = sorted(report[1:], key=lambda r: -float(r[col["TotalTime"]]))[:args.top]
        print(f"\nthe {len(rows)} most expensive kernels:")
        for r in rows:
            print(f"  {float(r[col['TotalTime']]) / 1e9:8.3f} s  {int(float(r[col['Count']])):5d}"
                  f" calls  {r[col['Name']][:110]}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
