"""Inference, the one path: weights, the model cache, tiling, clipping; and :func:`enhance`.

Everything that runs a trained network on a picture goes through here:
``jsymnet.enhance``, ``tools/enhance.py``, the evaluation (``tools/test.py``),
the trainer's validation, ``tools/demo.py`` and ``tools/compare.py``.
:func:`load_weights` is the one weights resolver (a checkpoint path, the
shipped default, a loaded model, or ``"random"``), :func:`run_rgb` the one
inference path (the untiled forward, or the exact tiled one for large photos;
the output clipped to [0, 1] and checked for NaN).

``jsymnet.enhance(image)`` runs the network (docs/design.md#data-flow) on one picture without
ground truth:

* ``image`` may be a file path, a PIL image, or a NumPy array (uint8, uint16 or
  float in [0, 1]; H x W x 3 RGB, H x W gray, H x W x 4 RGBA).
* The result is the same kind as the input: a PIL image of the same mode, an
  array of the same dtype and layout. A **path** is read (EXIF orientation
  applied) and the result is returned as a float32 array in [0, 1] laid out
  like the file (H x W for gray files, H x W x 4 with the alpha unchanged for
  RGBA files, else H x W x 3); nothing is written. ``tools/enhance.py`` writes
  files.
* Grayscale is enhanced as three equal channels and turned back to one by
  its luma (BT.601); alpha is passed through untouched. The output has exactly
  the input's size (odd sizes included).
* Colour: a picture (path or PIL image) whose ICC profile is not sRGB is converted
  to sRGB for the network and the result back to its profile
  (:mod:`jsymnet.data.colour`); untagged pictures are taken as sRGB.
* Metadata: a PIL image comes back with the input's EXIF (plus a Software tag
  naming jsymnet and its model), XMP, DPI and ICC profile in its ``info``, so
  ``out.save(path, **out.info)`` keeps them; ``strip_metadata=True`` keeps only
  the ICC profile.
* ``direction="degrade"`` runs the network backwards (E -> IFT^-1 -> D,
  docs/design.md#data-flow): a well-exposed photo becomes a plausible underexposed one, e.g. to
  synthesise training inputs.
* Photos above ``max_megapixels`` (or any photo when ``tile`` is given) are
  processed tile by tile with :mod:`jsymnet.tiling`, whose result equals the
  untiled one to float32 rounding (the attention's global means are
  accumulated across tiles), with bounded memory.

``weights=None`` is the shipped default model ``weights/jsymnet_default.pkl``;
loaded models are cached per file, so repeated calls do not rebuild them.
"""
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import jittor as jt
import numpy as np

from .errors import JsymnetError
from .checkpoint import DEFAULT_WEIGHTS, default_weights, load_model
from .data.colour import profile_for
from .data.image_io import (ImageReadError, load_cmyk, load_image, rgb_of, rgb_to_gray, split_image,
                            to_uint16, to_uint8, unit_float)
from .data.metadata import PhotoMeta, exif_bytes, meta_of_pil, read_meta
from .models.dsn import DeepSymmetricNet
from .models.stages import EAGER
from .version import __version__
from .shifts import DEFAULT_SHIFTS, average as shift_average, check_shifts, \
    count_for as shift_count
from .resources import resolve_file
from .runtime import use_device
from .strength import apply_strength, check_strength
from .tiling import (DEFAULT_RAM_BUDGET_GB, DEFAULT_TILE, TileOptions,  # noqa: F401 (API)
                     auto_max_megapixels)
from .utils import malloc_tuning

DEFAULT_MAX_MEGAPIXELS = None  # None: auto_max_megapixels(model); larger photos are tiled
DIRECTIONS = ("enhance", "degrade")
RANDOM_WEIGHTS = "random"

_MODELS = {}


class EnhanceError(JsymnetError, ValueError):
    """Bad input to :func:`enhance` (the message says what to do)."""


class WeightsNotFoundError(EnhanceError, FileNotFoundError):
    """The weights named do not exist, or none were named and none ship with jsymnet."""


def resolve_weights(weights=None):
    """The checkpoint path to use: ``weights``, or the shipped default model."""
    if weights is None:
        default = default_weights()
        if default is None:
            raise WeightsNotFoundError(
                f"the default model {DEFAULT_WEIGHTS} is missing: reinstall jsymnet, or "
                f"train it with the recipe in configs/default/ (weights/MODEL_CARD.md) and "
                f"put the averaged checkpoint there, or pass weights=<a jsymnet checkpoint> "
                f"(--weights PATH on the command line; convert release .pth files with "
                f"tools/convert_weights.py; tools/test.py also takes --weights random for an "
                f"untrained smoke test)")
        return default
    path = resolve_file(weights)     # a path, or the name of a shipped file
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file not found: {weights}")
    return path


def get_model(weights=None):
    """A loaded model, cached by (resolved path, size, mtime); a model object passes through."""
    if isinstance(weights, DeepSymmetricNet):
        weights.eval()
        return weights
    path = resolve_weights(weights).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _MODELS:
        for old in [k for k in _MODELS if k[0] == key[0]]:
            del _MODELS[old]        # the file changed: drop the stale copy
        _MODELS[key] = load_model(path)
    return _MODELS[key]


def load_weights(weights=None, config=None):
    """(model, description): :func:`get_model`, or with ``"random"`` an untrained network
    built from ``config`` (smoke tests only; the description says so loudly)."""
    if isinstance(weights, str) and weights == RANDOM_WEIGHTS:
        from .models import build_model
        model = build_model(config)
        model.eval()
        return model, "RANDOM, UNTRAINED WEIGHTS (smoke test only; scores mean nothing)"
    if isinstance(weights, DeepSymmetricNet):
        return get_model(weights), "a model given in memory"
    path = resolve_weights(weights)
    return get_model(path), f"checkpoint {path}"


def software_tag(weights=None, direction="enhance"):
    """The EXIF Software value of jsymnet's outputs: jsymnet, its version and the model,
    e.g. ``jsymnet 0.1.0, model jsymnet_default.pkl``."""
    if isinstance(weights, DeepSymmetricNet):
        model = f"{weights.config.get('name', 'jsymnet')} (given in memory)"
    elif isinstance(weights, str) and weights == RANDOM_WEIGHTS:
        model = "random, untrained"
    else:
        try:
            model = resolve_weights(weights).name
        except WeightsNotFoundError:
            model = str(weights)
    return f"jsymnet {__version__}{' (degrade)' if direction == 'degrade' else ''}, " \
           f"model {model}"


def run_rgb(model, rgb, direction="enhance", tiling=None, progress=None, strength=1.0,
            shifts=DEFAULT_SHIFTS):
    """float32 H x W x 3 in [0, 1] -> the network's output, clipped to [0, 1].

    ``strength`` (:mod:`jsymnet.strength`): 0 returns the input (the network does not
    run), 1 the output, between them a linear-light blend. ``shifts``
    (:mod:`jsymnet.shifts`): the output is averaged over that many one-pixel shifts of
    the codec's block grid (1: the network alone; a codec without blocks always runs
    once). ``tiling``: a :class:`~jsymnet.tiling.TileOptions` (None: its defaults):
    each pass is tiled exactly when it says so (every photo with a ``tile``, else those
    above ``max_megapixels``); otherwise one pass over the whole image.
    ``progress(done, total)`` follows the tiled passes, all shifts together.
    """
    if direction not in DIRECTIONS:
        raise EnhanceError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    strength = check_strength(strength)
    count = shift_count(model.codec.size_divisor, shifts)
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise EnhanceError(f"expected an H x W x 3 image, got shape {rgb.shape}")
    if strength == 0.0:
        return apply_strength(rgb, rgb, 0.0)
    tiling = tiling or TileOptions()

    def one_pass(x, i):
        step = None if progress is None else \
            (lambda done, total: progress(i * total + done, count * total))
        return _forward(model, x, direction, tiling, step)
    out = shift_average(one_pass, rgb, count)
    bad = int(out.size - np.isfinite(out).sum())
    if bad:
        raise EnhanceError(f"the network produced {bad} non-finite values (NaN or Inf) on this "
                           f"image: its weights are broken (a diverged training run?); nothing "
                           f"was written")
    out = np.clip(out, 0.0, 1.0, out=out)
    if direction == "enhance" and getattr(model, "exposure", None) is not None:
        out = model.exposure.apply(rgb, out)       # the global exposure stage, whole photo
    return apply_strength(rgb, out, strength)


def _forward(model, rgb, direction, tiling, progress):
    """One pass of the network over ``rgb`` (H x W x 3 float32): tiled or whole."""
    tile = tiling.tile_for(model, *rgb.shape[:2])
    if tile:
        return tiling.runner(model, tile, progress).run(rgb, reverse=direction == "degrade")
    with jt.no_grad():   # block by block (EAGER), so one block's buffers live at a time
        x = jt.array(np.ascontiguousarray(rgb.transpose(2, 0, 1))[None])
        y = model.enhance(x, EAGER) if direction == "enhance" else model.degrade(x, EAGER)
        out = np.ascontiguousarray(y.numpy()[0].transpose(1, 2, 0), np.float32)
        del x, y
    jt.gc()
    malloc_tuning.release_free_memory()   # the forward's free memory goes back
    return out


@dataclass
class PhotoResult:
    """One photo file through the network (:func:`run_photo`), in the file's own terms.

    output, input: float32 in [0, 1] in the file's colour space and layout: H x W for
    gray, H x W x 3 for RGB, H x W x 4 ink for CMYK (``cmyk``); srgb_output,
    srgb_input: the network's own H x W x 3 sRGB view of them; alpha: H x W or None;
    bits: the file's depth (8 or 16); icc: the profile ``output`` is in (None: sRGB);
    meta: the file's :class:`~jsymnet.data.metadata.PhotoMeta`; notes: what to tell.
    """
    output: np.ndarray
    input: np.ndarray
    srgb_output: np.ndarray
    srgb_input: np.ndarray
    alpha: np.ndarray = None
    bits: int = 8
    cmyk: bool = False
    icc: bytes = None
    meta: PhotoMeta = field(default_factory=PhotoMeta)
    notes: list = field(default_factory=list)


def run_photo(path, model, direction="enhance", tiling=None, progress=None, strength=1.0,
              shifts=DEFAULT_SHIFTS):
    """Read a photo file (EXIF orientation applied), convert it from its ICC profile to
    sRGB when it has another one, run :func:`run_rgb` (``tiling``, ``progress``,
    ``strength``, ``shifts``: its own), convert the result back; returns a
    :class:`PhotoResult`. CMYK files with a CMYK profile stay CMYK; without one they are
    the decoder's RGB, taken as sRGB."""
    loaded = load_image(path)
    meta = read_meta(path)
    cmyk = meta.mode == "CMYK"
    profile, icc, notes = profile_for(meta.icc, 4 if cmyk else 1 if loaded.gray else 3)
    cmyk = cmyk and icc is not None
    if profile is not None:
        native = load_cmyk(path) if cmyk else \
            loaded.rgb[:, :, 0] if loaded.gray else loaded.rgb
        if not profile.precise(loaded.bits):
            notes.append(f"16-bit colours converted from {profile.name} at 8-bit precision "
                         f"(LittleCMS's library was not found for the 16-bit conversion)")
        srgb = profile.to_srgb(native, loaded.bits)
    else:
        native, srgb = (loaded.rgb[:, :, 0] if loaded.gray else loaded.rgb), loaded.rgb
    out = run_rgb(model, srgb, direction, tiling=tiling, progress=progress, strength=strength,
                  shifts=shifts)
    if profile is not None:
        native_out = profile.from_srgb(out, loaded.bits)
    else:
        native_out = rgb_to_gray(out) if loaded.gray else out
    return PhotoResult(native_out, native, out, srgb, loaded.alpha, loaded.bits, cmyk, icc,
                       meta, notes)


def pil_info(meta):
    """A PIL image's ``info`` entries for :class:`~jsymnet.data.metadata.PhotoMeta`
    ``meta``: what ``image.save(path, **image.info)`` writes (exif, xmp, dpi,
    icc_profile)."""
    info = {}
    if meta.exif:
        try:
            info["exif"] = b"Exif\x00\x00" + exif_bytes(meta.exif)
        except Exception as exc:  # a value Pillow cannot write back: the rest is kept
            warnings.warn(f"EXIF left out: it could not be rewritten ({exc})", RuntimeWarning,
                          stacklevel=3)
    for key, value in (("xmp", meta.xmp), ("dpi", meta.dpi), ("icc_profile", meta.icc)):
        if value:
            info[key] = value
    return info


def _split_array(arr):
    """(rgb float32, alpha as given or None, gray?, dtype) of an image array, by
    :mod:`jsymnet.data.image_io`'s conversion (:func:`~jsymnet.data.image_io.split_image`,
    :func:`~jsymnet.data.image_io.unit_float`)."""
    arr = np.asarray(arr)
    if arr.dtype not in (np.uint8, np.uint16) and not np.issubdtype(arr.dtype, np.floating):
        raise EnhanceError(f"unsupported pixel type {arr.dtype}: use uint8, uint16 or float "
                           f"in [0, 1]")
    try:
        colour, alpha, gray = split_image(arr, "image array")
        rgb = rgb_of(unit_float(colour, "image array"))
    except ImageReadError as exc:
        raise EnhanceError(str(exc)) from None
    if min(arr.shape[:2]) < 1:
        raise EnhanceError(f"empty image: shape {arr.shape}")
    return rgb, alpha, gray, arr.dtype


def _from_float(img, dtype):
    if dtype == np.uint8:        # the file writers' own rounding: an array and a file agree
        return to_uint8(img)
    if dtype == np.uint16:
        return to_uint16(img)
    return img.astype(dtype)


def assemble(out_rgb, alpha, gray, dtype):
    """The network's RGB output back in the input's layout and dtype."""
    out = rgb_to_gray(out_rgb) if gray else out_rgb
    out = _from_float(np.clip(out, 0.0, 1.0), dtype)
    if alpha is not None:
        alpha = np.asarray(alpha).astype(dtype, copy=False)
        out = np.concatenate([out if out.ndim == 3 else out[:, :, None], alpha[:, :, None]],
                             axis=2)
    return out


def _enhance_pil(image, software=None, strip_metadata=False, **kw):
    """A PIL image through the network; its metadata and ICC profile carried over."""
    from PIL import Image
    meta = meta_of_pil(image)
    gray = image.mode in ("L", "LA", "I", "F") or image.mode.startswith("I;16")
    cmyk = image.mode == "CMYK"
    profile, icc, notes = profile_for(meta.icc, 4 if cmyk else 1 if gray else 3)
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=3)
    if cmyk and icc is not None:      # stays CMYK, in its own profile
        out = Image.fromarray(_enhance_array(np.array(image), profile=profile, cmyk=True,
                                             **kw), "CMYK")
    else:
        out = _enhance_pil_pixels(image, profile, **kw)
    out.info.update(pil_info(meta.for_output(out.size, software, upright=False,
                                             strip=strip_metadata, icc=icc)))
    return out


def _enhance_pil_pixels(image, profile, **kw):
    from PIL import Image
    mode = image.mode
    if mode in ("RGB", "RGBA", "L", "LA", "I;16"):
        arr = np.array(image)
        out = _enhance_array(arr, profile=profile, **kw)
        return Image.fromarray(out, mode if mode != "I;16" else None)
    if mode == "I":                 # 32-bit integer gray: 16-bit files open as I
        arr = np.array(image)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise EnhanceError(f"mode I image with values in [{arr.min()}, {arr.max()}]: "
                               f"jsymnet reads integer pixels as 16-bit (0 to 65535); scale "
                               f"it into that range first")
        out = _enhance_array(arr.astype(np.uint16), profile=profile, **kw)
        return Image.fromarray(out.astype(np.int32), "I")
    if mode == "F":                 # 32-bit float gray, values in [0, 1]
        out = _enhance_array(np.array(image, dtype=np.float32), profile=profile, **kw)
        return Image.fromarray(out.astype(np.float32), "F")
    if mode.startswith("I;16"):     # other 16-bit byte orders: returned as I;16
        return _enhance_pil_pixels(image.convert("I;16"), profile, **kw)
    target = "RGBA" if mode in ("P", "PA") and ("transparency" in image.info or mode == "PA") \
        else "RGB"
    return _enhance_pil_pixels(image.convert(target), profile, **kw)


def _enhance_array(arr, profile=None, cmyk=False, **kw):
    """An image array through the network; with a :class:`~jsymnet.data.colour.Profile`,
    by way of sRGB (``cmyk``: ``arr`` is H x W x 4 uint8 ink in that profile)."""
    if cmyk:
        ink = np.asarray(arr, np.float32) / np.float32(255.0)
        out = profile.from_srgb(run_rgb(rgb=profile.to_srgb(ink, 8), **kw), 8)
        return _from_float(out, np.uint8)
    rgb, alpha, gray, dtype = _split_array(arr)
    if profile is None:
        return assemble(run_rgb(rgb=rgb, **kw), alpha, gray, dtype)
    bits = 8 if dtype == np.uint8 else 16
    if not profile.precise(bits):
        warnings.warn(f"colours converted from {profile.name} at 8-bit precision (LittleCMS's "
                      f"library was not found for the 16-bit conversion)", RuntimeWarning,
                      stacklevel=4)
    srgb = profile.to_srgb(rgb[:, :, 0] if gray else rgb, bits)
    return assemble(profile.from_srgb(run_rgb(rgb=srgb, **kw), bits), alpha, False, dtype)


def enhance(image, weights=None, device=None, tile=None, direction="enhance", *,
            tile_overlap=0, max_megapixels=DEFAULT_MAX_MEGAPIXELS,
            ram_budget_gb=DEFAULT_RAM_BUDGET_GB, progress=None, strip_metadata=False,
            strength=1.0, shifts=DEFAULT_SHIFTS):
    """Enhance (``direction="degrade"``: underexpose) one picture; same kind out as in.

    Args:
        image: a path (str or Path), a PIL image, or a NumPy array (uint8,
            uint16 or float in [0, 1]; H x W, H x W x 3 or H x W x 4).
        weights: a jsymnet checkpoint path, a loaded model, or None for the
            shipped default model (``weights/jsymnet_default.pkl``). Cached.
        device: "cpu", "cuda" or "auto" switches the backend first (for the
            whole process, :func:`jsymnet.use_device`); None keeps the current one.
        tile: interior tile side in pixels for exact tiled inference; None tiles
            only photos above ``max_megapixels`` (with :data:`DEFAULT_TILE`).
        max_megapixels: None picks it from the model's width
            (:func:`auto_max_megapixels`: 2 for the default model).
        tile_overlap: extra context per tile in pixels; the overlap the exact
            tiling needs is set from the architecture, this can only widen it.
        ram_budget_gb: above this, the tiling keeps its full-size maps in
            temporary memory-mapped files instead of RAM.
        progress: optional ``callable(done, total)`` called after each tiled stage.
        strip_metadata: a PIL image's result carries only the ICC profile (no EXIF,
            XMP or DPI), e.g. for sharing.
        strength: how much of the model's change to apply (:mod:`jsymnet.strength`):
            0 the input unchanged, 1 the model's output (default), up to 2.
        shifts: passes averaged over one-pixel shifts of the codec's block grid
            (:mod:`jsymnet.shifts`): 2 by default, 1 the network alone (half the time).

    Returns:
        path -> float32 array in [0, 1] laid out like the file (H x W gray,
        H x W x 4 with the file's alpha, or H x W x 3; H x W x 4 ink for a CMYK file
        with a CMYK profile) in the file's colour space; nothing is written.
        PIL image -> PIL image of the same mode (palette/CMYK/... -> RGB or RGBA;
        CMYK with a CMYK profile stays CMYK; I and F keep their full precision: I as
        16-bit values, F as floats in [0, 1]), with the input's metadata in ``info``.
        array -> array of the same dtype and layout (taken as sRGB).
    """
    if direction not in DIRECTIONS:
        raise EnhanceError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    strength = check_strength(strength)
    check_shifts(shifts)
    if device is not None:
        use_device(device)
    tiling = TileOptions(tile, tile_overlap, max_megapixels, ram_budget_gb)
    kw = dict(model=get_model(weights), direction=direction, tiling=tiling,
              progress=progress, strength=strength, shifts=shifts)
    if isinstance(image, (str, Path)):
        result = run_photo(image, **kw)
        for note in result.notes:
            warnings.warn(f"{image}: {note}", RuntimeWarning, stacklevel=2)
        return assemble(result.output, result.alpha, False, np.float32)
    if isinstance(image, np.ndarray):
        return _enhance_array(image, **kw)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return _enhance_pil(image, software=software_tag(weights, direction),
                            strip_metadata=strip_metadata, **kw)
    raise EnhanceError(f"cannot enhance a {type(image).__name__}: pass a file path, a PIL "
                       f"image or a NumPy array")
