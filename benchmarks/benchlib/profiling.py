"""Where the time goes: Jittor's profiler over one enhance or one training step.

``profile()`` warms up (so compilation is not counted), runs the case once
under ``jt.profile_scope`` and groups the kernels Jittor ran into kinds a
reader can act on: oneDNN convolutions (forward, backward to the data,
backward to the weights), convolutions Jittor ran itself (reindex-reduce),
fused element-wise kernels, reductions (the attention's pooling and the
loss), slicing and concatenation (the coupling's split and join), and the rest.
``benchmarks/profile_model.py`` prints it.
"""
import time

KINDS = (
    ("conv (oneDNN)", lambda ops, name: name.startswith("mkl_conv«")),
    ("conv backward to data (oneDNN)", lambda ops, name: name.startswith("mkl_conv_backward_x")),
    ("conv backward to weights (oneDNN)",
     lambda ops, name: name.startswith("mkl_conv_backward_w")),
    ("conv in Jittor (reindex + reduce)",
     lambda ops, name: "reindex" in ops and ("reduce" in ops or "reindex_reduce" in ops)),
    ("reductions (pooling, loss, grad sums)",
     lambda ops, name: "reduce" in ops or "reindex_reduce" in ops),
    ("slicing / concat (getitem, setitem)",
     lambda ops, name: name.startswith(("getitem", "setitem", "concat")) or "concat" in ops),
    ("element-wise (fused)", lambda ops, name: bool(ops)),
)


def _ops(name):
    """The op names inside one (possibly fused) kernel's profiler key."""
    return [part.split(":", 1)[1] for part in name.split("«") if part.startswith("opkey")]


def classify(name):
    ops = _ops(name)
    for kind, test in KINDS:
        if test(ops, name):
            return kind
    return "other"


def summarise(report):
    """{kind: {"seconds", "calls"}} from a ``jt.profile_scope`` report."""
    header, rows = report[0], report[1:]
    col = {k: i for i, k in enumerate(header)}
    out = {}
    for row in rows:
        if float(row[col["TotalTime"]]) == 0:  # a pattern relayed to another kernel (oneDNN)
            continue
        kind = classify(row[col["Name"]])
        s = out.setdefault(kind, {"seconds": 0.0, "calls": 0})
        s["seconds"] += float(row[col["TotalTime"]]) / 1e9
        s["calls"] += int(float(row[col["Count"]]))
    return out


def _sync(result):
    """Execute a case's result: the enhanced image is a lazy var, and a dropped lazy var
    is never computed (the training step's loss is already a float)."""
    import jittor as jt
    if hasattr(result, "sync"):
        result.sync()
    jt.sync_all(True)


def profile(case, shape, config="configs/lol.yaml", backward="reversible", warmup=1,
            device="cpu"):
    """Profile one run of ``case``; returns (wall seconds, summary, raw report)."""
    import jittor as jt
    from .harness import build_case

    run = build_case(case, shape, config, backward, device)
    for _ in range(warmup):
        _sync(run())
    with jt.profile_scope(warmup=0, rerun=0) as report:
        start = time.perf_counter()
        _sync(run())
        wall = time.perf_counter() - start
    return wall, summarise(report), report


def onednn_profile(case, shape, config="configs/lol.yaml", backward="reversible", warmup=1,
                   device="cpu"):
    """One run of ``case`` in oneDNN's verbose mode, after ``warmup`` runs; returns
    (wall seconds, :func:`benchlib.onednn.parse` groups)."""
    import jittor as jt
    from .harness import build_case
    from .onednn import verbose_run

    run = build_case(case, shape, config, backward, device)
    for _ in range(warmup):
        _sync(run())
    start = time.perf_counter()
    groups = verbose_run(run, _sync)
    return time.perf_counter() - start, groups


def format_summary(wall, summary):
    rows = [("kind", "seconds", "share", "calls", "ms per call")]
    total = sum(s["seconds"] for s in summary.values())
    for kind, s in sorted(summary.items(), key=lambda kv: -kv[1]["seconds"]):
        per = 1000 * s["seconds"] / s["calls"] if s["calls"] else 0.0
        rows.append((kind, f"{s['seconds']:.2f}", f"{100 * s['seconds'] / total:.1f}%",
                     str(s["calls"]), f"{per:.2f}"))
    rows.append(("all kernels", f"{total:.2f}", "100%", "", ""))
    rows.append(("wall clock (profiled run)", f"{wall:.2f}", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)
