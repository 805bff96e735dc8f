"""The performance harness behind ``benchmarks/benchmark.py``: jsymnet beside the PyTorch reference.

Each configuration (framework x case) runs in its own worker process, so one's
peak memory never shows in another's, and a worker never loads the other
framework (Jittor and torch crash each other in one process). The PyTorch
worker (benchmarks/reference/bench_torch.py) builds the reference release
generator with seeded random weights and saves them; the Jittor worker loads
that file through the converter, so both run the same network on the same
inputs, and the harness checks that they agree (the enhanced images, or the
first step's loss). After the warm-up, timed runs alternate between the
workers (A B, B A, ...) so that drift in the machine's speed hits both alike.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

from benchlib.errors import BenchmarkError  # noqa: F401  (re-exported for the scripts)
from reference import bench_protocol as proto  # benchmarks/ is on sys.path (see benchlib/__init__.py)

CASES = ("enhance", "train")
FRAMEWORKS = ("jsymnet", "pytorch")
# jsymnet with N x C x H x W features (JSYMNET_LAYOUT=nchw), the layout every CPU run had
# before channels-last: a before/after measured in the same run
NCHW = "jsymnet-nchw"
TOOLS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TOOLS_DIR.parent
REFERENCE_DIR = TOOLS_DIR / "reference"


def torch_available():
    return find_spec("torch") is not None


# -- the Jittor side ----------------------------------------------------------------------

def build_case(case, shape, config="configs/lol.yaml", backward="reversible", device="cpu",
               weights=None, seed=0):
    """jsymnet set up for one case; returns ``run()``, which executes it once and
    returns the enhanced image (a Var, executed) or the training step's total loss.

    ``weights``: a release generator file (the PyTorch worker's), loaded through
    the converter; without it the network keeps its random initialisation.
    """
    import jsymnet
    import jittor as jt
    from jsymnet.config import load_config
    from jsymnet.models.release import map_release_generator, strip_module_prefix
    from jsymnet.models.state import load_state
    from jsymnet.torch_pickle import read_weights
    from jsymnet.engine import make_optimizer
    from jsymnet.engine.step import step_function
    from jsymnet.utils import malloc_tuning

    jsymnet.use_device(device)
    jt.set_global_seed(seed)
    cfg = load_config(config, {"model": {"codec": {"weights": None}}})
    model = jsymnet.build_model(cfg, load_codec_weights=False)
    if weights:
        state = strip_module_prefix(read_weights(weights)[0])[0]
        load_state(model, map_release_generator(state, model, weights)[0])
        del state
        malloc_tuning.release_free_memory()  # the converter's buffers, before the runs
    arrays = [jt.array(a) for a in proto.inputs(case, shape)]
    if case == "enhance":
        model.eval()

        def run():
            with jt.no_grad():  # executed on return (DeepSymmetricNet._run)
                return model.enhance(arrays[0])
    else:
        model.train()
        opt = make_optimizer(model, cfg["train"]["optim"])
        step = step_function(backward)

        def run():
            return step(model, opt, *arrays, cfg["train"])["total"]
    return run


def _jsymnet_worker(spec):
    import jittor as jt

    run_once = build_case(spec["case"], spec["shape"], spec["config"], spec["backward"],
                          spec["device"], spec.get("weights"), spec["seed"])

    def sync():
        jt.sync_all(True)

    def run():
        with proto.Stopwatch(sync) as w:
            run.last = run_once()
        return w.seconds, None if spec["case"] == "enhance" else run.last

    def save_output(path):
        if not hasattr(run, "last"):
            run()
        import numpy as np
        np.save(path, run.last.numpy())

    def final():
        from jsymnet.models import layout
        from jsymnet.runtime import runtime_info
        from .onednn import cpu_model, isa
        info = runtime_info()
        return {"onednn": info["onednn_source"], "onednn_library": info["onednn_library"],
                "onednn_isa": isa(), "cpu": cpu_model(), "layout": layout.active().name}

    proto.serve(run, spec["warmup"], spec.get("output"),
                save_output if spec["case"] == "enhance" else None, final=final)


# -- the harness --------------------------------------------------------------------------

class Worker:
    """One framework x case in its own process, driven line by line."""

    def __init__(self, framework, spec, workdir):
        self.framework = framework
        self.log_path = Path(workdir) / f"{framework}-{spec['case']}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(spec["threads"]))
        if framework == NCHW:
            env["JSYMNET_LAYOUT"] = "nchw"
        # the checkout's jsymnet first; the Jittor worker is this module, found in tools/
        path = [str(REPO_ROOT)]
        if framework.startswith("jsymnet"):
            cmd = [sys.executable, "-m", "benchlib.harness", json.dumps(spec)]
            path.append(str(TOOLS_DIR))
        else:  # run by path: its own folder (benchmarks/reference) is its sys.path[0]
            cmd = [sys.executable, str(REFERENCE_DIR / "bench_torch.py"), json.dumps(spec)]
        env["PYTHONPATH"] = os.pathsep.join(path + [env.get("PYTHONPATH", "")])
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, env=env)
        self.times, self.values, self.peak_rss_gb, self.extra = [], [], None, {}

    def _answer(self):
        for line in self.proc.stdout:
            if line.startswith(proto.TAG):
                msg = json.loads(line[len(proto.TAG):])
                if "error" in msg:
                    raise BenchmarkError(f"{self.framework}: {msg['error']}")
                return msg
        self.proc.wait()
        self._log.flush()
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise BenchmarkError(f"the {self.framework} worker exited with {self.proc.returncode}"
                             f" ({self.log_path}): " + " | ".join(tail))

    def ready(self):
        msg = self._answer()
        self.values.extend(msg["warmup_values"])
        return msg

    def run(self):
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        msg = self._answer()
        self.times.append(msg["time_s"])
        self.values.append(msg["value"])
        return msg["time_s"]

    def quit(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        msg = self._answer()
        self.peak_rss_gb = msg["peak_rss_gb"]
        self.extra = {k: v for k, v in msg.items() if k not in ("done", "peak_rss_gb")}
        self.proc.wait(timeout=120)
        self._log.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def result(self):
        return {"framework": self.framework, "times_s": self.times,
                "median_s": statistics.median(self.times) if self.times else None,
                "peak_rss_gb": self.peak_rss_gb, "values": self.values, **self.extra}


def run_case(case, shape, config="configs/lol.yaml", repeat=5, warmup=1, device="cpu",
             backward="reversible", torch_accum=1, threads=None, frameworks=FRAMEWORKS,
             order="alternate", seed=0, workdir=None, torch_malloc="system", log=print):
    """Time ``case`` on ``shape`` for each of ``frameworks``; returns a result dict.

    ``order``: ``alternate`` keeps one worker per framework alive and interleaves
    their timed runs; ``sequential`` runs one framework to the end before the
    next starts (use it when the two peaks together exceed the machine's memory).
    ``torch_malloc``: ``system`` runs the reference on glibc's default allocator
    policy, as its users run it; ``tuned`` gives it jsymnet's (jsymnet.utils.malloc_tuning).
    """
    if case not in CASES:
        raise BenchmarkError(f"unknown case {case!r}; choose from {', '.join(CASES)}")
    if order not in ("alternate", "sequential"):
        raise BenchmarkError(f"unknown order {order!r}; use alternate or sequential")
    threads = threads or os.cpu_count()
    own_dir = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="jsymnet-bench-") if own_dir else workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # the reference starts first: it writes the weights the Jittor worker loads
    frameworks = sorted(frameworks, key=lambda f: f != "pytorch")
    weights = str(workdir / "release_G.pth") if "pytorch" in frameworks else None
    base = {"case": case, "shape": list(shape), "device": device, "threads": threads,
            "warmup": warmup, "seed": seed}
    specs = {
        "pytorch": dict(base, weights=weights, accum=torch_accum, malloc=torch_malloc,
                        output=str(workdir / "pytorch_out.npy")),
        "jsymnet": dict(base, weights=weights, config=str(config), backward=backward,
                        output=str(workdir / "jsymnet_out.npy")),
    }
    specs[NCHW] = dict(specs["jsymnet"], output=str(workdir / "jsymnet-nchw_out.npy"))
    workers = []
    try:
        def start(fw):
            log(f"  {fw}: starting, {warmup} warm-up run(s) ...")
            w = Worker(fw, specs[fw], workdir)
            workers.append(w)
            w.ready()
            return w

        def timed(w, i):
            t = w.run()
            log(f"  {w.framework}: run {i + 1}/{repeat}: {t:.3f} s")

        if order == "sequential":
            for fw in frameworks:
                w = start(fw)
                for i in range(repeat):
                    timed(w, i)
                w.quit()
        else:
            for fw in frameworks:
                start(fw)
            for i in range(repeat):
                for w in (workers if i % 2 == 0 else workers[::-1]):
                    timed(w, i)
            for w in workers:
                w.quit()
    except BaseException:
        for w in workers:
            w.kill()
        raise
    results = {w.framework: w.result() for w in workers}
    out = {"case": case, "shape": list(shape), "device": device, "threads": threads,
           "order": order, "repeat": repeat, "warmup": warmup, "results": results}
    if "pytorch" in results:
        out["pytorch_malloc"] = torch_malloc
    if case == "train":
        out["jsymnet_backward"] = backward
        out["pytorch_accum"] = torch_accum
    if "pytorch" in results and "jsymnet" in results:
        out["agreement"] = _agreement(case, workdir, results)
    if own_dir:
        for f in workdir.iterdir():
            if f.suffix in (".npy", ".pth"):
                f.unlink()
    out["logs"] = str(workdir)
    return out


def _agreement(case, workdir, results):
    """How closely the two frameworks computed the same thing."""
    import numpy as np
    if case == "enhance":
        a, b = (np.load(workdir / f"{fw}_out.npy") for fw in ("jsymnet", "pytorch"))
        return {"what": "max |enhanced difference|", "value": float(np.abs(a - b).max())}
    a, b = results["jsymnet"]["values"][0], results["pytorch"]["values"][0]
    return {"what": "first step's loss, relative difference",
            "value": abs(a - b) / max(abs(b), 1e-12)}


def machine_line(cases):
    """Where the figures were measured: the CPU, oneDNN's ISA, jsymnet's feature layout."""
    for c in cases:
        js = c["results"].get("jsymnet")
        if js and js.get("cpu"):
            return (f"measured on {js['cpu']}; oneDNN ISA {js.get('onednn_isa')}; "
                    f"jsymnet features {str(js.get('layout')).upper()}; "
                    f"{c['threads']} threads each; medians of {c['repeat']}")
    return ""


def format_table(cases):
    """A text table: medians, speed-up (PyTorch time / jsymnet time), peak memory; with
    the NCHW worker, its median and what channels-last gains over it."""
    nchw = any(NCHW in c["results"] for c in cases)
    rows = [("case", "input", "jsymnet s", "PyTorch s", "speed-up", "jsymnet GB", "PyTorch GB",
             "memory ratio", "agreement")
            + (("jsymnet NCHW s", "NCHW GB", "channels-last gain") if nchw else ())]
    for c in cases:
        r = c["results"]
        js, pt, old = r.get("jsymnet"), r.get("pytorch"), r.get(NCHW)
        label = c["case"]
        if c["case"] == "train":
            label += f" ({c['jsymnet_backward']}"
            label += f"; PyTorch {c['pytorch_accum']} x batch/{c['pytorch_accum']})" \
                if pt and c["pytorch_accum"] > 1 else ")"

        if pt and c.get("pytorch_malloc") == "tuned":
            label += " [PyTorch on tuned malloc]"

        def cell(x, fmt):
            return "-" if x is None else format(x, fmt)
        speed = pt["median_s"] / js["median_s"] if js and pt else None
        mem = js["peak_rss_gb"] / pt["peak_rss_gb"] if js and pt else None
        agree = c.get("agreement")
        gain = old["median_s"] / js["median_s"] if js and old else None
        rows.append((label, "x".join(map(str, c["shape"])),
                     cell(js and js["median_s"], ".2f"), cell(pt and pt["median_s"], ".2f"),
                     cell(speed, ".2f") + ("x" if speed else ""),
                     cell(js and js["peak_rss_gb"], ".2f"), cell(pt and pt["peak_rss_gb"], ".2f"),
                     cell(mem, ".2f"), cell(agree and agree["value"], ".1e"))
                    + ((cell(old and old["median_s"], ".2f"),
                        cell(old and old["peak_rss_gb"], ".2f"),
                        cell(gain, ".2f") + ("x" if gain else "")) if nchw else ()))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)
    where = machine_line(cases)
    return f"{where}\n{table}" if where else table


if __name__ == "__main__":
    _jsymnet_worker(json.loads(sys.argv[1]))
