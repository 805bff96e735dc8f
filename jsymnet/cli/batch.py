"""The batch command's file planning (``tools/enhance.py``): which files, to which outputs.

Expands files, folders and globs into inputs, pairs each with its output path
without ever overwriting an input, and enhances one file into another in the
input's own format, layout, colour space and metadata. The network itself runs
through :mod:`jsymnet.inference`.
"""
from pathlib import Path

import numpy as np

from ..data.image_io import is_image_file
from ..data.metadata import (CMYK_FORMATS, DEFAULT_QUALITY, FORMATS, SIXTEEN_BIT_FORMATS,
                             output_format, write_photo)
from ..inference import assemble, run_photo
from ..shifts import DEFAULT_SHIFTS

KEPT_FORMAT_DEFAULT = "png"   # the output format of inputs whose own one is not written

_GLOB_CHARS = set("*?[")


class InputItem(tuple):
    """(src, rel): a file to process and its path relative to what was named on input."""

    def __new__(cls, src, rel):
        return super().__new__(cls, (Path(src), Path(rel)))

    src = property(lambda self: self[0])
    rel = property(lambda self: self[1])


def _folder_items(folder, recursive):
    files = folder.rglob("*") if recursive else folder.iterdir()
    return [InputItem(f, f.relative_to(folder)) for f in sorted(files)
            if is_image_file(f) and not any(p.startswith(".") for p in
                                            f.relative_to(folder).parts)]


def find_inputs(specs, recursive=False):
    """Expand files, folders and glob patterns into :class:`InputItem` s.

    A folder gives its image files (``recursive``: and its subfolders'),
    relative to itself; a glob gives its matches relative to the folder part
    before the first wildcard; a file gives its name. Returns ``(items,
    problems)``, problems being ``(spec, message)`` for names that match
    nothing. Duplicates (the same file named twice) are kept once.
    """
    import glob
    items, problems, seen = [], [], set()

    def add(found):
        for it in found:
            key = it.src.resolve()
            if key not in seen:
                seen.add(key)
                items.append(it)

    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            found = _folder_items(path, recursive)
            if not found:
                problems.append((spec, "folder holds no image files"
                                 + ("" if recursive else " (subfolders need --recursive)")))
            add(found)
        elif path.is_file():
            add([InputItem(path, path.name)])
        elif _GLOB_CHARS & set(str(spec)):
            parts = Path(spec).parts
            static = [p for p in parts[:next(i for i, p in enumerate(parts)
                                            if _GLOB_CHARS & set(p))]]
            base = Path(*static) if static else Path(".")
            found = []
            for m in sorted(glob.glob(str(spec), recursive=True)):
                m = Path(m)
                if m.is_dir():
                    found += [InputItem(it.src, m.relative_to(base) / it.rel)
                              for it in _folder_items(m, recursive)]
                elif m.is_file():
                    found.append(InputItem(m, m.relative_to(base)))
            if not found:
                problems.append((spec, "pattern matches no files"))
            add(found)
        else:
            problems.append((spec, "no such file or folder"))
    return items, problems


def kept_ext(rel):
    """The output extension that keeps the input's format: its own (lower-cased) for
    JPEG, PNG, TIFF and WebP, else :data:`KEPT_FORMAT_DEFAULT` (BMP, PPM, GIF ...)."""
    suffix = Path(rel).suffix.lower()
    return suffix.lstrip(".") if suffix in FORMATS else KEPT_FORMAT_DEFAULT


def output_path(outdir, rel, suffix="_enh", ext=None):
    """OUTDIR / rel's folders / <stem><suffix>.<ext> (ext None: :func:`kept_ext`)."""
    rel = Path(rel)
    ext = kept_ext(rel) if ext is None else ext
    return Path(outdir) / rel.parent / f"{rel.stem}{suffix}.{ext.lstrip('.')}"


def plan_outputs(items, outdir, suffix="_enh", ext=None, skip_existing=False):
    """Pair each input with its output path; refuse any that would overwrite an input.
    ``ext`` None keeps each input's format (:func:`kept_ext`).

    Returns ``(jobs, skipped)``: jobs ``(item, dst)``; skipped ``(item, reason,
    kind)`` for outputs that are an input file (kind "overwrite"), that another
    input already claims ("duplicate"), or (``skip_existing``) that exist
    ("exists"). Only "exists" is a skip the caller asked for.
    """
    inputs = {it.src.resolve() for it in items}
    claimed, jobs, skipped = {}, [], []
    for it in items:
        dst = output_path(outdir, it.rel, suffix, ext)
        key = dst.resolve()
        if key in inputs:
            skipped.append((it, f"output {dst} would overwrite an input; choose another -o "
                                f"or a --suffix", "overwrite"))
        elif key in claimed:
            skipped.append((it, f"output {dst} is already the output of {claimed[key]}",
                            "duplicate"))
        elif skip_existing and dst.exists():
            skipped.append((it, f"output {dst} exists (--skip-existing)", "exists"))
        else:
            claimed[key] = it.src
            jobs.append((it, dst))
    return jobs, skipped


def enhance_file(src, dst, model, direction="enhance", *, tiling=None, side_by_side=False,
                 progress=None, software=None, strip_metadata=False, quality=DEFAULT_QUALITY,
                 chroma="444", strength=1.0, shifts=DEFAULT_SHIFTS):
    """Read ``src``, run the network, write ``dst`` atomically, the input's way.

    Gray stays gray, RGBA keeps its alpha (not in JPEG: dropped, noted),
    16-bit stays 16-bit in PNG/TIFF (8-bit in JPEG/WebP). A photo with an ICC
    profile other than sRGB is enhanced in sRGB and written back in its profile,
    tagged with it (CMYK stays CMYK in JPEG/TIFF; as PNG/WebP it is written in
    sRGB). The EXIF (Orientation 1, a ``software`` tag), XMP and DPI are kept
    unless ``strip_metadata`` (which keeps only the ICC profile). ``quality`` and
    ``chroma`` are the JPEG settings. ``side_by_side`` writes input | output side
    by side. ``tiling``: a :class:`~jsymnet.tiling.TileOptions`; ``strength``:
    :mod:`jsymnet.strength`; ``shifts``: :mod:`jsymnet.shifts`. Returns a list of notes (strings).
    Raises :class:`~jsymnet.data.image_io.ImageReadError` for unreadable files.
    """
    dst = Path(dst)
    fmt = output_format(dst)           # an unwritable suffix fails before the network runs
    res = run_photo(src, model, direction, tiling=tiling, progress=progress, strength=strength,
                    shifts=shifts)
    notes = list(res.notes)
    cmyk = res.cmyk and fmt in CMYK_FORMATS
    if res.cmyk and not cmyk:
        notes.append(f"CMYK cannot be stored as {fmt}: written in sRGB (untagged)")
        out, before, icc = res.srgb_output, res.srgb_input, None
    else:
        out, before, icc = res.output, res.input, res.icc
    alpha = res.alpha
    if alpha is not None and fmt == "JPEG":
        notes.append("alpha dropped (JPEG has none; use --ext png)")
        alpha = None
    bits = res.bits if fmt in SIXTEEN_BIT_FORMATS else 8
    if res.bits == 16 and bits == 8:
        notes.append(f"written as 8-bit ({fmt}); use --ext png for 16-bit")
    result = assemble(out, alpha, False, np.float32)
    if side_by_side:
        result = np.concatenate([assemble(before, alpha, False, np.float32), result], axis=1)
    meta = res.meta.for_output((result.shape[1], result.shape[0]), software, upright=True,
                               strip=strip_metadata, icc=icc)
    notes += write_photo(dst, result, bits, meta, quality, chroma, cmyk=cmyk)
    return notes
