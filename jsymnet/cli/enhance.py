"""Enhance your own photos (or, with --direction degrade, underexpose them).

Examples:
  python tools/enhance.py photo.jpg -o out/                      # out/photo_enh.jpg
  python tools/enhance.py shots/ "more/**/*.tif" -o out/ --recursive --ext jpg
  python tools/enhance.py big.png -o out/ --tile 1024              # exact tiled inference
  python tools/enhance.py well_exposed/ -o low/ --direction degrade --suffix _low
  python tools/enhance.py trip/ -o share/ --strip-metadata --quality 90   # no EXIF/GPS
  python tools/enhance.py photo.jpg -o out/ --strength 0.6        # 60% of the model's change
  python tools/enhance.py shots/ -o out/ --shifts 1                # the network alone: 2x faster

Folders give their image files (subfolders with --recursive) and the output
keeps the folder structure below what was named. Each output is written
atomically as OUTDIR/<relative folder>/<name><suffix>.<ext>, in the input's
format (JPEG stays JPEG at --quality, 4:4:4 chroma unless --chroma; PNG, TIFF
and WebP stay so; other formats become PNG; --ext forces one) and mode (gray
stays gray, RGBA keeps its alpha, 16-bit stays 16-bit in PNG/TIFF), at the
input's exact size. Inputs are never overwritten. Unreadable files are
reported and skipped; the batch goes on.

Metadata: the input's EXIF (Orientation set to 1, since the pixels are written
upright; a Software tag naming jsymnet and its model), XMP and DPI are kept,
in PNG and TIFF too. --strip-metadata drops them all (GPS included) for sharing.
Colour: an input with an ICC profile other than sRGB is converted to sRGB for
the network (trained on sRGB) and back, and tagged with its profile again;
untagged inputs are taken as sRGB.

Photos above --max-megapixels (or all, with --tile) are processed tile by tile;
the result equals the untiled one to float32 rounding (see jsymnet/tiling.py).

Exit status: 0 every image done (or left by --skip-existing); 1 some failed,
or were not written because their output would overwrite an input or another
output; 2 bad usage (nothing to process, weights missing, bad option).
"""
import argparse
import os
import sys
import time
from pathlib import Path

from . import EXIT_ERROR, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, add_import_option
from ..data.metadata import DEFAULT_QUALITY
from ..shifts import DEFAULT_SHIFTS


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--weights", help="jsymnet checkpoint (default: weights/jsymnet_default.pkl)")
    p.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"),
                   help="where to run (default: auto = CUDA if available)")
    p.add_argument("--direction", default="enhance", choices=("enhance", "degrade"),
                   help="enhance (low-light -> normal, default) or degrade (normal -> "
                        "underexposed: synthesise low-light versions of good photos)")
    p.add_argument("--strength", type=float, default=1.0, metavar="S",
                   help="how much of the model's change to apply: 0 the photo unchanged, 1 "
                        "the model's output (default), up to 2; a blend in linear light "
                        "(jsymnet/strength.py)")
    p.add_argument("--shifts", "--phases", type=int, default=DEFAULT_SHIFTS, metavar="K",
                   help="average the model over K one-pixel shifts of its codec's block grid, "
                        "which takes away the faint lattice a block codec leaves on flat "
                        "areas; each costs one pass (default: %(default)s; 1: the network "
                        "alone, half the time; jsymnet/shifts.py)")
    p.add_argument("--tile", type=int, default=None, metavar="N",
                   help="tile every image, N x N pixel tiles (exact; default: only images "
                        "above --max-megapixels, with 1024)")
    p.add_argument("--tile-overlap", type=int, default=0, metavar="M",
                   help="extra context per tile in pixels; the overlap exactness needs is "
                        "set from the architecture, this can only widen it (default: 0)")
    p.add_argument("--max-megapixels", type=float, default=None, metavar="X",
                   help="tile images larger than this automatically (default: from the "
                        "model's width: 2 for the default model, 0.25 for the VGG release model)")
    p.add_argument("--max-image-megapixels", type=float, default=None, metavar="X",
                   help="refuse images larger than this before decoding them (default: "
                        "about 179, Pillow's decompression-bomb threshold; also "
                        "$JSYMNET_MAX_IMAGE_PIXELS)")
    p.add_argument("--ext", default=None, choices=("png", "jpg", "tif", "webp"),
                   help="output format (default: the input's own: JPEG, PNG, TIFF and WebP "
                        "stay so, other formats become png)")
    p.add_argument("--quality", type=int, default=DEFAULT_QUALITY, metavar="Q",
                   help="JPEG and WebP quality, 1-100 (default: %(default)s)")
    p.add_argument("--chroma", default="444", choices=("444", "422", "420"),
                   help="JPEG chroma subsampling (default: 444, full colour resolution)")
    p.add_argument("--strip-metadata", action="store_true",
                   help="write no EXIF (GPS included), XMP or DPI, e.g. for sharing; the ICC "
                        "profile stays (it says what the colours mean)")
    p.add_argument("--suffix", default="_enh", help="added to output names (default: "
                                                    "%(default)s)")
    p.add_argument("--side-by-side", action="store_true", help="write input | output")
    p.add_argument("--recursive", action="store_true", help="descend into subfolders")
    p.add_argument("--skip-existing", action="store_true", help="leave existing outputs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_import_option(p)
    args = p.parse_args(argv)
    if args.tile is not None and args.tile < 8:
        p.error("--tile must be at least 8 pixels")
    if args.tile_overlap < 0 or (args.max_megapixels is not None and args.max_megapixels <= 0):
        p.error("--tile-overlap must be >= 0 and --max-megapixels > 0")
    if args.max_image_megapixels is not None and args.max_image_megapixels <= 0:
        p.error("--max-image-megapixels must be > 0")
    if not 1 <= args.quality <= 100:
        p.error("--quality must be between 1 and 100")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.max_image_megapixels:
        from ..utils.limits import MAX_PIXELS_ENV
        pixels = str(int(args.max_image_megapixels * 1e6))
        os.environ[MAX_PIXELS_ENV] = os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = pixels
    import jsymnet  # noqa: F401  (prepares Jittor, before any jittor import)
    from . import python_handles_interrupts
    python_handles_interrupts()
    from . import batch

    items, problems = batch.find_inputs(args.inputs, args.recursive)
    for spec, msg in problems:
        print(f"warning: {spec}: {msg}", file=sys.stderr)
    if not items:
        print("error: nothing to process", file=sys.stderr)
        return EXIT_ERROR
    if Path(args.out).exists() and not Path(args.out).is_dir():
        print(f"error: -o {args.out} is a file, not a folder", file=sys.stderr)
        return EXIT_ERROR
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    model, device, tiling = prepared
    jobs, skipped = batch.plan_outputs(items, args.out, args.suffix, args.ext, args.skip_existing)
    t0 = time.time()
    done, failed = _run(args, model, tiling, jobs)
    if done is None:
        return EXIT_INTERRUPTED
    return _report(args, device, jobs, done, failed, skipped, problems, time.time() - t0)


def _prepare(args):
    """(model, device, tiling) before any image is computed, or the exit code of an
    expected error (printed as one line)."""
    import jsymnet
    from . import EXPECTED_ERRORS, import_modules, report
    from .. import inference
    from ..shifts import check_shifts
    from ..strength import check_strength
    from ..tiling import MIN_TILE_FEATURES, TileOptions, tile_in_use
    from ..utils.fileio import check_writable_dir
    try:
        import_modules(args.imports)   # a checkpoint may name parts of your own
        check_strength(args.strength)
        check_shifts(args.shifts)
        check_writable_dir(args.out)
        device = jsymnet.use_device(args.device)
        model = inference.get_model(args.weights)
    except EXPECTED_ERRORS as exc:
        return report(exc)
    if args.tile is not None and tile_in_use(model, args.tile) != args.tile:
        used = tile_in_use(model, args.tile)
        print(f"note: --tile {args.tile} runs as {used} x {used} tiles (a whole number of "
              f"this model's {model.codec.size_divisor}-pixel feature grid, at least "
              f"{MIN_TILE_FEATURES} of it a side)", file=sys.stderr)
    return model, device, TileOptions(args.tile, args.tile_overlap, args.max_megapixels)


def _run(args, model, tiling, jobs):
    """Every (input, output) job through the batch writer; (done, [(item, why)]), or
    (None, None) when interrupted. One bad file does not stop the others."""
    from tqdm import tqdm
    from .. import inference
    from . import batch
    software = inference.software_tag(args.weights, args.direction)
    failed, done = [], 0
    bar = tqdm(jobs, unit="img", disable=args.no_progress, dynamic_ncols=True)
    for item, dst in bar:
        bar.set_postfix_str(str(item.rel)[-40:])
        progress = (lambda k, n, rel=str(item.rel)[-30:]:
                    bar.set_postfix_str(f"{rel} tiled stage {k}/{n}"))
        try:
            notes = batch.enhance_file(item.src, dst, model, args.direction, tiling=tiling,
                                       side_by_side=args.side_by_side, progress=progress,
                                       software=software, strip_metadata=args.strip_metadata,
                                       quality=args.quality, chroma=args.chroma,
                                       strength=args.strength, shifts=args.shifts)
            done += 1
            for note in notes:
                tqdm.write(f"note: {item.src}: {note}")
        except KeyboardInterrupt:
            bar.close()
            print(f"interrupted after {done} images; no partial file was left behind",
                  file=sys.stderr)
            return None, None
        except Exception as exc:  # one bad file must not stop the batch
            failed.append((item, f"{type(exc).__name__}: {exc}"))
            tqdm.write(f"failed: {item.src}: {exc}", file=sys.stderr)
    bar.close()
    return done, failed


def _report(args, device, jobs, done, failed, skipped, problems, dt):
    """The summary line, what was skipped and what failed; the exit code."""
    for item, reason, _ in skipped:
        print(f"skipped: {item.src}: {reason}", file=sys.stderr)
    refused = [s for s in skipped if s[2] != "exists"]   # not written, and not asked to skip
    rate = done / dt if dt > 0 else 0.0
    jpeg = any(dst.suffix.lower() in (".jpg", ".jpeg") for _, dst in jobs)
    print(f"{args.direction}: {done} done, {len(skipped)} skipped, "
          f"{len(failed) + len(problems)} failed in {dt:.1f} s ({rate:.2f} images/s) on "
          f"{device}; outputs in {args.out}"
          + (f" (JPEG quality {args.quality}, chroma {args.chroma[0]}:{args.chroma[1]}:"
             f"{args.chroma[2]})" if jpeg else "")
          + ("; metadata stripped" if args.strip_metadata else ""))
    if failed or problems or refused:
        print("failed:", file=sys.stderr)
        for item, reason in failed:
            print(f"  {item.src}: {reason}", file=sys.stderr)
        for spec, msg in problems:
            print(f"  {spec}: {msg}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
