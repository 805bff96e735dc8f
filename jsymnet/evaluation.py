"""Evaluation: enhance every test image, score it, write the results (docs/design.md#evaluation).

:func:`evaluate` runs ``model.enhance`` on each pair, scores output and the
unprocessed input against the target with :mod:`jsymnet.metrics`, and writes
into ``out_dir`` (each file atomically):

* ``images/<name>.png``  the enhanced images (8-bit, as scored), with the input's
  EXIF (Orientation 1, a Software tag naming jsymnet and its model), XMP, DPI and
  ICC profile (the scores compare file values as they are: nothing is colour
  converted here); ``strip_metadata`` keeps only the ICC profile;
* ``results.csv``        one row per image: name, size, PSNR, SSIM, the input's
  PSNR and SSIM, seconds;
* ``summary.txt`` and ``summary.json``  means, the baseline, the metric
  convention and where the weights came from;
* ``comparison.png``     input | enhanced | target for the first few images.

``tools/test.py`` is the command-line front end.
"""
import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import metrics
from .data.datasets import check_pair_sizes, dataset_pairs, read_pair
from .data.pairs import PairingError
from .data.image_io import to_uint8, write_image
from .data.metadata import read_meta, write_photo
from .inference import load_weights, run_rgb, software_tag
from .shifts import EVAL_SHIFTS, check_shifts
from .utils.fileio import atomic_write_text, check_writable_dir

SHEET_ROW_HEIGHT = 192     # pixels per row of the comparison sheet
SHEET_LABEL_HEIGHT = 22
CSV_FIELDS = ("name", "width", "height", "psnr", "ssim", "input_psnr", "input_ssim", "seconds")
LPIPS_FIELDS = ("lpips", "input_lpips")


@dataclass
class EvalSummary:
    count: int
    psnr: float
    ssim: float
    input_psnr: float
    input_ssim: float
    mean_seconds: float
    convention: str
    weights: str
    dataset: str = ""
    out_dir: str = ""
    rows: list = field(default_factory=list, repr=False)
    lpips: float = None          # mean LPIPS (VGG, v0.1) where it was asked for
    input_lpips: float = None

    def table(self):
        """The summary as a small text table."""
        lp = self.lpips is not None
        cell = lambda v: f"{v:9.4f}" if lp else ""
        lines = [f"{'':26s}{'PSNR (dB)':>10s}{'SSIM':>9s}" + (f"{'LPIPS':>9s}" if lp else ""),
                 f"{'input (no enhancement)':26s}{self.input_psnr:10.2f}{self.input_ssim:9.4f}"
                 + cell(self.input_lpips),
                 f"{'jsymnet':26s}{self.psnr:10.2f}{self.ssim:9.4f}" + cell(self.lpips),
                 f"images: {self.count}   mean time per image: {self.mean_seconds:.3f} s "
                 f"(the first includes JIT compilation)",
                 f"dataset: {self.dataset}",
                 f"weights: {self.weights}",
                 f"metric:  {self.convention}"]
        return "\n".join(lines)


def _mean(values):
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def enhance_image(model, img, shifts=EVAL_SHIFTS):
    """Enhance one H x W x 3 float image (:func:`jsymnet.inference.run_rgb`: clipped to
    [0, 1], tiled exactly when large; ``shifts``: its own); returns (H x W x 3 float32,
    seconds)."""
    start = time.perf_counter()
    out = run_rgb(model, img, shifts=shifts)
    return out, time.perf_counter() - start


def score_pair(model, low, high, convention=metrics.RELEASE, lpips=False, shifts=EVAL_SHIFTS):
    """Enhance one H x W x 3 float input and score its 8-bit output against ``high``
    (docs/design.md#evaluation): the one enhance-and-score step of ``tools/test.py``
    (:func:`evaluate`) and of the trainer's validation. Returns (output as uint8,
    {"psnr", "ssim", "input_psnr", "input_ssim", "seconds"}, with "lpips" and
    "input_lpips" when ``lpips``). ``shifts``: :func:`enhance_image`'s."""
    out, seconds = enhance_image(model, low, shifts)
    out_u8 = to_uint8(out)
    p, s = metrics.psnr_ssim(out_u8, high, convention)
    p0, s0 = metrics.psnr_ssim(low, high, convention)
    row = {"psnr": p, "ssim": s, "input_psnr": p0, "input_ssim": s0, "seconds": seconds}
    if lpips:
        row.update(lpips=metrics.lpips(out_u8, high), input_lpips=metrics.lpips(low, high))
    return out_u8, row


def labelled(img, label, height):
    h, w = img.shape[:2]
    width = max(1, round(w * height / h))
    panel = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    strip = np.full((SHEET_LABEL_HEIGHT, width, 3), 255, np.uint8)
    cv2.putText(strip, label, (4, SHEET_LABEL_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, panel], axis=0)


def panel_sheet(rows):
    """One uint8 image from rows of labelled panels (:func:`labelled`): panels side by side
    with a 4-pixel white gap, rows stacked and padded to one width."""
    lines = []
    for panels in rows:
        gap = np.full((panels[0].shape[0], 4, 3), 255, np.uint8)
        lines.append(np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 4), (0, width - line.shape[1]), (0, 0)), constant_values=255)
             for line in lines]
    return np.concatenate(lines, axis=0)


def comparison_sheet(triples, height=SHEET_ROW_HEIGHT):
    """One uint8 image: a row per (name, input, enhanced, target, psnr), panels side by side."""
    return panel_sheet([[labelled(to_uint8(low), f"{name} input", height),
                         labelled(to_uint8(out), f"enhanced {score:.2f} dB", height),
                         labelled(to_uint8(high), "target", height)]
                        for name, low, out, high, score in triples])


def _write_csv(path, rows):
    buf = io.StringIO()
    fields = CSV_FIELDS + (LPIPS_FIELDS if rows and "lpips" in rows[0] else ())
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{row[k]:.6f}" if isinstance(row[k], float) else row[k])
                         for k in fields})
    atomic_write_text(path, buf.getvalue())


def evaluate(model, pairs, out_dir, convention=metrics.RELEASE, limit=None, max_side=None,
             sheet_count=4, weights_label="", dataset_label="", progress=True,
             save_images=True, lpips=False, software=None, strip_metadata=False,
             shifts=EVAL_SHIFTS):
    """Enhance and score ``pairs`` (list of Pair); write the outputs; return an
    :class:`EvalSummary`. ``shifts``: :func:`enhance_image`'s (1, the network alone, is
    the paper's convention). ``lpips=True`` also scores LPIPS (VGG, v0.1) of the output and
    of the input against the target. ``software`` is the EXIF Software tag of the written
    images; ``strip_metadata`` writes them without the input's EXIF, XMP and DPI."""
    from tqdm import tqdm
    out_dir = Path(out_dir)
    pairs = list(pairs)[:limit] if limit else list(pairs)
    if not pairs:
        raise PairingError("nothing to evaluate: the dataset has no pairs (or --limit is 0)")
    check_pair_sizes(pairs)       # before any work: a bad pair must not cost a run
    check_writable_dir(out_dir)
    if lpips:
        metrics.load_lpips_weights()   # a missing file fails now, with the fix
    rows, triples = [], []
    bar = tqdm(pairs, desc="enhance", unit="img", disable=not progress, dynamic_ncols=True)
    for pair in bar:
        low, high = read_pair(pair, max_side)
        out_u8, scores = score_pair(model, low, high, convention, lpips, shifts)
        p = scores["psnr"]
        rows.append({"name": pair.name, "width": low.shape[1], "height": low.shape[0],
                     **scores})
        bar.set_postfix(psnr=f"{_mean([r['psnr'] for r in rows]):.2f}")
        if save_images:
            meta = read_meta(pair.low).for_output((out_u8.shape[1], out_u8.shape[0]),
                                                  software, strip=strip_metadata)
            write_photo(out_dir / "images" / f"{pair.name}.png", out_u8, 8, meta)
        if len(triples) < sheet_count:
            triples.append((pair.name, low, out_u8, high, p))
    _write_csv(out_dir / "results.csv", rows)
    summary = EvalSummary(
        count=len(rows), psnr=_mean([r["psnr"] for r in rows]),
        ssim=_mean([r["ssim"] for r in rows]), input_psnr=_mean([r["input_psnr"] for r in rows]),
        input_ssim=_mean([r["input_ssim"] for r in rows]),
        mean_seconds=_mean([r["seconds"] for r in rows]),
        convention=metrics.describe(convention), weights=weights_label, dataset=dataset_label,
        out_dir=str(out_dir), rows=rows,
        lpips=_mean([r["lpips"] for r in rows]) if lpips else None,
        input_lpips=_mean([r["input_lpips"] for r in rows]) if lpips else None)
    if triples:
        write_image(out_dir / "comparison.png", comparison_sheet(triples))
    atomic_write_text(out_dir / "summary.txt", summary.table() + "\n")
    info = {k: v for k, v in asdict(summary).items() if k != "rows"}
    atomic_write_text(out_dir / "summary.json", json.dumps(info, indent=1) + "\n")
    return summary


def run(dataset, out_dir, weights=None, config=None, root=None, low=None, high=None,
        split="test", limit=None, max_side=None, convention=metrics.RELEASE, sheet_count=4,
        progress=True, lpips=False, strip_metadata=False, shifts=EVAL_SHIFTS):
    """Everything ``tools/test.py`` does after parsing: data, weights, :func:`evaluate`."""
    check_shifts(shifts)
    from .config import ConfigError, load_config
    from .data.datasets import DATASETS, file_pair_datasets
    cfg = load_config(config)
    if not DATASETS.get(dataset).file_pairs:  # its pairs are the target twice
        raise ConfigError(f"the {dataset} dataset synthesises its inputs, which this "
                          f"evaluation does not: score it with tools/compare.py --bsds, or "
                          f"evaluate one of {', '.join(file_pair_datasets())}")
    model, label = load_weights(weights, cfg)  # first: a missing checkpoint fails fast
    pairs = dataset_pairs(dataset, split, root, low, high, cfg["data"])
    where = {"folder": f"{low} | {high}", "sample": "embedded sample set (scikit-image photos)"}
    dataset_label = f"{dataset} ({split}, {len(pairs) if not limit else min(limit, len(pairs))}" \
                    f" pairs): {where.get(dataset, root or cfg['data']['root'])}"
    if max_side or cfg["data"]["eval_max_side"]:
        max_side = max_side or cfg["data"]["eval_max_side"]
        dataset_label += f"; downscaled to {max_side}px long side (not the paper protocol)"
    if shifts != EVAL_SHIFTS:
        dataset_label += f"; each output averaged over {shifts} shifts (jsymnet/shifts.py; " \
                         f"not the paper protocol)"
    return evaluate(model, pairs, out_dir, convention, limit, max_side, sheet_count, label,
                    dataset_label, progress, lpips=lpips, software=software_tag(weights),
                    strip_metadata=strip_metadata, shifts=shifts)
