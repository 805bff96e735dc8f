"""Speed and memory of the network on the current device (``tools/benchmark.py``).

Each measurement runs in a fresh process, so that one configuration's peak
memory never shows up in another's.
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CASES = ("enhance", "train")


def _measure(case, config, size, batch, repeat, warmup, device, memory_efficient=False):
    """Runs inside the child process; returns a dict of figures."""
    import jsymnet
    import jittor as jt
    from jsymnet.config import load_config
    from jsymnet.engine import make_optimizer, train_step
    from jsymnet.engine.reversible import reversible_step

    jsymnet.use_device(device)
    jt.set_global_seed(0)
    cfg = load_config(config, {"model": {"codec": {"weights": None}}})
    model = jsymnet.build_model(cfg, load_codec_weights=True)
    h, w = size
    times = []
    if case == "enhance":
        model.eval()
        x = jt.rand(batch, 3, h, w)
        for i in range(warmup + repeat):
            jt.sync_all(True)
            t = time.perf_counter()
            with jt.no_grad():
                model.enhance(x).sync()
            jt.sync_all(True)
            if i >= warmup:
                times.append(time.perf_counter() - t)
    else:
        model.train()
        opt = make_optimizer(model, cfg["train"]["optim"])
        step = reversible_step if memory_efficient else train_step
        x_lq, x_hq = jt.rand(batch, 3, h, w) * 0.3, jt.rand(batch, 3, h, w)
        for i in range(warmup + repeat):
            jt.sync_all(True)
            t = time.perf_counter()
            step(model, opt, x_lq, x_hq, cfg["train"])
            jt.sync_all(True)
            if i >= warmup:
                times.append(time.perf_counter() - t)
    if case == "train" and memory_efficient:
        case = "train (reversible)"
    out = {"case": case, "device": jsymnet.runtime_info()["backend"],
           "onednn": jsymnet.runtime_info()["onednn"], "shape": [batch, 3, h, w],
           "times_s": times, "median_s": statistics.median(times),
           "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}
    if out["device"] == "cuda":
        try:
            out["peak_gpu_gb"] = jt.flags.max_memory_allocated / 2 ** 30  # may not exist
        except AttributeError:
            pass
    return out


def run_case(case, config, size, batch, repeat, warmup, device, memory_efficient=False,
             timeout=3600):
    """Measure one case in a child process; returns its dict (or one with 'error')."""
    args = json.dumps([case, config, list(size), batch, repeat, warmup, device, memory_efficient])
    code = ("import json, sys; from jsymnet.benchmark import _measure; "
            f"print('RESULT' + json.dumps(_measure(*json.loads({args!r}))))")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"case": case, "error": f"timed out after {timeout} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"case": case, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    return json.loads(lines[-1][len("RESULT"):])


def format_table(results):
    rows = [("case", "device", "input", "median s", "runs", "peak RSS GB")]
    for r in results:
        if "error" in r:
            rows.append((r["case"], "-", "-", "failed", "-", r["error"][:60]))
            continue
        rows.append((r["case"], r["device"] + (" +oneDNN" if r["onednn"] else ""),
                     "x".join(map(str, r["shape"])), f"{r['median_s']:.3f}",
                     str(len(r["times_s"])), f"{r['peak_rss_gb']:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)
