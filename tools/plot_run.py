#!/usr/bin/env python
"""Draw the curves of one or more training runs from their log.jsonl, as one PNG.

Examples:
  python tools/plot_run.py runs/ft1                        # -> runs/ft1/curves.png
  python tools/plot_run.py runs/sweep_* -o sweep.png       # a sweep: one colour a run

Panels: the training loss (total; with a single run also its parts, dashed), the
learning rate, and the validation PSNR and SSIM, each against the iteration; every
run's best validation PSNR is marked. A resumed run's repeated iterations count once
(the later record), and a run started afresh in the same folder counts from its last
start. One line a run is printed: its last iteration and loss, its best PSNR.

Needs matplotlib (pip install 'jsymnet[plot]'). Exit status: 0 drawn; 2 bad usage
(a folder without log.jsonl, a log without training records, matplotlib missing).
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jsymnet.cli import EXIT_ERROR, EXIT_OK  # noqa: E402
from jsymnet.errors import JsymnetError  # noqa: E402
from jsymnet.utils.fileio import atomic_path  # noqa: E402

LOG_NAME = "log.jsonl"     # jsymnet.engine.trainer.LOG_NAME (not imported: no Jittor needed)
DEFAULT_NAME = "curves.png"
PANELS = (("loss", "training loss"), ("lr", "learning rate"),
          ("psnr", "validation PSNR (dB)"), ("ssim", "validation SSIM"))


class RunLogError(JsymnetError, ValueError):
    """A run folder has no usable log.jsonl; the message says which and why."""


class RunLog:
    """The ``train`` and ``val`` records of one run, by iteration (one record each)."""

    def __init__(self, run_dir, label=None):
        self.dir = Path(run_dir)
        self.label = label or self.dir.name
        path = self.dir / LOG_NAME if self.dir.is_dir() else self.dir
        if not path.is_file():
            raise RunLogError(f"{run_dir}: no {LOG_NAME} (is it a run folder of "
                              f"tools/train.py --work-dir?)")
        self.train, self.val, self.skipped = {}, {}, 0
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:           # a line cut short by a killed run
                self.skipped += 1
                continue
            event, it = rec.get("event"), rec.get("iter")
            if event == "start" and it == 0:
                self.train, self.val = {}, {}    # a fresh run in the same folder
            elif event in ("train", "val") and isinstance(it, int):
                (self.train if event == "train" else self.val)[it] = rec
        if not self.train:
            raise RunLogError(f"{path}: no training records yet (the first comes after "
                              f"train.log_every steps)")

    def series(self, key, source="train"):
        """(iterations, values) of ``key`` in the ``train`` or ``val`` records, in order."""
        records = self.train if source == "train" else self.val
        its = [it for it in sorted(records) if isinstance(records[it].get(key), (int, float))]
        return its, [records[it][key] for it in its]

    def loss_parts(self):
        """The loss parts logged (``loss_<part>`` keys), ``loss_total`` first."""
        keys = {k for rec in self.train.values() for k in rec if k.startswith("loss_")}
        return sorted(keys, key=lambda k: (k != "loss_total", k))

    def best(self):
        """(iteration, PSNR) of the best validation, or None without any."""
        its, psnr = self.series("psnr", "val")
        if not its:
            return None
        i = max(range(len(its)), key=lambda j: psnr[j])
        return its[i], psnr[i]

    def summary(self):
        """One line: the last iteration and loss, the best validation."""
        last = max(self.train)
        loss = self.train[last].get("loss_total")
        text = f"{self.label}: {last} iterations"
        if isinstance(loss, (int, float)):
            text += f", last loss {loss:.4g}"
        best = self.best()
        if best:
            return text + f", best validation PSNR {best[1]:.2f} dB at iteration {best[0]}"
        return text + ", no validation"


def _labels(dirs):
    """Folder names, or longer paths where two runs share a name."""
    names = [Path(d).resolve().name for d in dirs]
    if len(set(names)) == len(names):
        return names
    return [str(Path(d)) for d in dirs]


def plot_runs(runs, out, title=None):
    """Draw :class:`RunLog` s ``runs`` into the image file ``out`` (atomically)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RunLogError("tools/plot_run.py needs matplotlib: pip install 'jsymnet[plot]' "
                          "(or pip install matplotlib)") from None
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, run in enumerate(runs):
        c = colours[k % len(colours)]
        parts = run.loss_parts() if len(runs) == 1 else ["loss_total"]
        for j, part in enumerate(parts):
            its, values = run.series(part)
            if its:
                axes[0, 0].plot(its, values, color=colours[(k + j) % len(colours)],
                                ls="-" if part == "loss_total" else "--", lw=1.4,
                                label=run.label if len(runs) > 1 else part[5:])
        axes[0, 1].plot(*run.series("lr"), color=c, lw=1.4, label=run.label)
        for ax, key in ((axes[1, 0], "psnr"), (axes[1, 1], "ssim")):
            its, values = run.series(key, "val")
            ax.plot(its, values, color=c, marker="o", ms=3, lw=1.4, label=run.label)
        best = run.best()
        if best:
            axes[1, 0].plot(*best, color=c, marker="*", ms=12, ls="none")
            axes[1, 0].annotate(f"{best[1]:.2f}", best, textcoords="offset points",
                                xytext=(4, 6), fontsize=8, color=c)
    for ax, (key, name) in zip(axes.flat, PANELS):
        ax.set_title(name)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        if ax.has_data() and ax.get_legend_handles_labels()[0] and \
                (len(runs) > 1 or key == "loss"):
            ax.legend(fontsize=8)
    if all(v > 0 for run in runs for v in run.series("lr")[1]):
        axes[0, 1].set_yscale("log")
    fig.suptitle(title or ", ".join(run.label for run in runs))
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format=out.suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="run folders (tools/train.py --work-dir), or their log.jsonl files")
    p.add_argument("-o", "--out", help=f"image to write (default: RUN_DIR/{DEFAULT_NAME} for "
                                       f"one run, ./{DEFAULT_NAME} for several)")
    p.add_argument("--title", help="figure title (default: the run names)")
    args = p.parse_args(argv)
    try:
        runs = [RunLog(d, label) for d, label in zip(args.runs, _labels(args.runs))]
        one = runs[0].dir if runs[0].dir.is_dir() else runs[0].dir.parent
        out = args.out or (one / DEFAULT_NAME if len(runs) == 1 else Path(DEFAULT_NAME))
        out = plot_runs(runs, out, args.title)
    except (JsymnetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for run in runs:
        print(run.summary() + (f" ({run.skipped} unreadable lines skipped)"
                               if run.skipped else ""))
    print(f"wrote {out}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
