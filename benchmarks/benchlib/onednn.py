"""What oneDNN does on this machine: the ISA it runs, and the time of every primitive.

* :func:`isa` asks the oneDNN library Jittor loaded which instruction set its
  kernels use (``dnnl_get_effective_cpu_isa``), so a benchmark figure says where
  it was measured.
* :func:`verbose_run` runs a callable with oneDNN's verbose mode on
  (``dnnl_set_verbose(1)``: one line per executed primitive, with its time in
  ms) and groups the lines: convolutions by direction, reorders of activations
  and of weights, the rest. That is how it was found that NCHW convolutions
  spent 46% of their time in reorders.
* Each convolution line's problem (``mb1_ic64oc64_ih200oh200kh3..._iw300ow300kw3...``)
  gives its multiply-adds (:func:`conv_macs`), so a group also says how fast its
  kernels ran (GMAC/s): the figure that bounds what any layout change can gain.
"""
import ctypes
import os
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

# dnnl_cpu_isa_t of oneDNN 2.2 (oneapi/dnnl/dnnl_types.h)
ISA_NAMES = {0x0: "all", 0x1: "SSE4.1", 0x3: "AVX", 0x7: "AVX2", 0xf: "AVX-512 MIC",
             0x1f: "AVX-512 MIC 4ops", 0x27: "AVX-512 (avx512_core)",
             0x67: "AVX-512 VNNI (avx512_core_vnni)", 0xe7: "AVX-512 BF16 (avx512_core_bf16)",
             0x3e7: "AVX-512 AMX (avx512_core_amx)", 0x407: "AVX2 VNNI"}


def _library():
    from jsymnet.runtime import loaded_onednn
    path = loaded_onednn()
    return ctypes.CDLL(path) if path else None


def isa():
    """The ISA of oneDNN's kernels in this process (after Jittor loaded oneDNN), or None."""
    lib = _library()
    if lib is None:
        return None
    lib.dnnl_get_effective_cpu_isa.restype = ctypes.c_int
    value = lib.dnnl_get_effective_cpu_isa()
    return ISA_NAMES.get(value, hex(value))


def cpu_model():
    """The CPU's model name (/proc/cpuinfo) and this process's usable cores."""
    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores"


def _kind(fields):
    """A primitive line's group: conv by direction; reorders split into weights (the
    dims end in the kernel size, at most 7 x 7) and activations."""
    prim, prop = fields[3], fields[5]
    if prim == "convolution":
        return {"forward_inference": "convolution forward", "forward_training":
                "convolution forward", "backward_data": "convolution backward to data",
                "backward_weights": "convolution backward to weights"}.get(prop, "convolution")
    if prim == "reorder":
        dims = [int(d) for d in fields[-2].split("x") if d.isdigit()]
        weight = len(dims) >= 4 and max(dims[-2:]) <= 7
        return "reorder of weights" if weight else "reorder of activations"
    return prim


def conv_macs(problem):
    """Multiply-adds of one convolution from oneDNN's problem descriptor, or None where it
    lacks a size: ``mb * oc * ic / g * od * oh * ow * kd * kh * kw`` (the same count for
    the forward pass and both backward passes)."""
    dims = {k: int(v) for k, v in re.findall(r"([a-z]+)(\d+)", problem)}
    if not all(k in dims for k in ("mb", "ic", "oc", "kh", "kw")):
        return None
    out = {k: dims.get(k, dims.get("i" + k[1:])) for k in ("oh", "ow")}
    if None in out.values():
        return None
    return (dims["mb"] * dims["oc"] * dims["ic"] // dims.get("g", 1) * dims.get("od", 1)
            * out["oh"] * out["ow"] * dims.get("kd", 1) * dims["kh"] * dims["kw"])


def parse(lines):
    """{group: {"ms": total, "calls": n}} from oneDNN verbose ``exec`` lines; a convolution
    group also holds ``"gmac"``, its multiply-adds (those whose problem gives a size)."""
    out = defaultdict(lambda: {"ms": 0.0, "calls": 0})
    for line in lines:
        fields = line.strip().split(",")
        if len(fields) < 6 or fields[0] != "dnnl_verbose" or fields[1] != "exec":
            continue
        group = out[_kind(fields)]
        group["ms"] += float(fields[-1])
        group["calls"] += 1
        if fields[3] == "convolution":
            macs = conv_macs(fields[-2])
            group["gmac"] = group.get("gmac", 0.0) + (macs or 0) / 1e9
    return dict(out)


def verbose_run(run, sync):
    """``run()`` once with oneDNN's verbose mode on, ``sync(its result)`` executing it;
    returns :func:`parse` of its lines.

    oneDNN prints with C's stdio, so file descriptor 1 is pointed at a temporary
    file for the run (and restored after, whatever happens).
    """
    from .errors import BenchmarkError
    lib = _library()
    if lib is None:
        raise BenchmarkError("oneDNN is not loaded in this process (see "
                             "jsymnet.runtime_info()); --onednn needs it")
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+") as f:
        try:
            os.dup2(f.fileno(), 1)
            lib.dnnl_set_verbose(1)
            result = run()       # kept until synced: a dropped lazy var is never executed
            sync(result)
        finally:                 # verbose off and stdout back, even if the run failed
            lib.dnnl_set_verbose(0)
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
        f.seek(0)
        return parse(f)


def _rate(gmac, ms):
    return f"{gmac:.1f}", f"{1000 * gmac / ms:.1f}" if ms else ""


def format_shares(groups):
    """The groups as a table: ms, share of all oneDNN time, calls, and for convolutions
    their multiply-adds and the rate their kernels ran at."""
    total = sum(g["ms"] for g in groups.values()) or 1.0
    rows = [("oneDNN primitive", "ms", "share", "calls", "GMAC", "GMAC/s")]
    for name, g in sorted(groups.items(), key=lambda kv: -kv[1]["ms"]):
        rows.append((name, f"{g['ms']:.0f}", f"{100 * g['ms'] / total:.1f}%", str(g["calls"]),
                     *(_rate(g["gmac"], g["ms"]) if "gmac" in g else ("", ""))))
    reorders = sum(g["ms"] for n, g in groups.items() if n.startswith("reorder"))
    rows.append(("all reorders", f"{reorders:.0f}", f"{100 * reorders / total:.1f}%", "", "",
                 ""))
    convs = [g for g in groups.values() if "gmac" in g]
    if convs:
        rows.append(("all convolutions", f"{sum(g['ms'] for g in convs):.0f}",
                     f"{100 * sum(g['ms'] for g in convs) / total:.1f}%", "",
                     *_rate(sum(g["gmac"] for g in convs), sum(g["ms"] for g in convs))))
    rows.append(("all oneDNN", f"{total:.0f}", "100%", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)
