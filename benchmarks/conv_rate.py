#!/usr/bin/env python
"""How fast a convolution can run on this machine: the ceiling on what any layout or
operator change can gain.

Times one 3x3 convolution (stride 1, padding 1; the shape of most of the network's) in
jsymnet's convolution path (channels-last through Jittor's oneDNN 2.2 on the CPU) and in
torch (``channels_last``, its own oneDNN), each in its own process, one after the other
(never two at once), and prints the rate its kernels reach in GMAC/s (multiply-adds per
second): the forward pass alone, and forward plus both backward passes (to the data and
to the weights, three times the forward's multiply-adds).

With ``--config``, the jsymnet process also counts the multiply-adds of that network's
convolutions for one enhance of ``--size`` (from oneDNN's verbose lines,
``benchlib.onednn.conv_macs``) and prints the time they take at the best forward rate
measured here (the single convolution's, or the network's own): no implementation built
on these kernels enhances faster than that.

Examples:
  python benchmarks/conv_rate.py                                  # 1 x 64 x 200 x 300 -> 64
  python benchmarks/conv_rate.py --shape 1 32 100 150 --out-channels 32
  python benchmarks/conv_rate.py --config configs/default/bsds.yaml --size 400 600
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _median_seconds(fn, repeat, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _jittor_worker(args):
    import jsymnet  # noqa: F401  (sets the runtime up before Jittor)
    import jittor as jt
    import numpy as np
    from jsymnet.models import layout

    n, c, h, w = args.shape
    rng = np.random.default_rng(0)
    L = layout.active()
    x = L.to_internal(jt.array(rng.standard_normal((n, c, h, w), dtype=np.float32)))
    weight = jt.array(0.05 * rng.standard_normal((args.out_channels, c, 3, 3), dtype=np.float32))
    x.sync()

    def forward():
        with jt.no_grad():
            L.conv(x, weight, padding=1).sync()

    def training():
        y = L.conv(x, weight, padding=1)
        gx, gw = jt.grad(y.sum(), [x, weight])
        jt.sync([gx, gw])

    out = {"framework": f"jsymnet (Jittor {jt.__version__}, features {L.name.upper()})",
           "forward": _median_seconds(forward, args.repeat, args.warmup),
           "training": _median_seconds(training, args.repeat, args.warmup)}
    if args.config:
        from benchlib.profiling import onednn_profile
        _, groups = onednn_profile("enhance", [1, 3, *args.size], args.config, "reversible")
        out["network_gmac"] = sum(g.get("gmac", 0.0) for g in groups.values())
        out["network_conv_ms"] = sum(g["ms"] for g in groups.values() if "gmac" in g)
    return out


def _torch_worker(args):
    import torch
    torch.manual_seed(0)
    n, c, h, w = args.shape
    x = torch.randn(n, c, h, w).to(memory_format=torch.channels_last)
    weight = (0.05 * torch.randn(args.out_channels, c, 3, 3)).to(
        memory_format=torch.channels_last)

    def forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(x, weight, padding=1)

    xg, wg = x.clone().requires_grad_(), weight.clone().requires_grad_()

    def training():
        xg.grad = wg.grad = None
        torch.nn.functional.conv2d(xg, wg, padding=1).sum().backward()

    return {"framework": f"torch {torch.__version__} (channels_last)",
            "forward": _median_seconds(forward, args.repeat, args.warmup),
            "training": _median_seconds(training, args.repeat, args.warmup)}


def _run_worker(which, argv):
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--worker", which]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return None, f"{which} worker failed (exit {proc.returncode}): " + " | ".join(tail)
    return json.loads(lines[-1]), None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", nargs=4, type=int, default=[1, 64, 200, 300],
                   metavar=("N", "C", "H", "W"), help="input (default: 1 64 200 300)")
    p.add_argument("--out-channels", type=int, default=64, help="output channels (default: 64)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs, median (default: 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first (default: 2)")
    p.add_argument("--config", default=None,
                   help="also count this network's convolution multiply-adds for one enhance")
    p.add_argument("--size", nargs=2, type=int, default=[400, 600], metavar=("H", "W"),
                   help="the --config enhance's input size (default: 400 600)")
    p.add_argument("--no-torch", action="store_true", help="time jsymnet only")
    p.add_argument("--worker", choices=["jittor", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps((_jittor_worker if args.worker == "jittor" else _torch_worker)(args)))
        return 0

    from benchlib.onednn import cpu_model
    n, c, h, w = args.shape
    gmac = n * args.out_channels * c * h * w * 9 / 1e9
    print(f"3x3 convolution {n}x{c}x{h}x{w} -> {args.out_channels} channels: {gmac:.2f} GMAC "
          f"forward; {cpu_model()}; medians of {args.repeat}", flush=True)
    results = []
    for which in ["jittor"] + ([] if args.no_torch else ["torch"]):
        res, err = _run_worker(which, argv)
        if err:
            print(err)
            continue
        results.append(res)
        print(f"  {res['framework']}: forward {1000 * res['forward']:.1f} ms "
              f"({gmac / res['forward']:.1f} GMAC/s); forward + backward to data and weights "
              f"{1000 * res['training']:.1f} ms ({3 * gmac / res['training']:.1f} GMAC/s)",
              flush=True)
        if "network_gmac" in res:
            net = res["network_gmac"]
            print(f"  {args.config}, enhance 1x3x{args.size[0]}x{args.size[1]}: {net:.2f} GMAC "
                  f"of convolution, run in {res['network_conv_ms']:.0f} ms of oneDNN "
                  f"({net / res['network_conv_ms'] * 1000:.1f} GMAC/s)")
    if results:
        rates = [gmac / r["forward"] for r in results] + [
            1000 * r["network_gmac"] / r["network_conv_ms"] for r in results
            if r.get("network_conv_ms")]
        best = max(rates)
        net = next((r["network_gmac"] for r in results if "network_gmac" in r), None)
        if net is not None:
            print(f"  at the best forward rate measured here ({best:.1f} GMAC/s) those "
                  f"convolutions alone take {net / best:.3f} s")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
